"""A wedged web replica on the twin: its process keeps running but its readiness check fails.

The site's ``/readyz`` answers 503 (:func:`gameday.site.app.held_unready`) while ``<faults dir>/<member>.unready`` names the process that
serves it (``GAMEDAY_FAULTS_DIR``, set on every web member by :mod:`.members.site`). The file holds
the pid of the member's process, so it acts as in-process state does: a fresh process (the
supervisor's restart after a playbook replaced the replica) is ready again, as a Kubernetes pod
stuck on a bad in-memory state is once deleted::

    hold_unready(twin, "web-2", pid=4711)     # the readiness fault (SandboxTarget.make_unready)
    release(twin, "web-2")                    # its undo (SandboxTarget.make_ready): True if it was held
"""

from __future__ import annotations

import os
from pathlib import Path

from .twin import Twin

ENV = "GAMEDAY_FAULTS_DIR"
SUFFIX = ".unready"


def faults_dir(twin: Twin) -> Path:
    return twin.paths.run / "faults"


def marker(twin: Twin, member: str) -> Path:
    return faults_dir(twin) / f"{member}{SUFFIX}"


def hold_unready(twin: Twin, member: str, *, pid: int) -> Path:
    """Make ``member``'s process (``pid``) answer 503 on /readyz; written atomically."""
    path = marker(twin, member)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)
    return path


def release(twin: Twin, member: str) -> bool:
    """Undo :func:`hold_unready`; True if the marker was there."""
    try:
        marker(twin, member).unlink()
        return True
    except FileNotFoundError:
        return False
