"""A game day's own account of its faults, and its run folders: no two runs share one."""

from __future__ import annotations

import json

from gameday.chaos import ledger
from gameday.runner.gameday import GameDay
from gameday.runner.suite import load as load_suite
from gameday.targets.environment import load as load_environment


def test_two_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    suite, env = load_suite("smoke"), load_environment("sandbox-test")
    first = GameDay(suite, env, tmp_path, progress=lambda _m: None)
    second = GameDay(suite, env, tmp_path, progress=lambda _m: None)
    second.run_id = first.run_id  # the same second
    assert first.out is None and not any(tmp_path.iterdir())  # nothing is made before the lock is held
    first.make_run_folder()
    (first.out / "report.html").write_text("the first run's report")
    second.make_run_folder()
    assert second.out != first.out and second.run_id == f"{first.run_id}-2"
    assert (first.out / "report.html").read_text() == "the first run's report"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.run_id, second.run_id])


def _log(path, *entries):
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_a_fault_removed_under_the_run_is_named(tmp_path):
    log = tmp_path / "faults.jsonl"
    _log(log,
         {"event": "injected", "id": "a", "reason": "latency on web->db"},
         {"event": "undone", "id": "a", "already_gone": False},          # rolled back by the run: fine
         {"event": "injected", "id": "b", "reason": "latency on web->search"},
         {"event": "undone", "id": "b", "already_gone": True},           # someone removed the toxic by hand
         {"event": "injected", "id": "c", "reason": "blackhole on web->db"},  # someone ran the undo record
         {"event": "injected", "id": "d", "reason": "stopped search-3"})      # still pending: not removed
    removed = ledger.removed_under(log, [{"id": "d"}])
    assert [(r["id"], r["why"]) for r in removed] == [
        ("b", "it was already gone when the run undid it"),
        ("c", "its undo record was removed by another process")]


def test_no_account_no_removals(tmp_path):
    assert ledger.removed_under(tmp_path / "missing.jsonl", []) == []
