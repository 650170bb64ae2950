"""Where gameday keeps state on this machine: ``$GAMEDAY_STATE_DIR``, else ``/var/lib/gameday`` for
root, else ``~/.local/state/gameday``. Locks and undo records of targets whose state is this
machine's, trust bundles, and the twins (each in ``<state root>/<twin name>``) live under it::

    from .statedir import state_root
    state_root() / "locks"
"""

from __future__ import annotations

import os
from pathlib import Path


def state_root() -> Path:
    """The state root (not created here)."""
    env = os.environ.get("GAMEDAY_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/gameday")
    return Path.home() / ".local" / "state" / "gameday"
