"""The twin in two regions: the primary twin, a warm standby twin, and a global front before both.

``gameday sandbox up --regions 2`` on twin ``NAME`` (network ``N``) runs three twins, each with its
own supervisor, state directory and loopback network, as three failure domains::

    NAME          127.N.x.y      region r1: the full twin (the active region at first)
    NAME-r2       127.(N+1).x.y  region r2: a warm standby (:meth:`Shape.standby_of`), replicating
                                 from r1: its database as a cross-region replica, Kafka through
                                 MirrorMaker 2 (topics ``r1.<topic>``), search fed by its indexer
    NAME-global   127.(N+2).x.y  the global front: one HAProxy before both regional load balancers,
                                 sending readers to the active region (a global load balancer or DNS)

::

    regions = Regions.of(Twin.create("default"))
    regions.active()               # "r1": the region the front sends readers to
    regions.twin("r2")             # the standby's Twin
    up(regions, progress=...)      # shapes written, the three twins up, the standby linked

Which region is active lives in the front's home (``regions.json``), as a DNS record lives with the
DNS service: any process, after any crash, reads the same answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UsageError
from .shape import Shape, Upstream
from .twin import Twin

STANDBY_SUFFIX = "-r2"
FRONT_SUFFIX = "-global"
STATE_FILE = "regions.json"
REGION_NAMES = ("r1", "r2")


@dataclass(frozen=True)
class Regions:
    primary: Twin   # r1: the twin the user named
    standby: Twin   # r2
    front: Twin

    @classmethod
    def of(cls, twin: Twin) -> "Regions":
        """The region set whose first region is ``twin`` (names and networks follow from it)."""
        if twin.name.endswith((STANDBY_SUFFIX, FRONT_SUFFIX)):
            raise UsageError(f"twin {twin.name!r} is a region or front of another twin",
                             hint=f"name the first region's twin (without {STANDBY_SUFFIX} or {FRONT_SUFFIX})")
        if twin.net + 2 > 255:
            raise UsageError(f"twin {twin.name!r} on network {twin.net}: two regions need networks "
                             f"{twin.net + 1} and {twin.net + 2} too", hint="use GAMEDAY_SANDBOX_NET below 254")
        return cls(primary=twin, standby=Twin.create(twin.name + STANDBY_SUFFIX, twin.net + 1),
                   front=Twin.create(twin.name + FRONT_SUFFIX, twin.net + 2))

    @property
    def regions(self) -> dict[str, Twin]:
        return {"r1": self.primary, "r2": self.standby}

    def twin(self, region: str) -> Twin:
        try:
            return self.regions[region]
        except KeyError:
            raise UsageError(f"no region {region!r}", hint=f"the regions are {', '.join(REGION_NAMES)}") from None

    def twins(self) -> list[Twin]:
        """Every twin of the set, in start order: the active region, the standby (it replicates from
        the active one), the front last (it needs both regions' load balancers)."""
        active = self.active()
        return [self.twin(active), self.twin("r2" if active == "r1" else "r1"), self.front]

    def configured(self) -> bool:
        """True when ``up --regions 2`` made this set (the front's state file exists)."""
        return (self.front.paths.home / STATE_FILE).exists()

    # ---- which region is active ------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """``{"active": "r1", "history": [{"at": ..., "active": ..., "why": ...}]}``."""
        f = self.front.paths.home / STATE_FILE
        if not f.exists():
            return {"active": "r1", "history": []}
        return json.loads(f.read_text())

    def active(self) -> str:
        return self.state()["active"]

    def standby_region(self) -> str:
        return "r2" if self.active() == "r1" else "r1"

    def record_active(self, region: str, why: str) -> dict[str, Any]:
        """Write ``region`` as the active one (atomically); the front member reads it at start."""
        self.twin(region)
        state = self.state()
        state["active"] = region
        state["history"] = [*state.get("history", []), {"at": time.time(), "active": region, "why": why}][-50:]
        self.front.paths.home.mkdir(parents=True, exist_ok=True)
        f = self.front.paths.home / STATE_FILE
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(f)
        return state

    # ---- shapes ----------------------------------------------------------------------------------
    def front_shape(self) -> Shape:
        return Shape(role="front", region="global", regions=[
            {"region": r, "twin": t.name, "net": t.net} for r, t in self.regions.items()])

    def write_shapes(self) -> None:
        """r1 a full region, r2 its warm standby, the front: what ``up`` builds (kept once written:
        after a failover the shapes say who replicates from whom)."""
        if not (self.primary.paths.home / "shape.json").exists():
            Shape(region="r1").save(self.primary.paths)
        if not (self.standby.paths.home / "shape.json").exists():
            Shape.standby_of("r2", Upstream(twin=self.primary.name, net=self.primary.net, region="r1"),
                             index=2).save(self.standby.paths)
        self.front_shape().save(self.front.paths)

    def reload(self) -> "Regions":
        """The same set with each twin's shape read again (after :meth:`write_shapes`)."""
        return Regions(primary=Twin.create(self.primary.name, self.primary.net),
                       standby=Twin.create(self.standby.name, self.standby.net),
                       front=Twin.create(self.front.name, self.front.net))


Progress = Callable[[str, str, dict[str, Any]], None]


def up(regions: Regions, *, timeout: float = 300.0, progress: Progress | None = None,
       announce: Callable[[str], None] = lambda _line: None) -> dict[str, Any]:
    """Bring the three twins up (idempotent), r1 and r2 first, then link the standby to its upstream
    (its database replicating, :func:`gameday.sandbox.db_region.link`) and start the front.
    Returns ``{"seconds": {twin: s}, "link": {...}, "active": region}``."""
    from . import db_region, lifecycle, topology
    regions.write_shapes()
    if not (regions.front.paths.home / STATE_FILE).exists():
        regions.record_active("r1", "regions created")
    regions = regions.reload()
    seconds: dict[str, float] = {}
    link: dict[str, Any] = {}
    for twin in regions.twins():
        announce(f"{twin.name} ({twin.shape.role} {twin.shape.region}) on 127.{twin.net}.x.y")
        result = lifecycle.up(twin.paths, topology.build(twin), prepare=lambda t=twin: topology.prepare(t),
                              timeout=timeout, progress=progress or (lambda *_: None))
        seconds[twin.name] = round(result.seconds, 1)
        if twin.shape.standby:
            link = db_region.link(twin)
    return {"seconds": seconds, "link": link, "active": regions.active()}


def down(regions: Regions, *, wipe: bool = False) -> list[Any]:
    """Take the front and both regions down (the front first: readers stop before the regions)."""
    from . import lifecycle
    return [lifecycle.down(t.paths, wipe=wipe) for t in reversed(regions.twins())]
