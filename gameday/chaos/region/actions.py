"""Region faults and moves: lose the active region (every member at once), fail over to the standby
through the region playbook, switch over on purpose, and the canaries that measure what was lost.

::

    - {type: action, name: start-canaries, provider: {type: python, module: gameday.chaos.region.actions, func: start_region_canaries}}
    - {type: action, name: lose-the-active-region, provider: {..., func: lose_active_region}}
    - {type: action, name: fail-over, provider: {..., func: fail_over, arguments: {decision_s: 5}}}
"""

import time
from typing import Any, Dict

from ...errors import UsageError
from ...targets import regions as region_pairs
from .. import ledger
from ..context import activity, target
from ..lock import lock_for
from . import rpo, run_region_playbook

__all__ = ["start_region_canaries", "lose_active_region", "fail_over", "switch_over", "fail_back"]

# The canaries of the experiment running in this process: written to the region active when they
# started, read back from the region active at the end (gameday.chaos.region.probes.region_rpo).
CANARIES: Dict[str, Any] = {}
MAX_LAG_RECORDS = 1000  # a standby further behind than this is not a warm standby: the drill is refused


def _pair(configuration: Dict[str, Any]) -> region_pairs.RegionPair:
    """The experiment's region pair, with the lock of both regions' environments held."""
    tgt = target(configuration)
    pair = region_pairs.for_environment(tgt.env)
    for region in pair.targets:
        lock_for(pair.target(region).env).acquire(purpose="region drill")
    return pair


@activity
def start_region_canaries(interval: float = 0.25, configuration: Dict[str, Any] = None,
                          secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Start RPO canaries (Kafka and database) writing to the active region; :func:`region_rpo`
    (gameday.chaos.region.probes) reads them back from whichever region is active at the end."""
    pair = _pair(configuration)
    active = pair.active()
    canaries = rpo.start(pair.target(active), interval=interval)
    CANARIES.update({"canaries": canaries, "region": active, "started_at": time.time()})
    return {"region": active, "run": canaries.run, "layers": list(rpo.LAYERS)}


@activity
def lose_active_region(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Lose the whole active region at once: every member SIGKILLed and held, as when a region's
    machines go. Refused, before anything is touched, unless the standby replicates and is at most
    :data:`MAX_LAG_RECORDS` Kafka records behind. The undo, recorded first, brings the region back
    fenced, rebuilds it as the standby and fails back to it (``gameday cleanup`` runs it too).
    Returns ``{"target", "layer": "region", "region", "standby", "members", "fault_at"}``."""
    pair = _pair(configuration)
    active, standby = pair.active(), pair.standby()
    rep = pair.target(standby).region_replication()
    behind = (rep.get("kafka") or {}).get("behind")
    if not (rep.get("db") or {}).get("replicating") or behind is None or behind > MAX_LAG_RECORDS:
        raise UsageError(f"the standby region {standby} is not a warm standby (database replicating: "
                         f"{(rep.get('db') or {}).get('replicating')}, Kafka records behind: {behind}); nothing was touched",
                         hint="`gameday playbook region --switchover` rebuilds it; `gameday sandbox status` shows it")
    lost_env = pair.target(active).env
    with ledger.pending_undo(lost_env, "restore_region", {"region": active},
                             reason=f"region {active} was lost (every member)"):
        fault_at = time.time()
        lost = pair.target(active).lose_region()
    CANARIES["fault_at"] = fault_at
    return {"target": lost_env.name, "layer": "region", "region": active, "standby": standby,
            "members": lost["members"], "fault_at": fault_at, "all_stopped_s": lost.get("all_stopped_s"),
            "replication_before": rep}


@activity
def fail_over(decision_s: float = None, configuration: Dict[str, Any] = None,
              secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The region playbook, applied: detect, decide (``decision_s`` seconds, simulating the human
    decision; default the environment's ``regions.decision_s``), promote the standby, scale it up,
    switch the front, verify. Returns the playbook's steps and what it recorded."""
    pair = _pair(configuration)
    tgt = pair.target(pair.active())
    if decision_s is not None:
        pair.decision_s = float(decision_s)
    done = {**run_region_playbook(tgt, switchover=False, failing="fail over", pair=pair,
                                  fault_at=CANARIES.get("fault_at")), "decision_s": pair.decision_s}
    CANARIES["failover"] = done
    return {"target": tgt.env.name, "layer": "region", **done}


@activity
def switch_over(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """A planned switchover to the standby region (stop writes, wait until it has every write,
    promote, switch the front, make the old region its standby). Returns the playbook's steps."""
    pair = _pair(configuration)
    tgt = pair.target(pair.active())
    started = time.time()  # the move's first act: the game day measures the switchover's RTO from it
    canaries = CANARIES.get("canaries")  # writers of the application: they stop when its writes are stopped
    done = run_region_playbook(tgt, switchover=True, failing="switch over to the standby region",
                               on_stop_writes=canaries.stop if canaries is not None else None)
    CANARIES["switchover"] = done
    return {"target": tgt.env.name, "layer": "region", "fault_at": started, **done}


@activity
def fail_back(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback and last step: every recorded region loss undone (the region back, rebuilt as the
    standby, and switched back to). Harmless when nothing is recorded."""
    pair = _pair(configuration)
    restored = []
    for region in pair.targets:
        for record in ledger.matching(pair.target(region).env, "restore_region"):
            restored.append(ledger.run_record(record)["result"])
    return {"layer": "region", "restored": restored, "active": pair.active()}
