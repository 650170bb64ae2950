"""The undo of a lost zone: start every member the zone fault held, then the db playbook applied when
the database failed over (it rebuilds the old primary, back fenced, as the new replica). Named
``"restore_zone"`` in ``gameday.chaos.undo.UNDO``, so any process can undo the record (``gameday
cleanup``), after any crash: before or after the failover, the playbook finds what is left to do."""

from typing import Any

from ...deadline import wait_until
from ...targets import for_environment
from ...targets.environment import Environment

ZONE_READY_TIMEOUT_S = 240.0  # JVMs restarting on a loaded 2-core machine


def restore_zone(env: Environment, zone: str, by_layer: dict[str, list[str]]) -> dict[str, Any]:
    """Release the zone's members (harmless for those already running), wait until every one of them
    is ready again (the database's accept connections, search nodes answer as elastic), and, when the
    database has a member lost or fenced, apply the db playbook (a failed playbook raises, naming its
    step, and the record stays for the next try). Returns ``{"zone", "started", "held_before", "db":
    {"outcome", "steps", "findings"} | None, "roles", "existed"}`` (``existed`` False: nothing of the
    zone was still held, and no node of it still kept pods out)."""
    target = for_environment(env)
    members = [m for names in by_layer.values() for m in names]
    held = [m for layer, names in by_layer.items() for m in names if m in set(target.held(layer))]
    undone = target.restore_zone(zone, members)
    started = undone["started"]
    db = None

    def ready() -> bool:  # a search node answers 503 "security not initialized" until its readiness passes
        return all(m.ready for layer, names in by_layer.items() for m in target.view(layer).members if m.name in names)

    wait_until(ready, timeout=ZONE_READY_TIMEOUT_S, interval=0.5,
               what=f"the members of zone {zone} ({', '.join(members)}) to be ready again")
    roles = target.db_roles()
    if roles is not None and (roles["lost"] or [m for m in roles["fenced"] if m != roles["primary"]]):
        from ..db.playbook import apply
        _, result = apply(env, failing=f"rebuild the database after zone {zone} came back")
        db = {"outcome": result.outcome, "findings": [f.code for f in result.findings], "steps": result.step_timings()}
    return {"zone": zone, "started": started, "held_before": held, "db": db, "roles": target.db_roles(),
            "existed": bool(held) or bool(undone.get("existed"))}
