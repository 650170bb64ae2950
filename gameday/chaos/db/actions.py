"""Database faults."""

import time
from typing import Any, Dict

from ..context import activity, target

__all__ = ["kill_database"]


@activity
def kill_database(dry_run: bool = False, configuration: Dict[str, Any] = None,
                  secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill the database server abruptly (SIGKILL / pod delete); it restarts and recovers its log."""
    tgt = target(configuration, lock=not dry_run)
    nodes = [n for n in tgt.nodes("db") if n.running]
    if dry_run:
        return {"target": tgt.name, "layer": "db", "would_touch": [n.name for n in nodes]}
    fault_at = time.time()
    for node in nodes:
        tgt.kill(node)
    return {"target": tgt.name, "layer": "db", "touched": [n.name for n in nodes], "fault_at": fault_at,
            "how": "killed (SIGKILL / pod delete, grace 0)"}
