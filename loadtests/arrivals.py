"""When each user of the open model sends: phases spread evenly over the pacing interval, kept on a grid.

Every user sends one request per ``pacing_s`` (``shapes.py``: users = rate x pacing), so the rate in
any one second is the number of users whose *phase* (send instant modulo ``pacing_s``) falls in it.
Random phases leave some seconds short: 40 users at 5 req/s with ``pacing_s`` 8 leave a given second
with no request at all one time in 200, and that second stays empty every 8 s of the run (the judge
counts a second with no request as not meeting the SLO, so an RTO window of 10 s could never close:
kube/test_cronjob, make test, December 2026). Here the k-th user of a process takes the phase
``(offset + k / golden ratio) mod 1`` of the interval (a Weyl sequence: whatever the user count, the
phases split the interval into gaps of at most three lengths, none much longer than the even share),
reckoned on the wall clock, so users spawned together still send apart; each keeps its phase
(:func:`on_grid`, not Locust's ``constant_pacing``, whose schedule drifts by each wake-up's lag). The
phases in use stay the sequence's first ones whatever the shape does: a new user takes the lowest free
k, and when a user stops (the day and surge profiles lower the count) the user holding the highest k
moves to its phase at its next send. Each process (``--processes N`` forks after import) draws its own
offset, so workers do not send on the same instants::

    class Visitor(FastHttpUser):
        wait_time = arrivals.on_grid(PACING_S)
        def on_start(self):
            arrivals.start(self, PACING_S)   # sleeps until this user's first send instant
        def on_stop(self):
            arrivals.stop(self)              # its phase to the user with the highest k
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from typing import Any, Callable

INV_GOLDEN = (math.sqrt(5) - 1) / 2  # 0.618...: the most evenly spreading step of a Weyl sequence

_lock = threading.Lock()
_offset = random.random()  # per process: workers do not all stack their users on the same instants
_live: dict[int, Any] = {}  # this process's users by their k


def _after_fork() -> None:
    """A forked worker (Locust's ``--processes``) draws its own offset and starts with no user."""
    global _offset
    _offset = random.random()  # random reseeds itself in a forked child
    _live.clear()


os.register_at_fork(after_in_child=_after_fork)


def phase(k: int, pacing_s: float, offset: float = 0.0) -> float:
    """The send phase (seconds into the pacing interval, ``0 <= phase < pacing_s``) of the k-th user."""
    return ((offset + k * INV_GOLDEN) % 1.0) * pacing_s


def take(user: Any) -> int:
    """Give ``user`` the lowest k no live user of this process holds (``user._gd_k``) and return it."""
    with _lock:
        k = next(i for i in range(len(_live) + 1) if i not in _live)
        _live[k] = user
    user._gd_k = k
    return k


def stop(user: Any) -> None:
    """``user`` stops: its k is freed, and the live user with the highest k moves to it (from its next send)."""
    with _lock:
        k = getattr(user, "_gd_k", None)
        if k is None or _live.get(k) is not user:
            return
        del _live[k]
        higher = max((j for j in _live if j > k), default=None)
        if higher is None:
            return
        mover = _live.pop(higher)
        _live[k] = mover
        mover._gd_k = k
        mover._gd_rephase = True


def delay_until(phase_s: float, pacing_s: float, now: float) -> float:
    """Seconds from ``now`` (wall clock) to the next instant whose time modulo ``pacing_s`` is ``phase_s``."""
    return (phase_s - now) % pacing_s


def next_send(previous: float, pacing_s: float, now: float) -> float:
    """The send instant after one at ``previous``: ``previous + pacing_s``, on the user's grid. When that
    instant has passed (the last request took longer than ``pacing_s``) the user sends at once, still on
    its grid; more than a whole interval behind, it skips to its next grid point instead: a late user
    catches up by one request at most, never in a burst."""
    due = previous + pacing_s
    if due >= now - pacing_s:
        return due
    return now + delay_until(previous % pacing_s, pacing_s, now)


def _anchored(user: Any, pacing_s: float, now: float) -> float:
    """The next instant of ``user``'s own phase."""
    return now + delay_until(phase(user._gd_k, pacing_s, _offset), pacing_s, now)


def start(user: Any, pacing_s: float) -> None:
    """Give ``user`` its phase (:func:`take`), sleep until its first send instant and put it on its grid."""
    take(user)
    now = time.time()
    user._gd_next_send = _anchored(user, pacing_s, now)
    time.sleep(user._gd_next_send - now)


def on_grid(pacing_s: float) -> Callable[[Any], float]:
    """A Locust ``wait_time``: the seconds until the user's next instant on its grid (0 when late). A user
    moved to another phase (:func:`stop`), or whose next send is more than an interval away (the wall
    clock stepped back), waits for the next instant of its phase instead."""

    def wait_time(user: Any) -> float:
        now = time.time()
        previous = getattr(user, "_gd_next_send", None)
        if getattr(user, "_gd_rephase", False) and getattr(user, "_gd_k", None) is not None:
            user._gd_rephase = False
            user._gd_next_send = _anchored(user, pacing_s, now)
        elif previous is None:
            user._gd_next_send = now
        else:
            user._gd_next_send = next_send(previous, pacing_s, now)
            if user._gd_next_send - now > pacing_s and getattr(user, "_gd_k", None) is not None:
                user._gd_next_send = _anchored(user, pacing_s, now)  # the clock went back: not a long silence
        return max(0.0, user._gd_next_send - now)

    return wait_time
