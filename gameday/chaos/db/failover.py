"""The undo of a lost database primary: the db playbook applied (promote the replica, repoint the
endpoint, start the old primary fenced and rebuild it as the new replica, verify). Named
``"recover_db_primary"`` in ``gameday.chaos.undo.UNDO``, so any process can undo the record
(``gameday cleanup``)."""

from typing import Any

from ...errors import GamedayError
from ...targets import for_environment
from ...targets.environment import Environment

# milestone -> the playbook step whose end marks it
FAILOVER_MILESTONES = {"promoted": "promote-db-replica", "endpoint_repointed": "repoint-db-endpoint",
                       "old_primary_rebuilt": "rebuild-old-db-primary", "replication_verified": "verify-db-replication"}


def recover_db_primary(env: Environment, member: str) -> dict[str, Any]:
    """Run the db playbook with apply; harmless when nothing is lost (it finds the database healthy
    and does nothing). A failed playbook raises, naming its failed step."""
    from ...recovery import FAILED, load_playbook, run
    from ...recovery.context import Context
    from ...recovery.layers import db_failover
    target = for_environment(env)
    db_failover.LAST.pop(env.name, None)
    result = run(load_playbook("db"), Context(target=target), apply=True)
    if result.outcome == FAILED:
        raise GamedayError(f"the db playbook could not recover from losing {member}: {result.error}",
                           hint="`gameday playbook db --apply` shows each step; `gameday cleanup` retries")
    done = db_failover.LAST.pop(env.name, {})
    return {"member": member, "outcome": result.outcome, "findings": [f.code for f in result.findings],
            "steps": result.step_timings(), "promotion": done.get("promotion"), "rebuild": done.get("rebuild"),
            "roles": target.db_roles(), "existed": "promotion" in done}
