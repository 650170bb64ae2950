"""Safety on the bad day, on the real twin (issue 13): runs that collide, undos that fail, runners killed.

- a run refused by the lock touches nothing of the live run (no undo, no folder), and a live run
  whose fault someone removed under it says so instead of passing;
- `gameday cleanup` touches nothing while a live run holds the target; it tries every pending undo,
  names each failure and exits 1 while any remain; it stops leftover game-day processes;
- a SIGKILLed `gameday run` leaves no Locust and no `chaos run` behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from gameday import children
from gameday.chaos import ledger
from gameday.chaos.lock import TargetLock
from gameday.deadline import wait_until
from gameday.targets.environment import load
from tests.support.experiments import held_fault

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))
ENV_NAME = "sandbox-test"
ENV_FILE = ROOT / "environments" / "sandbox-test.yaml"
GAMEDAY = [sys.executable, "-m", "gameday"]


def toxics(twin, dependency: str) -> list[str]:
    """Names of the toxics on the proxies of a dependency (``db``; ``search`` is search-1..3)."""
    proxies = requests.get(f"{twin.toxiproxy_api}/proxies", timeout=5).json()
    return sorted(t["name"] for name, p in proxies.items() if name.split("-")[0] == dependency for t in p["toxics"])


def latency_suite(tmp_path: Path) -> Path:
    """One scenario: 1.5 s latency web->search for about ten seconds (network/latency-web-to-search)."""
    suite = {"title": "one network fault", "load": {"profile": "peak", "ramp_s": 2}, "baseline_s": 3, "cooldown_s": 2,
             "slo": {"success_ratio": 0.9, "p95_ms": 3000, "window_s": 5},
             "scenarios": [{"name": "slow-search", "experiment": "experiments/network/latency-web-to-search.yaml",
                            "layer": "network", "targets": {"rto_s": 60, "min_availability": 0.5}}]}
    path = tmp_path / "one-fault.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def start_game_day(suite: Path, reports: Path, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([*GAMEDAY, "run", "--suite", str(suite), "--env", ENV_NAME, "--reports", str(reports),
                                 "--no-install", "--json"], stdout=subprocess.PIPE, stderr=out, text=True,
                                cwd=reports.parent)


def test_a_run_refused_by_the_lock_touches_nothing_of_the_run_that_holds_it(steady_twin, tmp_path):
    log = tmp_path / "holder.log"
    with open(log, "w") as out:
        holder = subprocess.Popen([CHAOS, "--no-log-file", "run", str(held_fault("network/latency-web-to-search.yaml", tmp_path)),
                                   "--rollback-strategy",
                                   "always", "--var-file", str(ENV_FILE)], cwd=tmp_path, stdout=out, stderr=out)
    refused_reports = tmp_path / "refused"
    try:
        wait_until(lambda: toxics(steady_twin, "search") or holder.poll() is not None, timeout=120,
                   what="the holder's latency toxic on web->search")
        assert toxics(steady_twin, "search"), log.read_text()[-3000:]
        # a game day against the same target while the fault is in place: refused, touching nothing
        refused = subprocess.run([*GAMEDAY, "run", "--suite", "smoke", "--env", ENV_NAME, "--reports",
                                  str(refused_reports), "--no-install"], capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and f"is locked by pid {holder.pid}" in refused.stderr, refused.stderr[-2000:]
        assert "undid" not in refused.stderr and "Traceback" not in refused.stderr
        assert toxics(steady_twin, "search") == ["gameday-latency"] * 3  # the holder's fault stands
        assert [r["undo"] for r in ledger.pending(ENV_NAME)] == ["remove_toxic"] * 3  # and so do its records
        assert not refused_reports.exists() or not any(refused_reports.iterdir())  # no folder, none deleted
        # `gameday cleanup` is refused too while the holder lives
        cleanup = subprocess.run([*GAMEDAY, "cleanup", "-e", ENV_NAME], capture_output=True, text=True, timeout=60)
        assert cleanup.returncode != 0 and "cleanup touched nothing" in cleanup.stderr, cleanup.stderr
        assert toxics(steady_twin, "search") == ["gameday-latency"] * 3
    finally:
        holder.send_signal(signal.SIGTERM)  # its rollbacks remove its own fault
        holder.wait(timeout=120)
    assert toxics(steady_twin, "search") == [] and ledger.pending(ENV_NAME) == []
    assert TargetLock(ENV_NAME).holder() is None


def test_a_game_day_whose_fault_is_removed_under_it_says_so_instead_of_passing(steady_twin, tmp_path):
    reports = tmp_path / "reports"
    live = start_game_day(latency_suite(tmp_path), reports, tmp_path / "live.log")
    try:
        wait_until(lambda: toxics(steady_twin, "search") or live.poll() is not None, timeout=120,
                   what="the game day's latency toxic on web->search", interval=0.05)
        assert toxics(steady_twin, "search"), (tmp_path / "live.log").read_text()[-3000:]
        for n in (1, 2, 3):  # someone removes the fault by hand, under the run
            requests.delete(f"{steady_twin.toxiproxy_api}/proxies/search-{n}/toxics/gameday-latency", timeout=5)
        out, _ = live.communicate(timeout=600)
    finally:
        if live.poll() is None:
            live.terminate()
            live.wait(timeout=120)
    summary = json.loads(out)
    (scenario,) = summary["scenarios"]
    assert summary["verdict"] == "failed" and live.returncode == 1
    assert "removed under this run" in scenario["error"] and "already gone" in scenario["error"], scenario["error"]
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "fault.removed_under_run" for e in events)
    assert ledger.pending(ENV_NAME) == [] and TargetLock(ENV_NAME).holder() is None


def test_a_killed_game_day_leaves_no_child_running_and_cleanup_repairs_the_rest(steady_twin, tmp_path):
    reports = tmp_path / "reports"
    runner = start_game_day(latency_suite(tmp_path), reports, tmp_path / "run.log")
    try:
        wait_until(lambda: toxics(steady_twin, "search") or runner.poll() is not None, timeout=120,
                   what="the latency toxic on web->search")
        assert toxics(steady_twin, "search"), (tmp_path / "run.log").read_text()[-3000:]
        mine = children.leftovers(ENV_NAME)
        names = " ".join(" ".join(p.cmdline()) for p in mine)
        assert "locust" in names and "chaos" in names, names  # the load generator and the experiment
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
    # the kernel tells both children their runner died: Locust stops, chaos run rolls back and exits
    wait_until(lambda: not children.leftovers(ENV_NAME), timeout=60, what="the killed run's children to exit")
    # a process marked as a game day's child that escaped anyway (its own session, no death signal)
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                             env=children.marked(dict(os.environ), ENV_NAME), start_new_session=True)
    try:
        out = subprocess.run([*GAMEDAY, "cleanup", "-e", ENV_NAME, "--json"], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert [p["pid"] for p in report["stopped_processes"]] == [stray.pid]
        assert report["stale_lock_removed"] and report["failed"] == []
        stray.wait(timeout=15)
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait(timeout=10)
    assert toxics(steady_twin, "search") == [] and ledger.pending(ENV_NAME) == []
    assert TargetLock(ENV_NAME).holder() is None


def test_cleanup_tries_every_record_and_names_each_one_it_could_not_undo(twin, twin_client):
    env = load(ENV_NAME)
    older = ledger.write(env, "clear_index_allocation", {"index": "content"}, reason="failed shards of content")
    newer = ledger.write(env, "remove_toxic", {"proxy": "db", "toxic": "gameday-latency"}, reason="latency on web->db")
    twin_client.stop("toxiproxy-1")
    try:
        out = subprocess.run([*GAMEDAY, "cleanup", "-e", ENV_NAME, "--json"], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 1, out.stderr
        report = json.loads(out.stdout)
        assert [u["id"] for u in report["undone"]] == [older]  # the record behind the failure was still tried
        (failed,) = report["failed"]
        assert failed["id"] == newer and failed["reason"] == "latency on web->db" and failed["error"]
        assert [r["id"] for r in ledger.pending(ENV_NAME)] == [newer]  # kept for the next try
        text = subprocess.run([*GAMEDAY, "cleanup", "-e", ENV_NAME], capture_output=True, text=True, timeout=120)
        assert text.returncode == 1 and "could NOT undo: latency on web->db" in text.stderr, text.stderr
        assert "Traceback" not in text.stderr
    finally:
        twin_client.start("toxiproxy-1")
        twin_client.wait_ready("toxiproxy-1", timeout=60)
    again = subprocess.run([*GAMEDAY, "cleanup", "-e", ENV_NAME, "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and [u["id"] for u in json.loads(again.stdout)["undone"]] == [newer], again.stderr
    assert ledger.pending(ENV_NAME) == []


def test_the_database_init_file_holding_the_password_is_readable_by_its_owner_only(twin):
    from gameday.sandbox.members import db
    path = db._init_sql(twin)
    info = path.stat()
    assert info.st_mode & 0o777 == 0o600 and path.owner() == "mysql"
    escaped = twin.db_password().replace("\\", "\\\\").replace("'", "''")
    assert f"IDENTIFIED BY '{escaped}'" in path.read_text()  # the file really holds the password
    db.prepare(twin)  # rewritten on every start: still never wider than 0600
    assert path.stat().st_mode & 0o777 == 0o600 and not list(path.parent.glob(f".{path.name}.*"))


def test_the_database_binary_log_never_holds_the_password(twin):
    """The init file's CREATE/ALTER USER run with sql_log_bin off: the binary log (kept for point-in-time
    restores, beside the backups) holds neither the statements nor the password, in any form."""
    import subprocess

    from gameday.sandbox.members import db
    logs = sorted(p for p in db.binlog_dir(twin).glob("binlog.[0-9]*"))
    assert logs, "the twin's database keeps a binary log"
    text = "".join(subprocess.run(["mariadb-binlog", "--no-defaults", "--verbose", str(p)],
                                  capture_output=True, text=True, timeout=60, check=True).stdout for p in logs)
    assert "IDENTIFIED BY" not in text.upper() and twin.db_password() not in text
