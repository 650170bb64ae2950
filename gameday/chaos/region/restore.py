"""The undo of a lost region: bring its members back (its database fenced: the other region may have
taken over), rebuild it as the standby of the active region, and, when it was the active region at
the fault, switch back to it (the failback: a planned switchover, nothing lost, measured as the
switchover's is: canaries write to the region being left from before the failback until its writes
stop, and are read back from the region switched back to, :mod:`.rpo`). Named ``"restore_region"``
in ``gameday.chaos.undo.UNDO``, so any process can undo the record (``gameday cleanup``), after any
crash: before or after the failover, the region playbook finds what is left."""

from typing import Any

from ...deadline import wait_until
from ...targets import regions as region_pairs
from ...targets.environment import Environment

REGION_READY_TIMEOUT_S = 300.0
RPO_TIMEOUT_S = 120.0


def restore_region(env: Environment, region: str, fail_back: bool = True) -> dict[str, Any]:
    """``env`` is the lost region's environment. Returns ``{"region", "started", "playbook": {...} |
    None, "rpo": {...} | None, "active", "existed"}`` (``existed`` False: nothing of the region was
    still held; ``rpo``: the failback's, :func:`.rpo.read_back`'s result, None when there was none)."""
    from . import rpo, run_region_playbook
    pair = region_pairs.for_environment(env)
    tgt = pair.target(region)
    was_lost = tgt.region_lost()
    started = tgt.restore_region(active=pair.active() == region)["started"] if was_lost else []
    wait_until(lambda: pair.answers(region), timeout=REGION_READY_TIMEOUT_S, interval=1.0,
               what=f"region {region} to answer readers again")
    playbook = measured = None
    if fail_back and pair.active() != region:
        left = pair.active()
        canaries = rpo.start(pair.target(left))  # the application's writers: they stop when its writes stop
        try:
            playbook = run_region_playbook(tgt, switchover=True, failing=f"fail back to region {region}",
                                           on_stop_writes=canaries.stop)
        finally:
            canaries.stop()
        measured = rpo.read_back(canaries, origin=left, pair=pair, timeout=RPO_TIMEOUT_S)
    return {"region": region, "started": started, "playbook": playbook, "rpo": measured, "active": pair.active(),
            "existed": was_lost}
