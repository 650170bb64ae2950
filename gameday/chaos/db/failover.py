"""The undo of a lost database primary: the db playbook applied (promote the replica, repoint the
endpoint, start the old primary fenced and rebuild it as the new replica, verify; on Cloud SQL, wait
for its own failover and report the instance's state: ``failover_state``, ``primary_moved``). Named
``"recover_db_primary"`` in ``gameday.chaos.undo.UNDO``, so any process can undo the record
(``gameday cleanup``)."""

from typing import Any

from ...targets.environment import Environment
from .playbook import apply

# milestone -> the playbook step whose end marks it
FAILOVER_MILESTONES = {"promoted": "promote-db-replica", "endpoint_repointed": "repoint-db-endpoint",
                       "old_primary_rebuilt": "rebuild-old-db-primary", "replication_verified": "verify-db-replication"}


def recover_db_primary(env: Environment, member: str) -> dict[str, Any]:
    """Run the db playbook with apply; harmless when nothing is lost (it finds the database healthy
    and does nothing). A failed playbook raises, naming its failed step."""
    from ...recovery.layers import db_failover
    db_failover.LAST.pop(env.name, None)
    target, result = apply(env, failing=f"recover from losing {member}")
    done = db_failover.LAST.pop(env.name, {})
    roles = target.db_roles()
    return {"member": member, "outcome": result.outcome, "findings": [f.code for f in result.findings],
            "steps": result.step_timings(), "promotion": done.get("promotion"), "rebuild": done.get("rebuild"),
            "roles": roles, "primary_moved": bool(roles) and roles["primary"] != member,
            "failover_state": target.db_failover_state(), "existed": "promotion" in done}
