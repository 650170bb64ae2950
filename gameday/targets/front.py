"""The global front: where readers are sent, and how they are moved to another region.

A region pair (:mod:`gameday.targets.regions`) asks its active region's Target for its front
(``Target.region_front(cfg)``, ``cfg`` the environment's ``regions.front``)::

    front.active()          # "r1"
    front.switch("r2")      # {"from": "r1", "to": "r2", "seconds": ...}

``kind: cloud-dns`` is :class:`CloudDnsFront` on every target; the twin's own HAProxy front is the
sandbox target's (:class:`gameday.targets.sandbox.TwinFront`).
"""

from __future__ import annotations

from typing import Any

from ..errors import GamedayError


class Front:
    """Where readers are sent: ``active()`` names the region, ``switch(region)`` moves them."""

    def active(self) -> str:
        raise NotImplementedError

    def switch(self, region: str) -> dict[str, Any]:
        raise NotImplementedError

    def url(self) -> str | None:
        """The front's reader URL, when readers can be probed through it (None: only DNS)."""
        return None


class CloudDnsFront(Front):
    """A Cloud DNS record whose data names the active region's load balancer (:mod:`gameday.gcp.dns`)."""

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg

    def active(self) -> str:
        from ..gcp import dns
        found = dns.current(self.cfg).get("region")
        if found is None:
            raise GamedayError(f"Cloud DNS record {self.cfg.get('record')} names no region's targets",
                               hint="check regions.front.targets in the environment file")
        return found

    def switch(self, region: str) -> dict[str, Any]:
        from ..gcp import dns
        return dns.switch(self.cfg, region)
