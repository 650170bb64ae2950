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


class User:
    pass


@pytest.fixture
def live():
    arrivals._live.clear()
    yield arrivals._live
    arrivals._live.clear()


def test_users_take_the_lowest_free_k_and_a_stopped_users_phase_goes_to_the_highest(live):
    users = [User() for _ in range(5)]
    assert [arrivals.take(u) for u in users] == [0, 1, 2, 3, 4]
    arrivals.stop(users[1])  # the user with k 4 moves to k 1, from its next send
    assert users[4]._gd_k == 1 and users[4]._gd_rephase and sorted(live) == [0, 1, 2, 3]
    arrivals.stop(users[3])  # the highest now is k 3 itself: nobody moves
    assert sorted(live) == [0, 1, 2] and not getattr(users[2], "_gd_rephase", False)
    assert arrivals.take(User()) == 3  # the lowest free k again
    arrivals.stop(User())  # a user that never took a phase: nothing happens
    assert sorted(live) == [0, 1, 2, 3]


def test_after_the_shape_lowers_the_count_the_phases_are_still_the_sequences_first(live):
    users = [User() for _ in range(120)]
    for u in users:
        arrivals.take(u)
    for u in users[::3] + users[1::3]:  # 80 stopped, in an order that is not the sequence's
        arrivals.stop(u)
    assert sorted(live) == list(range(40))  # the 40 left hold k 0..39: every second of 8 s gets 4..6
    counts = per_second(40, 8.0, arrivals._offset)
    assert min(counts) >= 1


def test_a_forked_worker_draws_its_own_offset_and_starts_with_no_user(live):
    import os

    arrivals.take(User())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what Locust's --processes workers are
        os.write(write, f"{arrivals._offset!r} {len(arrivals._live)}".encode())
        os._exit(0)
    os.close(write)
    child_offset, child_live = os.read(read, 200).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    assert float(child_offset) != arrivals._offset and child_live == "0"


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
    user = User()
    user._gd_next_send = 1000.0
    clock = iter([1001.25, 1012.0, 1026.0])
    monkeypatch.setattr(arrivals.time, "time", lambda: next(clock))
    wait = arrivals.on_grid(8.0)
    assert wait(user) == pytest.approx(6.75) and user._gd_next_send == 1008.0
    assert wait(user) == pytest.approx(4.0) and user._gd_next_send == 1016.0   # its request took 4 s
    assert wait(user) == 0.0 and user._gd_next_send == 1024.0    # one took 10 s: 2 s late, sends at once


def test_a_moved_user_and_a_clock_stepped_back_wait_for_the_users_own_phase(monkeypatch, live):
    user = User()
    arrivals.take(user)
    own = arrivals.phase(user._gd_k, 8.0, arrivals._offset)
    wait = arrivals.on_grid(8.0)
    user._gd_next_send, user._gd_rephase = 1000.0, True
    monkeypatch.setattr(arrivals.time, "time", lambda: 1001.0)
    assert 0 <= wait(user) < 8.0 and user._gd_next_send % 8.0 == pytest.approx(own) and not user._gd_rephase
    user._gd_next_send = 5000.0  # an hour ahead: the wall clock went back
    assert 0 <= wait(user) < 8.0 and user._gd_next_send % 8.0 == pytest.approx(own)
