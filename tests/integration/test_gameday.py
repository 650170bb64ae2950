"""`gameday run` end to end on the twin: every artifact, an interrupted run, load workers and a missed target."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml
from markupsafe import escape

from gameday.chaos import ledger
from gameday.chaos.lock import TargetLock
from gameday.deadline import wait_until
from gameday.load.model import TrafficModel
from gameday.sandbox.members import lb
from tests.support import search as search_api

ROOT = Path(__file__).resolve().parents[2]
ENV = "sandbox-test"


def gameday_run(suite: Path | str, reports: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """`gameday run` from the reports' parent with a relative --reports, as the README's command does."""
    return subprocess.run([sys.executable, "-m", "gameday", "run", "--suite", str(suite), "--env", ENV,
                           "--reports", reports.name, "--no-install", "--json"],
                          capture_output=True, text=True, timeout=timeout, cwd=reports.parent)


def one_run(reports: Path) -> Path:
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1
    return runs[0]


def fault_of(run: Path, scenario: str) -> dict:
    """The output of a scenario's fault action, from its experiment's journal (the ``chaos run`` child)."""
    journal = json.loads((run / "journals" / f"{scenario}.json").read_text())
    return journal["run"][0]["output"]


def restarts(client) -> dict[str, int]:
    return {m["name"]: m["restarts"] for m in client.status()["members"]}


def test_smoke_suite_writes_every_artifact(steady_twin, twin_client, tmp_path):
    """Also the catalog's check of kill-one-pod.yaml and kill-data-node.yaml (test_chaos leaves them to
    this run): each touched what it says (one web replica, restarted once; the search node with the
    most primaries)."""
    most_primaries = next(iter(search_api.admin(steady_twin).primaries_by_node("content")))
    before = restarts(twin_client)
    out = gameday_run("smoke", tmp_path / "reports")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["schema"] == "gameday.report/v1" and summary["verdict"] == "passed"
    assert [s["name"] for s in summary["scenarios"]] == ["web-one-pod", "search-data-node"]
    run = one_run(tmp_path / "reports")
    for name in ("report.html", "report.pdf", "summary.json", "junit.xml", "events.jsonl", "load/timeline.jsonl",
                 "journals/web-one-pod.json", "journals/search-data-node.json"):
        assert (run / name).is_file(), name
    assert (tmp_path / "reports" / "index.html").is_file()
    web, search = fault_of(run, "web-one-pod"), fault_of(run, "search-data-node")
    assert web["target"] == ENV and len(web["touched"]) == 1 and search["touched"] == [most_primaries]
    after = restarts(twin_client)
    restarted_web = {n for n in after if n.startswith("web-") and after[n] != before.get(n)}
    assert restarted_web == set(web["touched"]) and after[web["touched"][0]] == before[web["touched"][0]] + 1
    records = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    events = [r["event"] for r in records]
    assert events[:3] == ["preflight", "load.start", "load.full"] and events.count("fault") == 2 and events[-1] == "report"
    # the baseline ran at the suite's full rate: Locust started and its ramp was over before it
    full_at, first_scenario = records[2]["at"], next(r["at"] for r in records if r["event"] == "scenario.start")
    rows = [json.loads(line) for line in (run / "load" / "timeline.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("group") == "all" and r.get("target_rps")]
    peak = max(r["target_rps"] for r in rows)
    baseline = [r["target_rps"] for r in rows if full_at <= r["t"] < first_scenario]
    assert baseline and min(baseline) == pytest.approx(peak), (baseline, peak)
    # issue 17, C8: the load came in at the front door, through the CDN, at the edge's modelled rate (the
    # origin sees the share the CDN does not answer); the hit ratio is what its answers said (X-Cache)
    edge = summary["load"]["cdn"]
    assert edge["front_door"] == lb.front_door_url(steady_twin) == records[0]["front_door"], edge
    assert edge["origin"] == steady_twin.lb_url == records[0]["site"]
    assert peak == pytest.approx(TrafficModel.load().plan().edge_rps)
    assert edge["hits"] > 0 and 0 < edge["hit_ratio"] < 1 and edge["model_hit_ratio"] == 0.6, edge
    print(f"\n[figure] smoke game day through the CDN: hit ratio {edge['hit_ratio']} (model 0.6) over "
          f"{edge['requests']} requests at up to {peak:g} req/s")
    for s in summary["scenarios"]:
        assert {c["name"] for c in s["checks"]} >= {"RTO", "availability", "RPO (records lost)"} and s["series"]
        assert s["marks"]["fault"] is not None
        assert s["playbook"]["outcome"] in ("healthy", "restored") and s["playbook"]["steps"]
        rpo = next(c for c in s["checks"] if c["name"] == "RPO (records lost)")
        assert rpo["value"] == 0 and rpo["met"]
        assert {layer: r["acknowledged"] > 0 for layer, r in s["rpo"].items()} == {"kafka": True, "db": True,
                                                                                   "search": True}
    assert "playbook.end" in events and "canaries.verified" in events
    # live load state on the log (not a terminal): where the run is, the rate and the error ratio
    assert re.search(r"\[[a-z0-9 ·-]+\] load [\d.]+ req/s .*errors [\d.]+%", out.stderr), \
        out.stderr[-3000:]
    suite = ET.parse(run / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 6  # RTO, availability, RPO x 2
    assert steady_twin.db_password() not in "".join(p.read_text(errors="replace") for p in run.rglob("*")
                                                     if p.is_file() and p.suffix != ".pdf")
    # issue 15: each RTO split into phases, each layer's time to full redundancy measured after the fault
    html = (run / "report.html").read_text()
    assert 'id="traffic-cdn"' in html and "from its cache" in html
    assert html.count('class="chart phases"') == 2 and html.count("-redundancy\"") == 2
    # db: the replica caught up (the twin has one); a WordPress tier's relay backlog and object cache too
    watched = {"kafka", "search", "web", "db"} | ({"events", "cache"} if steady_twin.shape.wordpress else set())
    assert events.count("redundancy") == 2 * len(watched) and events.count("playbook.start") == 2
    for s in summary["scenarios"]:
        keys = [m["key"] for m in s["phases"]["milestones"]]
        assert keys == ["fault", "detected", "playbook_started", "serving_again", "redundancy_restored"], keys
        at = {m["key"]: m["after_fault_s"] for m in s["phases"]["milestones"]}
        assert at["playbook_started"] is not None and at["serving_again"] is not None, s["phases"]
        layers = s["full_redundancy"]["layers"]
        assert set(layers) == watched
        assert all(v["status"] in ("restored", "never-lost") for v in layers.values()), layers
        assert s["full_redundancy"]["after_fault_s"] == max(v["after_fault_s"] for v in layers.values()
                                                            if v["after_fault_s"] is not None), s["full_redundancy"]
    search = next(s for s in summary["scenarios"] if s["name"] == "search-data-node")["full_redundancy"]["layers"]
    assert search["search"]["status"] == "restored" and search["search"]["after_fault_s"] > 0, search
    # drill 6: the last database backup and search snapshot read in preflight, warned about, never failing the run
    backups = {b["layer"]: b for b in summary["preflight"]["backups"]}
    assert records[0]["backups"] == summary["preflight"]["backups"]  # the preflight event holds what was read
    # the site's database reached as every measurement reaches it: over TLS, the twin's certificate verified by name
    db_tls = records[0]["db_tls"]
    assert db_tls["mode"] == "verify-identity" and db_tls["version"].startswith("TLSv1.") and db_tls["cipher"], db_tls
    assert f"{db_tls['version']}, certificate verified (verify-identity)" in out.stderr
    # a WordPress twin's media backup too (gameday sandbox up --web wordpress: its uploads; none until one is taken)
    assert set(backups) - {"media"} == {"db", "search"} and backups["search"]["status"] in ("ok", "stale", "none"), backups
    assert backups.get("media", {"status": "none"})["status"] in ("ok", "stale", "none"), backups
    assert backups["db"]["status"] in ("ok", "stale", "none", "unknown"), backups
    said = " ".join(out.stderr.split())  # the progress output, its lines wrapped at 200 columns
    for warning in summary["preflight"]["warnings"]:
        assert " ".join(f"WARNING: {warning}".split()) in said and str(escape(warning)) in html


def test_interrupted_run_writes_a_partial_report_and_leaves_the_twin_healthy(steady_twin, twin_client, tmp_path):
    suite = yaml.safe_load((ROOT / "experiments" / "suites" / "smoke.yaml").read_text())
    suite["scenarios"] = [{"name": "db-cut", "experiment": "experiments/network/cut-web-to-db.yaml",
                           "layer": "network", "targets": {"rto_s": 60}}]
    suite.update(baseline_s=3, cooldown_s=2)  # the smoke suite's 8 s and 5 s prove nothing more here
    suite["load"]["ramp_s"] = 2
    path = tmp_path / "cut.yaml"
    path.write_text(yaml.safe_dump(suite))
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "gameday", "run", "--suite", str(path), "--env", ENV,
                             "--reports", str(reports), "--no-install"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    toxics = lambda: json.loads(subprocess.run(  # noqa: E731
        ["curl", "-s", f"{steady_twin.toxiproxy_api}/proxies"], capture_output=True, text=True).stdout)["db"]["toxics"]
    wait_until(lambda: toxics() or proc.poll() is not None, timeout=120, what="the fault to be injected")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-2000:]
    assert "interrupted" in err
    summary = json.loads((one_run(reports) / "summary.json").read_text())
    assert summary["verdict"] == "partial" and summary["interrupted"] is True
    assert toxics() == [] and ledger.pending(ENV) == [] and TargetLock(ENV).holder() is None
    assert all(m["ready"] for m in twin_client.status()["members"] if m["desired"] and m["kind"] == "service")


def test_a_game_day_with_load_workers_that_misses_a_target_fails_the_run_and_its_junit_case(steady_twin, twin_client,
                                                                                          tmp_path):
    """The in-cluster shape (deploy/: a runner pod and Locust worker pods), here with one worker
    process; its one scenario (the whole web tier down) cannot meet a 0.5 s RTO or 99.9% availability."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = yaml.safe_load((ROOT / "environments" / f"{ENV}.yaml").read_text())
    env["configuration"]["gameday_environment"]["load"] = {"workers": 1, "master_bind": f"127.0.0.1:{port}"}
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(env))
    suite = yaml.safe_load((ROOT / "experiments" / "suites" / "smoke.yaml").read_text())
    suite["scenarios"] = [{"name": "web-full-outage", "experiment": "experiments/web/full-outage.yaml",
                           "layer": "web", "targets": {"rto_s": 0.5, "min_availability": 0.999}}]
    suite.update(baseline_s=3, cooldown_s=2)
    suite["load"]["ramp_s"] = 2
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(suite))
    before = restarts(twin_client)
    worker = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"), "--worker",
         "--master-host", "127.0.0.1", "--master-port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, "GAMEDAY_PROFILE": ""})
    try:
        out = subprocess.run([sys.executable, "-m", "gameday", "run", "--suite", str(tmp_path / "strict.yaml"),
                              "--env", str(tmp_path / "env.yaml"), "--reports", "reports", "--no-install", "--json"],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
    finally:  # a worker outlives its master (deploy/'s worker pods wait for the next one): stop it
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    assert out.returncode == 1, out.stderr[-3000:]
    run = one_run(tmp_path / "reports")
    load = json.loads((run / "load" / "summary.json").read_text())
    assert load["mode"]["master"] is True and load["groups"]["all"]["requests"] > 0
    summary = json.loads(out.stdout)
    assert summary["verdict"] == "failed" and summary["action_items"]
    assert summary["scenarios"][0]["passed"] is False
    outage = fault_of(run, "web-full-outage")  # the catalog's check of full-outage.yaml (test_chaos leaves it here)
    after = restarts(twin_client)
    assert len(outage["touched"]) == 3 and all(after[n] == before[n] + 1 for n in outage["touched"]), (before, after)
    failed = [c.get("name") for c in ET.parse(run / "junit.xml").getroot() if c.find("failure") is not None]
    assert "availability" in failed
