"""What readers see at the site's front door (the CDN, or the origin while the CDN is lost) and at the
origin beside it, with the CDN's hit ratio as the readers' answers say it (``X-Cache``)::

    {"type": "probe", "name": "readers-at-the-front-door",
     "provider": {"type": "python", "module": "gameday.chaos.cdn.probes", "func": "readers_at_the_front_door",
                  "arguments": {"window_s": 5, "rate": 20}}}

Requests go only where the one host guard allows (loopback, or the environment's declared site).
"""

from typing import Any, Dict

from ... import hostguard, readers
from ...load import model as traffic
from ...recovery.layers.cdn import edge_serving
from ..context import activity, target

__all__ = ["readers_at_the_front_door", "readers_at_the_origin", "cdn_counters", "modelled_hit_ratio"]


@activity
def readers_at_the_front_door(window_s: float = 5, rate: float = 20, items: int = 2000,
                              configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """``rate`` req/s for ``window_s`` s of the catalogue's first ``items`` pages (Zipf-popular) at
    the front door (:meth:`~gameday.targets.base.Target.front_door_url`): success, 5xx, p95, the hit
    ratio readers saw and how many of their requests reached the origin; ``through_cdn`` says whether
    the front door was the CDN (False: it was lost, readers went to the origin)."""
    tgt = target(configuration, lock=False)
    door, serving = tgt.front_door_url(), edge_serving(tgt.cdn_status())
    m = readers.sample(door, window_s=window_s, rate=rate, items=items, allow=hostguard.site_hosts(tgt.env))
    return {**m, "front_door": door, "through_cdn": serving}


@activity
def readers_at_the_origin(window_s: float = 5, rate: float = 20, items: int = 2000,
                          configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The same pages straight at the origin (the load balancer, :meth:`~gameday.targets.base.Target.site_url`)."""
    tgt = target(configuration, lock=False)
    return readers.sample(tgt.site_url(), window_s=window_s, rate=rate, items=items,
                          allow=hostguard.site_hosts(tgt.env))


@activity
def cdn_counters(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The CDN's own counts since each edge started (:meth:`~gameday.targets.base.Target.cdn_status`);
    ``{"members": {}}`` for a target whose CDN it cannot read."""
    return target(configuration, lock=False).cdn_status() or {"members": {}}


@activity
def modelled_hit_ratio(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> float:
    """``loadtests/traffic.yaml``'s ``cdn_hit_ratio``: the share of requests the traffic model expects
    the CDN to answer (what "warm again" means for the cdn playbook)."""
    return float(traffic.load().cdn_hit_ratio)
