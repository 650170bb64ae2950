"""The recovery coverage map: the sandbox inventory against the twin's topology, coverage computed from
recorded game-day results, the JSON contract, the CLI, and each consistency error (exit 2, one line)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gameday.coverage import claims, consistency, inventory, knowledge, matrix, page, report_section
from gameday.coverage import sandbox as sandbox_inventory
from gameday.errors import UsageError
from gameday.report import render
from gameday.sandbox import topology
from gameday.sandbox.shape import Shape
from gameday.sandbox.twin import Twin
from tests.unit.test_report import T0, build, scenario

ROOT = inventory.ROOT
DAY = 86400


def gameday(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "200", **env})


def assert_clean_error(out: subprocess.CompletedProcess, *phrases: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.startswith("error: ")
    line = " ".join(out.stderr.split())  # one message (the terminal may wrap it)
    for phrase in phrases:
        assert phrase in line, out.stderr


# ---- the sandbox inventory is the twin's ---------------------------------------------------------

def test_platform_yaml_is_what_the_twin_generates():
    # the default twin as `sandbox up` makes it (the default web tier), whatever tier a local default twin runs now
    twin = dataclasses.replace(Twin.create("default", net=10), shape=Shape())
    expected = sandbox_inventory.render(sandbox_inventory.generate(twin, claims.scan(ROOT)))
    assert (ROOT / "platform.yaml").read_text() == expected, \
        "platform.yaml is out of date: run `gameday coverage inventory --sandbox --write`"


def test_sandbox_inventory_has_every_workload_member_and_address_of_the_topology():
    twin = Twin.create("coverage-test", net=31)
    topo = topology.build(twin)
    inv = inventory.parse(sandbox_inventory.generate(twin, claims.scan(ROOT)))
    realised = {c.id: c.realised_by for c in inv.components}
    harness = {h["workload"]: h for h in inv.harness}
    parts = {}  # workloads that realise part of another workload's component (the database's replica)
    for w in topo.workloads:
        if w.name in knowledge.PART_OF:
            parts.setdefault(knowledge.PART_OF[w.name], []).append(w)
    for w in topo.workloads:
        if w.name in knowledge.PART_OF:
            assert set(m.name for m in w.members[:w.replicas]) <= set(realised[knowledge.PART_OF[w.name]]["members"])
            continue
        wanted = [m.name for m in w.members[:w.replicas]] + [m.name for p in parts.get(w.name, []) for m in p.members[:p.replicas]]
        mine = [r for r in realised.values() if r["workload"] == w.name]
        if w.name in harness:
            assert harness[w.name]["members"] == wanted and not mine
            continue
        assert mine, f"workload {w.name} is neither a component nor harness"
        for r in mine:
            assert r["members"] == wanted and r["replicas"] == w.replicas and r["max_replicas"] == w.max_replicas
            assert all(e.startswith(f"127.31.{twin.address(w.layer).split('.')[2]}.") for e in r["endpoints"])
    # a combined KRaft pool is both brokers and controllers, on their own ports
    assert realised["kafka-brokers"]["endpoints"][0] == f"{twin.address('kafka', 1)}:9092"
    assert realised["kafka-controllers"]["endpoints"][0] == f"{twin.address('kafka', 1)}:9093"


def test_sandbox_dependencies_are_read_from_the_twin_through_toxiproxy():
    inv = inventory.parse(sandbox_inventory.generate(Twin.create("coverage-test", net=31), claims.scan(ROOT)))
    deps = {c.id: set(c.depends_on) for c in inv.components}
    assert deps == {
        "cdn": {"lb"},
        "lb": {"web"},
        "web": {"db", "search", "kafka-brokers"},  # configured with toxiproxy's addresses, which forward there
        "indexer": {"db", "search", "kafka-brokers"},
        "kafka-brokers": {"kafka-controllers"},
        "kafka-controllers": set(), "search": set(), "db": set(),
        "region": {"lb"},  # the global front reaches each region's load balancer
    }


def test_both_inventories_are_consistent_with_the_catalog():
    found = claims.scan(ROOT)
    assert {c.source for c in found if c.kind == "experiment"} == \
        {p.relative_to(ROOT).as_posix() for p in claims.experiment_files(ROOT)}  # every experiment says what it covers
    for name in (None, "gke-production"):
        inv = inventory.load(name)
        consistency.check(inv, found, ROOT)
    gke = inventory.load("gke-production")
    for wanted in ("dns", "cdn", "lb", "frontend", "web", "db", "kafka-brokers", "kafka-controllers", "search",
                   "indexer", "java-services", "nodes-general", "nodes-stateful"):
        component = gke.component(wanted)
        assert component is not None and component.failure_modes and all(m.signals for m in component.failure_modes)


# ---- coverage from recorded game days ------------------------------------------------------------

def record(reports: Path, run_id: str, days_ago: float, *scenarios, now: float, kind: str = "sandbox") -> dict:
    """A game day as the runner records it: report.html, summary.json (with its coverage section)."""
    report = build(*scenarios)
    report.update(run_id=run_id, started_at=now - days_ago * DAY, ended_at=now - days_ago * DAY + 300,
                  target={"name": "sandbox" if kind == "sandbox" else "gke-production", "kind": kind})
    for s in report["scenarios"]:
        s["fault_at"] = report["started_at"] + 10
    render.write(report, reports / run_id)
    return report


@pytest.fixture
def recorded(tmp_path):
    """Three game days: 60 days ago (full outage met), 10 days ago (one pod met, half the pods missed
    its RTO), 2 days ago (one pod met)."""
    now = T0 + 100 * DAY
    reports = tmp_path / "reports"
    record(reports, "run-old", 60, scenario("full-outage", rto_target=30, down_for=8), now=now)
    record(reports, "run-mid", 10, scenario("kill-one-pod", rto_target=30, down_for=3),
           scenario("kill-half-the-pods", rto_target=5, down_for=20), now=now)
    record(reports, "run-new", 2, scenario("kill-one-pod", rto_target=30, down_for=4), now=now)
    return reports, now


def cells_of(data: dict) -> dict[str, dict]:
    return {f"{c['component']}/{c['failure_mode']}": c for c in data["cells"]}


def test_coverage_from_recorded_game_days(recorded):
    reports, now = recorded
    data = matrix.build(inventory.load(None), claims.scan(ROOT), reports, stale_days=30, now=now)
    cells = cells_of(data)
    one = cells["web/one-replica-lost"]
    assert one["status"] == "ok" and one["times_exercised"] == 2
    assert one["last"]["run_id"] == "run-new" and one["last"]["age_days"] == pytest.approx(2.0, abs=0.01)
    assert one["last"]["rto_s"] == pytest.approx(4.3) and one["last"]["rto_target_s"] == 30
    assert one["last"]["rpo_records"] == 0 and one["last"]["report"] == "run-new/report.html"
    assert cells["web/half-replicas-lost"]["status"] == "failed"
    assert cells["web/half-replicas-lost"]["last"]["passed"] is False
    assert cells["web/all-replicas-lost"]["status"] == "stale"  # met, 60 days ago
    assert cells["kafka-brokers/below-min-isr"]["status"] == "untested"  # an experiment, never run
    assert cells["db/data-loss"]["status"] == "untested"  # an experiment (the backup drill), never run
    assert all(c["status"] == "no-experiment" for c in cells.values() if not c["has_experiment"])
    for cell in ("kafka-controllers/quorum-lost", "kafka-brokers/disk-full"):  # the last two cells filled (issue 15)
        assert cells[cell]["status"] == "untested" and cells[cell]["has_experiment"] and cells[cell]["has_playbook"]
    assert data["totals"]["no-experiment"] == 0  # every failure mode of the twin has an experiment
    assert cells["lb/process-lost"]["status"] == "untested" and cells["lb/process-lost"]["has_playbook"]
    assert {"component": "lb", "members": ["lb-1"]} in data["single_points_of_failure"]  # one HAProxy, no standby
    assert next(c for c in data["components"] if c["id"] == "lb")["single_instance"] is True
    assert next(c for c in data["components"] if c["id"] == "web")["single_instance"] is False
    t = data["totals"]
    assert (t["ok"], t["failed"], t["stale"]) == (1, 1, 1) and t["cells"] == len(cells)
    assert t["untested"] + t["no-experiment"] == t["cells"] - 3
    assert [p["exercised_cells"] for p in data["trend"]] == [1, 3, 3]  # coverage growing over the runs
    web = next(c for c in data["components"] if c["id"] == "web")
    assert web["status"] == "failed" and web["ok"] == 1 and web["counts"]["stale"] == 1
    # a longer stale window turns the old run into proof
    assert cells_of(matrix.build(inventory.load(None), claims.scan(ROOT), reports, stale_days=90, now=now))[
        "web/all-replicas-lost"]["status"] == "ok"


def test_sandbox_game_days_prove_nothing_about_production(recorded):
    reports, now = recorded
    gke = matrix.build(inventory.load("gke-production"), claims.scan(ROOT), reports, now=now)
    assert gke["runs_counted"] == 0 and gke["runs_skipped"] == 3 and gke["totals"]["ok"] == 0
    staging = record(reports, "staging-run", 1, scenario("kill-one-pod", rto_target=30, down_for=3), now=now,
                     kind="kubernetes")
    staging["target"]["name"] = "gke-staging"
    (reports / "staging-run" / "summary.json").write_text(json.dumps(staging))
    gke = matrix.build(inventory.load("gke-production"), claims.scan(ROOT), reports, now=now)
    assert gke["runs_counted"] == 0 and gke["runs_skipped"] == 4
    record(reports, "gke-run", 1, scenario("kill-one-pod", rto_target=30, down_for=3), now=now, kind="kubernetes")
    gke = matrix.build(inventory.load("gke-production"), claims.scan(ROOT), reports, now=now)
    assert cells_of(gke)["web/one-replica-lost"]["last"]["run_id"] == "gke-run" and gke["runs_counted"] == 1


def test_json_contract_is_pinned(recorded):
    reports, now = recorded
    data = matrix.build(inventory.load(None), claims.scan(ROOT), reports, now=now)
    assert data["schema"] == "gameday.coverage/v1"
    assert set(data) == {"schema", "generated_at", "stale_days", "inventory", "reports_dir", "runs_counted",
                         "runs_skipped", "totals", "components", "cells", "trend", "single_points_of_failure",
                         "zones", "regions"}
    assert set(data["cells"][0]) == {"component", "failure_mode", "title", "signals", "experiments", "playbooks",
                                     "has_experiment", "has_playbook", "status", "last", "times_exercised"}
    last = cells_of(data)["web/one-replica-lost"]["last"]
    assert set(last) == {"run_id", "report", "target", "suite", "scenario", "at", "age_days", "passed", "status",
                         "rto_s", "rto_target_s", "rpo_records", "rpo_target_records", "playbook_outcome"}
    assert set(data["totals"]) == {"cells", *matrix.STATUSES, "with_experiment", "with_playbook", "proven_ratio"}
    json.dumps(data)


def test_each_report_carries_its_coverage_section_and_the_index_links_the_page(recorded):
    reports, now = recorded
    summary = json.loads((reports / "run-mid" / "summary.json").read_text())
    cov = summary["coverage"]
    assert cov["exercised"] == {"kill-one-pod": ["web/one-replica-lost"],
                                "kill-half-the-pods": ["web/half-replicas-lost"]}
    assert cov["platform"] == "sandbox" and cov["inventory"] == "platform.yaml" and cov["page"] == "../coverage.html"
    assert "web/half-replicas-lost" in cov["not_proven"] and "web/one-replica-lost" not in cov["not_proven"]
    html = (reports / "run-mid" / "report.html").read_text()
    assert 'id="coverage"' in html and 'href="../coverage.html"' in html and "web/half-replicas-lost" in html
    index = render.write_index(reports).read_text()
    assert 'href="coverage.html"' in index and (reports / "coverage.html").is_file()
    modes = sum(len(c["failure_modes"]) for c in yaml.safe_load((ROOT / "platform.yaml").read_text())["components"])
    assert f"3 of {modes}" in index  # failure modes exercised so far, per run
    assert not (reports / "coverage-gke-production.html").exists()  # no production game day yet


def test_a_broken_inventory_does_not_stop_a_report_from_being_written(tmp_path, monkeypatch):
    monkeypatch.setattr(inventory, "SANDBOX_INVENTORY", tmp_path / "missing.yaml")
    paths = render.write(build(scenario("kill-one-pod", rto_target=30, down_for=3)), tmp_path / "run")
    summary = json.loads(paths["json"].read_text())
    assert "no inventory file" in summary["coverage"]["error"]
    assert "Coverage could not be worked out" in paths["html"].read_text()


def test_page_is_self_contained_with_the_diagram_and_relative_report_links(recorded, tmp_path):
    reports, now = recorded
    data = matrix.build(inventory.load(None), claims.scan(ROOT), reports, now=now)
    text = page.write(data, tmp_path / "elsewhere" / "coverage.html").read_text()
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert text.count('id="dependency-diagram"') == 1 and text.count('<g class="node') == len(data["components"])
    assert 'href="../reports/run-new/report.html"' in text
    assert text.count('data-cell="') == data["totals"]["cells"]


def test_cli_table_json_and_html(recorded, tmp_path):
    reports, _ = recorded
    out = gameday("coverage", "--reports", str(reports))
    assert out.returncode == 0, out.stderr
    for phrase in ("one-replica-lost", "never tested", "failed", "stale", "ways the platform can fail", "Losing one zone",
                   "region-lost", "Two regions: r1 (default, 127.10.0.0/16) and r2 (default-r2, 127.11.0.0/16)"):
        assert phrase in out.stdout
    out = gameday("coverage", "--reports", str(reports), "--json", "--stale-days", "90",
                  "--html", str(tmp_path / "c.html"))
    data = json.loads(out.stdout)
    assert data["schema"] == "gameday.coverage/v1" and data["stale_days"] == 90
    assert cells_of(data)["web/all-replicas-lost"]["status"] == "ok" and (tmp_path / "c.html").is_file()
    # the default twin as `sandbox up` first makes it (a state directory of its own: a local default twin may run
    # another web tier now, and its inventory says so)
    out = gameday("coverage", "inventory", "--sandbox", "--net", "10", GAMEDAY_STATE_DIR=str(tmp_path / "state"))
    assert out.returncode == 0 and out.stdout == (ROOT / "platform.yaml").read_text(), out.stderr
    out = gameday("coverage", "check", "--inventory", "gke-production")
    assert out.returncode == 0 and "14 components" in out.stdout  # the region (issue 16) the 14th


# ---- consistency errors ------------------------------------------------------------------------

def edited_inventory(tmp_path: Path, edit) -> Path:
    """A copy of platform.yaml after ``edit(data)``."""
    data = yaml.safe_load((ROOT / "platform.yaml").read_text())
    edit(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def component(data: dict, cid: str) -> dict:
    return next(c for c in data["components"] if c["id"] == cid)


def test_error_experiment_names_a_component_missing_from_the_inventory(tmp_path):
    def drop_search(data):
        data["components"] = [c for c in data["components"] if c["id"] != "search"]
        for c in data["components"]:
            c["depends_on"] = [d for d in c["depends_on"] if d != "search"]
    path = edited_inventory(tmp_path, drop_search)
    assert_clean_error(gameday("coverage", "--inventory", str(path)),
                       "edited.yaml has no component 'search' (named by experiments/network/latency-web-to-search.yaml, "
                       "experiments/search/fail-shards.yaml, experiments/search/kill-data-node.yaml, "
                       "experiments/search/lose-cluster.yaml, experiments/search/lose-index.yaml, "
                       "experiments/zone/lose-zone.yaml, recovery_playbooks/search.py)",
                       "-> components: db, kafka-brokers")


def test_error_experiment_names_a_failure_mode_missing_from_the_inventory(tmp_path):
    def drop_mode(data):
        web = component(data, "web")
        web["failure_modes"] = [m for m in web["failure_modes"] if m["id"] != "half-replicas-lost"]
    out = gameday("coverage", "check", "--inventory", str(edited_inventory(tmp_path, drop_mode)))
    assert_clean_error(out, "component 'web' in edited.yaml has no failure mode 'half-replicas-lost' (named by "
                       "experiments/web/kill-half-the-pods.yaml, recovery_playbooks/web.py)",
                       "failure modes of web: one-replica-lost, all-replicas-lost, replica-not-ready")


def test_error_playbook_names_a_component_missing_from_the_inventory(tmp_path):
    def drop_lb(data):
        data["components"] = [c for c in data["components"] if c["id"] != "lb"]
        for c in data["components"]:  # the region's front depends on it: that would be the first error
            c["depends_on"] = [d for d in c["depends_on"] if d != "lb"]
    assert_clean_error(gameday("coverage", "--json", "--inventory", str(edited_inventory(tmp_path, drop_lb))),
                       "edited.yaml has no component 'lb' (named by experiments/lb/kill-load-balancer.yaml, "
                       "recovery_playbooks/web.py)")


def test_error_inventory_links_a_file_that_does_not_exist(tmp_path):
    def bad_link(data):
        component(data, "db")["failure_modes"][0]["experiments"].append("experiments/db/kill-the-database.yaml")
        component(data, "db")["failure_modes"][0]["playbooks"] = ["recovery_playbooks/database.py"]
    out = gameday("coverage", "--inventory", str(edited_inventory(tmp_path, bad_link)))
    assert_clean_error(out, "2 coverage problems",
                       "db/primary-lost links experiment experiments/db/kill-the-database.yaml, which does not exist",
                       "links playbook recovery_playbooks/database.py, which does not exist")


def test_error_malformed_claims_and_inventories(tmp_path):
    (tmp_path / "experiments" / "web").mkdir(parents=True)
    (tmp_path / "experiments" / "web" / "x.yaml").write_text(
        "title: x\nextensions:\n  - name: gameday-coverage\n    covers: [web-one-replica-lost]\n")
    with pytest.raises(UsageError, match="is not <component>/<failure mode>"):
        claims.scan(tmp_path)
    (tmp_path / "experiments" / "web" / "x.yaml").unlink()
    (tmp_path / "recovery_playbooks").mkdir()
    (tmp_path / "recovery_playbooks" / "p.py").write_text("COVERS = tuple(['web/x'])\n")
    with pytest.raises(UsageError, match="COVERS must be a literal"):
        claims.scan(tmp_path)
    with pytest.raises(UsageError, match="unknown key 'failure_mdoes'.*did you mean 'failure_modes'"):
        inventory.parse({"schema": inventory.SCHEMA, "platform": "x",
                         "components": [{"id": "a", "name": "A", "kind": "k", "failure_mdoes": []}]})
    with pytest.raises(UsageError, match="depends on 'b', which is not in the inventory"):
        inventory.parse({"schema": inventory.SCHEMA, "platform": "x",
                         "components": [{"id": "a", "name": "A", "kind": "k", "depends_on": ["b"]}]})
    assert_clean_error(gameday("coverage", "--inventory", "no-such-platform"), "no inventory file",
                       "inventory/gke-production.yaml")


def test_report_section_uses_the_targets_inventory():
    assert report_section.inventory_for({"name": "sandbox-test", "kind": "sandbox"}).platform == "sandbox"
    assert report_section.inventory_for({"name": "gke-production", "kind": "kubernetes"}).platform == "gke-production"
