"""Database faults."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import caps
from ..context import activity, target

__all__ = ["kill_database"]


@activity
def kill_database(dry_run: bool = False, configuration: Dict[str, Any] = None,
                  secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill the database server abruptly (SIGKILL / pod delete); it restarts and recovers its log.
    Refused while it is already down (not ready, held, or stopped by any run)."""
    tgt = target(configuration, lock=not dry_run)
    nodes = caps.up(tgt, "db")
    if not nodes:
        raise UsageError(f"no database server is up; already down: {caps.describe(caps.down(tgt, 'db'))}; "
                         "nothing was touched", hint="wait until it is back")
    caps.check(tgt, "db", [n.name for n in nodes])
    if dry_run:
        return {"target": tgt.name, "layer": "db", "would_touch": [n.name for n in nodes]}
    fault_at = time.time()
    for node in nodes:
        tgt.kill(node)
    return {"target": tgt.name, "layer": "db", "touched": [n.name for n in nodes], "fault_at": fault_at,
            "how": "killed (SIGKILL / pod delete, grace 0)"}
