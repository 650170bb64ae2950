"""Zone faults: lose every member of one zone at once (the database's primary among them fails over
to its replica in another zone), and bring the zone back."""

import time
from typing import Any, Dict, List

from ... import zones
from ...deadline import Deadline
from ...errors import UsageError
from .. import caps, ledger
from ..context import activity, target

__all__ = ["lose_zone", "fail_over_database", "restore_zone"]

DB_PRIMARY = "db-primary"  # the zone argument that names the zone holding the database's primary
FULL_REDUNDANCY_WAIT_S = 60.0  # how long a member of an affected layer may take to be back, before the refusal


def _zone(tgt, zone: str) -> str:
    """The zone label ``zone`` names (``db-primary``: the zone of the database's primary member), one
    of the target's zones (:meth:`~gameday.targets.base.Target.zones`: on GKE the nodes' zones)."""
    known = tgt.zones()
    if zone == DB_PRIMARY:
        roles = tgt.db_roles()
        if roles is None:
            raise UsageError(f"{tgt.name}: zone {DB_PRIMARY!r} needs a database with a primary and replicas; "
                             "nothing was touched", hint=f"name the zone: one of {', '.join(known)}")
        node = next((n for n in tgt.nodes("db") if n.name == roles["primary"]), None)
        label = (node.labels if node else {}).get(zones.LABEL)
        if label not in known:
            raise UsageError(f"{tgt.name}: the database primary {roles['primary']} has no zone label "
                             f"(found {label!r}); nothing was touched", hint=f"name the zone: one of {', '.join(known)}")
        return label
    try:
        return zones.check_zone(zone, known)
    except ValueError as err:
        raise UsageError(f"{err} (or {DB_PRIMARY!r}: the zone holding the database primary); nothing was touched") from None


def _not_fully_redundant(tgt, by_layer: Dict[str, Any]) -> List[str]:
    """What is down in the layers the zone touches, after waiting up to FULL_REDUNDANCY_WAIT_S for it
    to be back at one moment (a loaded twin's readiness checks flap: a member not ready for a second
    is not a second failure). [] once every member of those layers is up."""
    deadline = Deadline(FULL_REDUNDANCY_WAIT_S)

    def down() -> List[str]:
        return [f"{layer}: {caps.describe(gone)}" for layer in sorted(by_layer) if (gone := caps.down(tgt, layer))]

    problems = down()
    while problems and not deadline.expired():
        time.sleep(min(0.5, max(0.0, deadline.remaining())))
        problems = down()
    return problems


@activity
def lose_zone(zone: str = DB_PRIMARY, dry_run: bool = False, configuration: Dict[str, Any] = None,
              secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Lose a whole zone: every member labelled ``zone`` (``zone-a``/``zone-b``/``zone-c``, or
    ``db-primary``: the zone holding the database's primary) stops at once and stays down, as when a
    zone's machines go; regional members (the load balancer) are not in any zone. A database primary
    in the zone is recorded lost, so :func:`fail_over_database` can promote the replica in another
    zone. The undo, recorded first, starts the zone's members and applies the db playbook
    (:func:`restore_zone`, ``gameday cleanup``)::

        provider: {type: python, module: gameday.chaos.zone.actions, func: lose_zone, arguments: {zone: db-primary}}

    Safety: the drill starts from full redundancy (refused, before anything is touched, when a member
    of an affected layer is still down, held, or stopped by any run after up to 60 s) and respects every layer's cap
    (``limits.web_max_percent``, ``kafka_max_brokers``, ``search_max_nodes``) for the members the zone
    takes down. Returns ``{"target", "layer": "site", "zone", "touched", "by_layer", "db_primary_lost",
    "fault_at", "how"}``."""
    tgt = target(configuration, lock=not dry_run)
    tgt.check_zone_drill()
    chosen = _zone(tgt, zone)
    by_layer = tgt.zone_members(chosen)
    if not by_layer:
        raise UsageError(f"{tgt.name}: no running member is labelled zone={chosen}; nothing was touched")
    problems = _not_fully_redundant(tgt, by_layer)
    if problems:
        raise UsageError(f"losing zone {chosen} starts from full redundancy, but after {FULL_REDUNDANCY_WAIT_S:.0f}s "
                         f"still down: {'; '.join(problems)}; nothing was touched",
                         hint="wait until they are back (`gameday cleanup` undoes recorded faults)")
    for layer, names in sorted(by_layer.items()):
        caps.check(tgt, layer, names)  # CapExceeded names the cap; in a dry run, marks them down for later actions
    touched = [n for names in by_layer.values() for n in names]
    if dry_run:
        return {"target": tgt.name, "layer": "site", "zone": chosen, "would_touch": touched}
    with ledger.pending_undo(tgt.env, "restore_zone", {"zone": chosen, "by_layer": by_layer},
                             reason=f"zone {chosen} was lost ({', '.join(touched)})"):
        fault_at = time.time()
        lost = tgt.lose_zone(chosen)
    return {"target": tgt.name, "layer": "site", "zone": chosen, "touched": lost["members"],
            "by_layer": lost["by_layer"], "db_primary_lost": lost["db_primary_lost"], "fault_at": fault_at,
            "all_stopped_s": lost.get("all_stopped_s"), "how": "every member of the zone stopped and held (SIGKILL)"}


@activity
def fail_over_database(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """While the zone is down: when the database's primary is recorded lost, promote its replica (in
    another zone) and point the site's one database endpoint at it, as a regional database's high
    availability does (the db playbook's ``promote-db-replica`` and ``repoint-db-endpoint``; its
    other steps would start the lost zone's members, so they wait for :func:`restore_zone`). Nothing
    is done when the primary is not lost. Returns ``{"target", "layer": "db", "failed_over",
    "promotion"?, "took_s"}``."""
    tgt = target(configuration)
    roles = tgt.db_roles()
    if roles is None or roles["primary"] not in roles["lost"]:
        return {"target": tgt.name, "layer": "db", "failed_over": False,
                "primary": roles and roles["primary"], "why": "the primary is not lost"}
    started = time.monotonic()
    promotion = tgt.promote_db_replica()
    return {"target": tgt.name, "layer": "db", "failed_over": True, "primary": promotion["new_primary"],
            "promotion": promotion, "took_s": round(time.monotonic() - started, 3)}


@activity
def restore_zone(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The zone comes back (method step and rollback): every recorded zone loss undone (its members
    started, the db playbook applied: the old primary rebuilt as the new replica). Harmless when
    nothing is recorded. Returns ``{"target", "layer": "site", "restored": [{"zone", "started",
    "db", "roles", "after_fault_s"}]}``."""
    tgt = target(configuration)
    restored = []
    for record in ledger.matching(tgt.env, "restore_zone"):
        result = ledger.run_record(record)["result"]
        result["after_fault_s"] = round(time.time() - float(record["created_at"]), 2)
        restored.append(result)
    return {"target": tgt.name, "layer": "site", "restored": restored}
