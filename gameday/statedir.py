"""Where gameday keeps state on this machine: ``$GAMEDAY_STATE_DIR``, else ``/var/lib/gameday`` for
root, else ``~/.local/state/gameday``. Locks and undo records of targets whose state is this
machine's, trust bundles, and the twins (each in ``<state root>/<twin name>``) live under it::

    from .statedir import state_root
    state_root() / "locks"
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def state_root() -> Path:
    """The state root (not created here)."""
    env = os.environ.get("GAMEDAY_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/gameday")
    return Path.home() / ".local" / "state" / "gameday"


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the exclusive lock ``<state root>/<name>`` (flock) for the ``with`` block: processes that
    edit one shared file (``/etc/hosts``, the kubeconfig) take turns::

        with locked("hosts.lock"):
            ...
    """
    path = state_root() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
