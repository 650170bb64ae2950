"""loadtests/arrivals.py: users' send instants spread evenly over the pacing interval and kept on a grid."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))
import arrivals  # noqa: E402


def per_second(users: int, pacing_s: float, offset: float) -> list[int]:
    counts = [0] * int(pacing_s)
    for k in range(users):
        counts[int(arrivals.phase(k, pacing_s, offset))] += 1
    return counts


@pytest.mark.parametrize("pacing_s", [4.0, 8.0, 10.0])
@pytest.mark.parametrize("offset", [0.0, 0.3, 0.77, 0.999])
def test_every_second_of_the_interval_gets_about_its_even_share_whatever_the_user_count(pacing_s, offset):
    # the smoke rate (5 req/s x pacing 8 = 40 users) with random phases leaves a second empty in about
    # one run of 27, for the whole run; here no second is empty from 2 users per second of pacing on
    for users in range(int(2 * pacing_s), 600):
        counts = per_second(users, pacing_s, offset)
        share = users / pacing_s
        assert min(counts) >= 1 and max(abs(c - share) for c in counts) <= 2.5, (users, counts)


def test_phases_lie_in_the_interval_and_users_in_a_row_send_apart():
    phases = [arrivals.phase(k, 8.0, 0.5) for k in range(100)]
    assert all(0 <= p < 8.0 for p in phases)
    assert min(abs(a - b) for a, b in zip(phases, phases[1:], strict=False)) > 2.0  # consecutive users: far apart


def test_a_process_hands_each_user_the_next_phase_of_its_sequence():
    first, second = arrivals.next_phase(8.0), arrivals.next_phase(8.0)
    assert first != second and 0 <= first < 8.0 and 0 <= second < 8.0
    # consecutive users are a golden-ratio step apart
    assert ((second - first) / 8.0) % 1.0 == pytest.approx(arrivals.INV_GOLDEN)


def test_the_first_send_waits_for_the_users_phase_on_the_wall_clock():
    assert arrivals.delay_until(3.0, 8.0, now=1000.5) == pytest.approx(2.5)   # 1000.5 % 8 = 0.5
    assert arrivals.delay_until(3.0, 8.0, now=1003.0) == 0.0
    assert arrivals.delay_until(0.5, 8.0, now=1001.0) == pytest.approx(7.5)   # 1001 % 8 = 1: the next interval's


def test_sends_stay_on_the_grid_and_a_late_user_catches_up_by_one_request_at_most():
    assert arrivals.next_send(100.0, 8.0, now=101.0) == 108.0     # on time: the next grid point
    assert arrivals.next_send(100.0, 8.0, now=110.0) == 108.0     # late by 2 s: at once, still on the grid
    late = arrivals.next_send(100.0, 8.0, now=125.0)               # 2 intervals behind: skips to its phase
    assert 125.0 <= late < 133.0 and late % 8.0 == pytest.approx(100.0 % 8.0)


def test_the_wait_time_counts_down_to_the_users_next_grid_point(monkeypatch):
    class User:
        _gd_next_send = 1000.0

    clock = iter([1001.25, 1012.0, 1026.0])
    monkeypatch.setattr(arrivals.time, "time", lambda: next(clock))
    wait = arrivals.on_grid(8.0)
    user = User()
    assert wait(user) == pytest.approx(6.75) and user._gd_next_send == 1008.0
    assert wait(user) == pytest.approx(4.0) and user._gd_next_send == 1016.0   # its request took 4 s
    assert wait(user) == 0.0 and user._gd_next_send == 1024.0    # one took 10 s: 2 s late, sends at once
