"""Deadlines for every wait.

Use :func:`wait_until` instead of a hand-written polling loop::

    wait_until(lambda: member_ready("web-1"), timeout=30, what="web-1 to become ready")

It returns the condition's truthy value, or raises :class:`DeadlineExceeded` naming ``what``.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from .errors import DeadlineExceeded

T = TypeVar("T")


class Deadline:
    """A point in monotonic time; ``remaining()`` never goes below zero."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    hint: str | None = None,
) -> T:
    """Poll ``condition`` every ``interval`` seconds until it is truthy or ``timeout`` passes."""
    deadline = Deadline(timeout)
    last: T = condition()
    while not last:
        if deadline.expired():
            raise DeadlineExceeded(f"timed out after {timeout:.0f}s waiting for {what}", hint=hint)
        time.sleep(min(interval, deadline.remaining()) or interval)
        last = condition()
    return last
