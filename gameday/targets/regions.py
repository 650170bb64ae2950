"""Two environments as the two regions of one site, and the global front that picks the active one.

An environment's ``regions:`` block names its region, the other region's environment (``standby``)
and the front (``front.kind``: ``twin``, the twin's global HAProxy; ``cloud-dns``, a Cloud DNS record
switched through Google's official client, :mod:`gameday.gcp.dns`)::

    pair = for_environment(load("sandbox"))
    pair.active()                      # "r1": the region the front sends readers to
    pair.target(pair.standby())        # the standby region's Target (its own environment)
    pair.switch_front("r2")            # readers go to r2

Every region operation is the region's own :class:`~gameday.targets.base.Target` method
(``promote_region``, ``fence_region_writes``, ...): one Target per environment; the pair only knows
which environment is which region, and the front.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from .. import hostguard
from ..errors import GamedayError, RegionSetNotRunning, UsageError  # noqa: F401 - RegionSetNotRunning re-exported
from .base import Target
from .environment import Environment, standby
from .front import Front

REGION_HEADER = "X-Gameday-Region"

DEFAULT_DECISION_S = 60.0


@dataclass
class RegionPair:
    """The two regions (name -> Target), the front, and the simulated decision time of a failover."""

    targets: dict[str, Target]
    front: Front
    decision_s: float = DEFAULT_DECISION_S

    def active(self) -> str:
        return self.front.active()

    def standby(self) -> str:
        return next(r for r in self.targets if r != self.active())

    def target(self, region: str) -> Target:
        try:
            return self.targets[region]
        except KeyError:
            raise UsageError(f"no region {region!r}", hint=f"regions: {', '.join(self.targets)}") from None

    def switch_front(self, region: str) -> dict[str, Any]:
        self.target(region)
        return self.front.switch(region)

    def answers(self, region: str, *, timeout: float = 2.0) -> bool:
        """True when ``region``'s own site answers a reader (any status below 500)."""
        try:
            url = self.target(region).site_url()
            with hostguard.session(refuse=False) as session:  # its own answer: a redirect is not followed off-site
                return session.get(url, timeout=timeout, verify=True).status_code < 500
        except (requests.RequestException, GamedayError):
            return False

    def serving(self, *, timeout: float = 2.0) -> str | None:
        """The region that answered a reader at the front (its ``X-Gameday-Region`` header); None when
        nothing answered, or the front is DNS only (:meth:`Front.url` None)."""
        url = self.front.url()
        if url is None:
            return None
        try:
            with hostguard.session(refuse=False) as session:
                r = session.get(f"{url}/", timeout=timeout)
        except requests.RequestException:
            return None
        return r.headers.get(REGION_HEADER) if r.status_code < 500 else None

    def wait_serving(self, region: str, *, timeout: float) -> float:
        """Seconds until readers at the front are answered by ``region`` (DNS fronts: immediately)."""
        from ..deadline import wait_until
        if self.front.url() is None:
            return 0.0
        started = time.monotonic()
        wait_until(lambda: self.serving() == region, timeout=timeout, what=f"the front to serve from {region}")
        return round(time.monotonic() - started, 2)


class ActiveRegion:
    """The Target of whichever region is active at each call (read from the front every time), for
    what watches the site through a region drill: after a switchover the environment's own region
    is a standby at a standby's size, and its one web replica is not a lost redundancy::

        Watch(env, make_target=active_region_target)   # gameday.runner.redundancy
    """

    def __init__(self, pair: RegionPair):
        self.pair = pair

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pair.target(self.pair.active()), name)


def active_region_target(env: Environment) -> ActiveRegion:
    """:class:`ActiveRegion` of ``env``'s region pair."""
    return ActiveRegion(for_environment(env))


def for_environment(env: Environment, *, i_mean_production: bool = False) -> RegionPair:
    """The region pair ``env`` belongs to: ``env`` and its ``regions.standby`` environment, each
    checked as :func:`gameday.targets.for_environment` checks it, and its front."""
    from . import for_environment as target_for
    block = env.regions or {}
    if not block:
        raise UsageError(f"environment {env.name!r} names no second region",
                         hint="add a regions: block (name, standby, front) to its environment file")
    other = standby(env)
    other_name = (other.regions or {}).get("name")
    if not other_name:
        raise UsageError(f"environment {other.name!r} (the standby of {env.name!r}) names no region",
                         hint=f"give {other.source or other.name} a regions: block with its name")
    targets = {block["name"]: target_for(env, i_mean_production=i_mean_production),
               other_name: target_for(other, i_mean_production=i_mean_production)}
    front = targets[block["name"]].region_front(block.get("front") or {"kind": "twin"})
    return RegionPair(targets=targets, front=front, decision_s=float(block.get("decision_s", DEFAULT_DECISION_S)))
