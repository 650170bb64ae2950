"""RTO and time to detect read from a timeline, finer than a second where the timeline allows."""

from __future__ import annotations

import json

import pytest

from gameday.load.timeline import Timeline, make_row
from gameday.measure.recovery import Slo, measure

T0 = 1_800_000_000
SLO = Slo(min_success_ratio=0.99, max_p95_ms=1000, window_s=5)  # passed in: measure has no default SLO
GOOD = ({12: 20}, 0, {"200": 20})


def row(t: int, ok: int, failed: int, *, first: float | None = None, last: float | None = None, ms: int = 12):
    hist = {ms: ok + failed} if ok + failed else {}
    return make_row(t, "all", hist, failed, {"200": ok, "503": failed},
                    first_fail_at=None if first is None else T0 + first, last_fail_at=None if last is None else T0 + last)


def timeline(special: dict[int, object], length: int = 40) -> Timeline:
    rows = [special.get(i) or make_row(T0 + i, "all", *GOOD) for i in range(length)]
    return Timeline({}, rows)


def test_detection_and_recovery_come_from_the_failed_requests_send_instants():
    tl = timeline({10: row(T0 + 10, 8, 12, first=10.4, last=10.95),
                   **{i: row(T0 + i, 0, 20, first=i + 0.02, last=i + 0.97) for i in range(11, 18)},
                   18: row(T0 + 18, 14, 6, first=18.01, last=18.3)})
    rec = measure(tl, t_fault=T0 + 10.35, slo=SLO)
    assert rec.first_failed_second == T0 + 10
    assert rec.ttd_s == pytest.approx(0.05)
    assert rec.recovered_at == pytest.approx(T0 + 18.3)
    assert rec.rto_s == pytest.approx(7.95)


def test_a_second_failed_on_latency_is_not_refined():
    slow = row(T0 + 18, 19, 1, first=18.1, last=18.1, ms=3000)  # p95 3 s: failing on latency too
    tl = timeline({**{i: row(T0 + i, 0, 20, first=i + 0.02, last=i + 0.97) for i in range(10, 18)}, 18: slow})
    rec = measure(tl, t_fault=T0 + 9.9, slo=SLO)
    assert rec.recovered_at == T0 + 19
    assert rec.rto_s == pytest.approx(9.1)


def test_timelines_without_send_instants_fall_back_to_whole_seconds():
    tl = timeline({i: make_row(T0 + i, "all", {2000: 10}, 10, {"503": 10}) for i in range(10, 18)})
    rec = measure(tl, t_fault=T0 + 9.7, slo=SLO)
    assert (rec.ttd_s, rec.recovered_at, rec.rto_s) == (pytest.approx(0.3), T0 + 18, pytest.approx(8.3))


def test_a_row_round_trips_its_send_instants_through_the_file(tmp_path):
    path = tmp_path / "timeline.jsonl"
    r = row(T0 + 3, 5, 5, first=3.25, last=3.75)
    path.write_text(json.dumps({"schema": "gameday.load.timeline/v1"}) + "\n" + json.dumps(r.as_dict()) + "\n")
    loaded = Timeline.load(path).row(T0 + 3)
    assert (loaded.first_fail_at, loaded.last_fail_at) == (T0 + 3.25, T0 + 3.75)
    assert "first_fail_at" not in make_row(T0, "all", *GOOD).as_dict()


def test_a_site_never_back_for_the_window_has_no_rto_and_says_its_longest_good_run():
    bad = {i: row(T0 + i, 0, 20, first=i + 0.02, last=i + 0.97) for i in (10, 14, 19, 22)}
    rec = measure(timeline(bad, length=26), t_fault=T0 + 10, slo=SLO)  # good runs of 3, 4, 2 and 3 s: none of 5
    assert rec.rto_s is None and rec.recovered_at is None
    assert rec.longest_good_s == 4
    assert measure(timeline({}, length=20), t_fault=T0 + 3, slo=SLO).longest_good_s == 17  # never failed: all of it
