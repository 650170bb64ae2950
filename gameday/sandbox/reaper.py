"""Find and stop every process a sandbox started, with or without its supervisor.

Each member (and the supervisor) carries ``GAMEDAY_SANDBOX_ID=<id>`` in its environment, and children
inherit it, so scanning ``/proc`` finds them all, including grandchildren and processes orphaned by a
crashed supervisor::

    pids = marked_processes(paths.sandbox_id)
    stopped = reap(paths.sandbox_id, grace=10)
"""

from __future__ import annotations

import os
import signal
import time

import psutil

from ..deadline import Deadline


def marked_processes(sandbox_id: str) -> list[int]:
    """PIDs of live processes whose environment carries this sandbox's marker."""
    needle = f"GAMEDAY_SANDBOX_ID={sandbox_id}".encode()
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                environ = fh.read()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle in environ.split(b"\0"):
            try:
                if psutil.Process(int(entry.name)).status() != psutil.STATUS_ZOMBIE:
                    found.append(int(entry.name))
            except psutil.NoSuchProcess:
                continue
    return found


from ..children import is_running  # noqa: E402, F401  (re-exported: the twin's callers use it from here)


def reap(sandbox_id: str, *, grace: float = 10.0) -> list[int]:
    """SIGTERM every marked process, SIGKILL what is left after ``grace`` seconds.

    Returns the PIDs that were signalled. Raises nothing for processes that vanish meanwhile.
    """
    pids = marked_processes(sandbox_id)
    for pid in pids:
        _send(pid, signal.SIGTERM)
    deadline = Deadline(grace)
    remaining = pids
    while remaining and not deadline.expired():
        time.sleep(0.2)
        remaining = marked_processes(sandbox_id)
    for pid in marked_processes(sandbox_id):
        _send(pid, signal.SIGKILL)
    kill_deadline = Deadline(5.0)
    while marked_processes(sandbox_id) and not kill_deadline.expired():
        time.sleep(0.1)
    return pids


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return
