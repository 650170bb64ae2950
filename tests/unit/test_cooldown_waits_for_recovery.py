"""The cool-down ends when the load's timeline shows the site back for the SLO's window, not at a
fixed time: a cool-down exactly as long as the window read "RTO never" for a database back as the
playbook ended (CI, the in-cluster game day), because the recorder's last seconds were not yet written.

The timeline is a real file, grown by a thread the way Locust's recorder grows it; the runner reads it
with its own code (ScenarioRunner.site_recovered, the judge's gameday.measure.recovery.measure) and the
redundancy watch waits on it with a real search node's health behind it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from gameday.load.timeline import SCHEMA, make_row
from gameday.measure.recovery import Slo
from gameday.runner.redundancy import Watch
from gameday.runner.scenario import ScenarioRunner, Throttled

from .test_redundancy_watch import Health, SearchOnly

SLO = Slo(min_success_ratio=0.99, max_p95_ms=1000, window_s=3)


def runner(path: Path | None) -> ScenarioRunner:
    return ScenarioRunner(env=None, site_url="http://127.0.0.1:9", suite=SimpleNamespace(slo=SLO), out=Path("."),
                          run_id="test", run_log=Path("faults.jsonl"), events=None, undo=None, progress=print,
                          on_phase=lambda *_: None, timeline=lambda: path)


def write(path: Path, t0: int, seconds: range, *, failed: bool) -> None:
    with path.open("a") as f:
        for t in seconds:
            hist, fails, codes = ({12: 10}, 10, {"503": 10}) if failed else ({12: 10}, 0, {"200": 10})
            f.write(json.dumps(make_row(t0 + t, "all", hist, fails, codes).as_dict()) + "\n")


def test_the_site_is_recovered_once_the_timeline_holds_the_window_after_the_fault(tmp_path):
    path = tmp_path / "timeline.jsonl"
    path.write_text(json.dumps({"schema": SCHEMA}) + "\n")
    t0 = int(time.time()) - 100
    write(path, t0, range(0, 5), failed=False)
    write(path, t0, range(5, 9), failed=True)  # the fault at t0 + 5
    r = runner(path)
    assert not r.site_recovered(t0 + 5)
    write(path, t0, range(9, 11), failed=False)  # two good seconds of three
    assert not r.site_recovered(t0 + 5)
    write(path, t0, range(11, 12), failed=False)
    assert r.site_recovered(t0 + 5)


def test_without_a_load_timeline_there_is_nothing_to_wait_for(tmp_path):
    assert runner(None).site_recovered(time.time())
    assert runner(tmp_path / "not-written-yet.jsonl").site_recovered(time.time())


def test_the_watch_waits_past_the_cool_down_until_the_timeline_shows_the_site_back(tmp_path):
    path = tmp_path / "timeline.jsonl"
    path.write_text(json.dumps({"schema": SCHEMA}) + "\n")
    t0 = int(time.time()) - 100
    write(path, t0, range(0, 8), failed=True)
    r, health = runner(path), Health()
    try:
        w = Watch(None, layers=("search",), interval_s=0.1, make_target=lambda _env: SearchOnly(health.url)).start()
        recorder = threading.Timer(1.5, lambda: write(path, t0, range(8, 11), failed=False))
        recorder.start()
        started = time.monotonic()
        waited = w.wait(min_s=0.2, max_s=10, until=Throttled(lambda: r.site_recovered(t0 + 2), every_s=0.2))
        recorder.join()
        assert 1.5 <= waited < 5 and time.monotonic() - started < 5  # past the cool-down, not to max_s
        # a site that never comes back: the wait is bounded by max_s
        started = time.monotonic()
        w.wait(min_s=0.1, max_s=1.0, until=lambda: False)
        assert 0.9 <= time.monotonic() - started < 3
        w.stop(None)
    finally:
        health.close()


def test_a_throttled_check_is_asked_at_most_once_per_interval():
    asked = []
    check = Throttled(lambda: asked.append(1) or len(asked) > 1, every_s=0.3)
    assert check() is False and check() is False and len(asked) == 1
    time.sleep(0.35)
    assert check() is True and len(asked) == 2
