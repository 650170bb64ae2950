"""The undo of destroyed database content: the db playbook applied (point-in-time restore around the
destructive statement, then the checks). Named ``"restore_db_content"`` in
``gameday.chaos.undo.UNDO``, so ledger records of it are undone by any process (``gameday cleanup``)."""

from typing import Any, Dict

from ...targets.environment import Environment
from .playbook import apply

MILESTONES = {"content_restored": "restore-db-content", "content_verified": "verify-db-content"}


def restore_db_content(env: Environment, table: str, before: Dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the db playbook with apply: it finds the content loss, restores to the moment before the
    destructive statement and replays the rest, then verifies. Harmless when nothing is lost (the
    playbook finds the database healthy and does nothing). A failed playbook raises, naming its
    failed step. ``before`` (Cloud SQL, written by the fault): the table's figures just before it and
    that moment, handed to the playbook as the recorded incident (``db_content.RECORDED``): what
    it restores to and compares the clone with."""
    from ...recovery.layers import db_content
    db_content.LAST_RESTORE.pop(env.name, None)
    if before is not None:
        db_content.RECORDED[env.name] = {"table": table, "at": float(before["at"]), "before": before,
                                         "what": before.get("statement") or f"the destruction of {table}"}
    try:
        _, result = apply(env, failing=f"restore {table}")
    finally:
        db_content.RECORDED.pop(env.name, None)
    steps = result.step_timings()
    restore = db_content.LAST_RESTORE.pop(env.name, None)
    return {"table": table, "outcome": result.outcome, "findings": [f.code for f in result.findings], "steps": steps,
            "restore": restore, "existed": restore is not None}


def milestones(steps: Dict[str, Any], fault_at: float, which: Dict[str, str] | None = None) -> Dict[str, Any]:
    """Seconds from the fault (its undo record, written just before it) to the end of the steps that
    mark the recovery (``which``, default :data:`MILESTONES`: the content restored, then verified
    against the backup)."""
    ended = {name: steps.get(step, {}).get("ended_at") for name, step in (which or MILESTONES).items()}
    return {name: None if at is None else round(at - fault_at, 1) for name, at in ended.items()}
