"""Region drills: the active region lost (a failover to the standby), a planned switchover, the
failback; RPO measured by canaries read back from the region that took over."""

from typing import Any, Dict

from ...errors import GamedayError


def run_region_playbook(tgt, *, switchover: bool, failing: str, on_stop_writes=None, pair=None,
                        fault_at: float | None = None) -> Dict[str, Any]:
    """Apply the region playbook on ``tgt``'s region pair (``switchover``: a planned move;
    ``on_stop_writes``: called when the switchover stops writes; ``pair``: the RegionPair to use, e.g.
    with a drill's decision time; ``fault_at``: RTO from it). Returns ``{"outcome", "findings",
    "steps", "last", "rto"}``; a failed playbook raises, naming its step."""
    from ...recovery import FAILED, load_playbook, run
    from ...recovery.context import Context
    from ...recovery.layers import region
    ctx = Context(target=tgt)
    ctx.state.switchover = switchover
    ctx.state.on_stop_writes = on_stop_writes
    ctx.state.regions = pair
    region.LAST.pop(tgt.env.name, None)
    result = run(load_playbook("region"), ctx, apply=True, fault_at=fault_at)
    if result.outcome == FAILED:
        raise GamedayError(f"the region playbook could not {failing}: {result.error}",
                           hint="`gameday playbook region` shows what it finds; --apply acts")
    return {"outcome": result.outcome, "findings": [f.code for f in result.findings], "steps": result.step_timings(),
            "last": dict(region.LAST.get(tgt.env.name, {})), "rto": result.rto}
