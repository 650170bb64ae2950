"""Region probes: what the region drill measured (RPO by canary, the phases of the RTO), the standby's
lag, and readers at the front."""

from typing import Any, Dict

from ... import hostguard, site_slo
from ...errors import GamedayError
from ...measure.region_timeline import timeline as region_timeline_of
from ...targets import regions as region_pairs
from ..context import activity, target
from . import rpo
from .actions import CANARIES

__all__ = ["region_rpo", "region_timeline", "standby_lag", "readers_at_the_front", "front_serves_readers"]

def _pair(configuration: Dict[str, Any]) -> region_pairs.RegionPair:
    return region_pairs.for_environment(target(configuration, lock=False).env)


@activity
def region_rpo(timeout: float = 120, configuration: Dict[str, Any] = None,
               secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Stop the region canaries and read every acknowledged record back from the region active now:
    the database through its endpoint, Kafka from the topic MirrorMaker copied them to when another
    region wrote them (``r1.gameday-canary``). Returns per layer ``{"acknowledged", "lost": [seq],
    "lost_span_s", "rpo_records"}``, the lost records by name (``<run>/<layer>/<seq>``) and, read from
    a mirror, ``unmirrored``: the Kafka records the region left had acknowledged and MirrorMaker never
    copied, with their partition and offset there (:func:`gameday.chaos.region.rpo.read_back`)."""
    canaries = CANARIES.get("canaries")
    if canaries is None:
        raise GamedayError("no region canaries are running in this experiment",
                           hint="start them first: gameday.chaos.region.actions.start_region_canaries")
    done = rpo.read_back(canaries, origin=CANARIES["region"], pair=_pair(configuration), timeout=timeout)
    CANARIES.pop("canaries", None)
    return done


@activity
def region_timeline(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The drill's RTO split by phase, from the fault (or the switchover's first step): each playbook
    step with its start and end offsets; the RTO (a failover: fault -> the front switched to the new
    region; a switchover: writes stopped -> the front switched, the standby's scale-up before being
    preparation, ``prepare_s``), the RTO without the simulated decision, the seconds writes were
    refused, and when redundancy was restored."""
    run = CANARIES.get("failover") or CANARIES.get("switchover")
    if run is None:
        raise GamedayError("no region failover or switchover ran in this experiment")
    return region_timeline_of(run, kind="failover" if "failover" in CANARIES else "switchover",
                              origin=CANARIES.get("fault_at"))


@activity
def standby_lag(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """How far the standby region is behind the active one (database and Kafka), measured."""
    pair = _pair(configuration)
    return pair.target(pair.standby()).region_replication()


@activity
def readers_at_the_front(window_s: float = 5, rate: float = 10, configuration: Dict[str, Any] = None,
                         secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Success ratio and latency of readers at the front (the site's global address), and which
    region answered them."""
    pair = _pair(configuration)
    url = pair.front.url() or pair.target(pair.active()).site_url()
    tgt = pair.target(pair.active())
    m = site_slo.measure(url, paths=site_slo.DEFAULT_PATHS, window_s=window_s, rate=rate,
                         allow=hostguard.site_hosts(tgt.env))
    return {**m, "url": url, "served_by": pair.serving()}


@activity
def front_serves_readers(min_success_ratio: float = None, window_s: float = 3, rate: float = 10,
                         configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """Steady-state probe: True when at least ``min_success_ratio`` (left out: targets.yaml's
    ``slo.success_ratio`` for the environment) of readers at the front were served."""
    if min_success_ratio is None:
        from ...recovery import targets_yaml
        min_success_ratio = targets_yaml.load().slo(target(configuration, lock=False).env.name)["success_ratio"]
    return readers_at_the_front(window_s=window_s, rate=rate, configuration=configuration)["success_ratio"] \
        >= float(min_success_ratio)
