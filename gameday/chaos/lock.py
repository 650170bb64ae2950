"""One experiment run per target at a time: a lock file with an owner and an expiry.

    lock = TargetLock("sandbox")
    lock.acquire()      # raises TargetLocked naming the owner, unless the holder is dead or expired
    lock.release()      # only the owner's release removes it

Stored at ``<state root>/locks/<target>.json``. A lock whose owner process is gone (same host) or whose
expiry has passed is taken over, and the takeover is reported.

A game day holds the lock for its whole run and lets the ``chaos run`` processes it starts act under
it: it exports ``GAMEDAY_LOCK_PID=<its pid>``, and a lock held by that pid counts as held by them
(:meth:`TargetLock.inherited`), which they neither take nor release.
"""

from __future__ import annotations

import json
import os
import socket
import time

from ..errors import GamedayError
from ..sandbox.paths import state_root
from ..sandbox.reaper import is_running

DEFAULT_TTL = 4 * 3600.0


class TargetLocked(GamedayError):
    pass


class TargetLock:
    def __init__(self, target: str, *, ttl: float = DEFAULT_TTL, owner_pid: int | None = None):
        self.target = target
        self.ttl = ttl
        inherited = os.environ.get("GAMEDAY_LOCK_PID")
        self.pid = owner_pid or (int(inherited) if inherited else os.getpid())
        self.path = state_root() / "locks" / f"{target}.json"

    def holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _stale(self, holder: dict) -> bool:
        if holder.get("expires_at", 0) < time.time():
            return True
        return holder.get("host") == socket.gethostname() and not is_running(int(holder.get("pid", 0)))

    def inherited(self) -> bool:
        """True when this process acts under a lock its parent game day holds."""
        return bool(os.environ.get("GAMEDAY_LOCK_PID")) and self.held_by_me()

    def held_by_me(self) -> bool:
        holder = self.holder()
        return bool(holder) and holder.get("pid") == self.pid and holder.get("host") == socket.gethostname()

    def acquire(self, purpose: str = "chaos") -> dict | None:
        """Take the lock; returns the stale holder it replaced, if any."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replaced = None
        if self.held_by_me():
            return None
        holder = self.holder()
        if holder is not None:
            if not self._stale(holder):
                raise TargetLocked(
                    f"target {self.target!r} is locked by pid {holder['pid']} on {holder['host']} "
                    f"({holder.get('purpose')}, since {time.strftime('%H:%M:%S', time.localtime(holder['since']))})",
                    hint="wait for that run to finish, or `gameday cleanup` if it died",
                )
            replaced = holder
            self.path.unlink(missing_ok=True)
        record = {"target": self.target, "pid": self.pid, "host": socket.gethostname(), "purpose": purpose,
                  "since": time.time(), "expires_at": time.time() + self.ttl}
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError as err:
            raise TargetLocked(f"target {self.target!r} was locked by another run just now") from err
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        return replaced

    def release(self) -> bool:
        if self.held_by_me():
            self.path.unlink(missing_ok=True)
            return True
        return False

    def break_stale(self) -> dict | None:
        """Remove the lock if its holder is dead or expired (used by `gameday cleanup`)."""
        holder = self.holder()
        if holder is not None and self._stale(holder):
            self.path.unlink(missing_ok=True)
            return holder
        return None
