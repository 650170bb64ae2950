"""The undo of a lost region: bring its members back (its database fenced: the other region may have
taken over), rebuild it as the standby of the active region, and, when it was the active region at
the fault, switch back to it (the failback: a planned switchover, nothing lost). Named
``"restore_region"`` in ``gameday.chaos.undo.UNDO``, so any process can undo the record (``gameday
cleanup``), after any crash: before or after the failover, the region playbook finds what is left."""

from typing import Any

from ...deadline import wait_until
from ...targets import regions as region_pairs
from ...targets.environment import Environment

REGION_READY_TIMEOUT_S = 300.0


def restore_region(env: Environment, region: str, fail_back: bool = True) -> dict[str, Any]:
    """``env`` is the lost region's environment. Returns ``{"region", "started", "playbook": {...} |
    None, "active", "existed"}`` (``existed`` False: nothing of the region was still held)."""
    from . import run_region_playbook
    pair = region_pairs.for_environment(env)
    tgt = pair.target(region)
    was_lost = tgt.region_lost()
    started = tgt.restore_region(active=pair.active() == region)["started"] if was_lost else []
    wait_until(lambda: pair.answers(region), timeout=REGION_READY_TIMEOUT_S, interval=1.0,
               what=f"region {region} to answer readers again")
    playbook = None
    if fail_back and pair.active() != region:
        playbook = run_region_playbook(tgt, switchover=True, failing=f"fail back to region {region}")
    return {"region": region, "started": started, "playbook": playbook, "active": pair.active(), "existed": was_lost}
