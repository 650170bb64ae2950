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
from .members import front as front_member
from .shape import Shape, Upstream
from .twin import Twin

STANDBY_SUFFIX = "-r2"
FRONT_SUFFIX = front_member.SUFFIX  # "-global"
STATE_FILE = front_member.STATE_FILE
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

    @classmethod
    def containing(cls, twin: Twin) -> "Regions":
        """The region set ``twin`` belongs to, whichever of its twins it is (r1, r2 or the front)."""
        for suffix, offset in ((STANDBY_SUFFIX, 1), (FRONT_SUFFIX, 2)):
            if twin.name.endswith(suffix):
                return cls.of(Twin.create(twin.name[: -len(suffix)], twin.net - offset))
        return cls.of(twin)

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
        if not front_member.state_file(self.front).exists():
            return {"active": "r1", "history": []}
        return front_member.read_state(self.front)

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
        f = front_member.state_file(self.front)
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(f)
        return state

    # ---- shapes ----------------------------------------------------------------------------------
    def front_shape(self, primary_size: dict[str, int]) -> Shape:
        return Shape(role="front", region="global", primary_size=primary_size, regions=[
            {"region": r, "twin": t.name, "net": t.net} for r, t in self.regions.items()])

    def primary_size(self) -> Shape:
        """The size an active region is scaled to (a failover's or switchover's scale-up): r1's when
        the set was made (:meth:`write_shapes`), kept in the front's shape; a full twin's
        (``Shape()``) for a set made before it was kept."""
        front = Shape.load(self.front.paths)
        return Shape(**(front.primary_size if front.role == "front" else {}))

    def write_shapes(self, primary: Shape | None = None) -> None:
        """r1 a full region (``primary``'s size and web tier if given, else what r1's own shape says, a
        full twin's for a new twin), r2 its warm standby with r1's web tier, the front: what ``up``
        builds (kept once written: after a failover the shapes say who replicates from whom, and the
        front keeps r1's first size as the set's primary size). A twin's shape that is not yet part of a
        set (no peer, no upstream: a one-region twin, or only its web tier recorded by ``sandbox up
        --web``) is made the set's region, keeping its web tier::

            Regions.of(twin).write_shapes(Shape(web_replicas=2, indexer_replicas=1, search_nodes=2))
            up(Regions.of(twin))     # r1 starts with 2 web, 1 indexer, 2 search nodes; so does a promoted r2
        """
        r1 = _own_shape(self.primary)
        if r1 is None or not r1.in_region_set:
            base = primary or r1 or Shape()
            Shape(region="r1", peer=Upstream(twin=self.standby.name, net=self.standby.net, region="r2"),
                  web=base.web, **base.size()).save(self.primary.paths)
        web = Shape.load(self.primary.paths).web
        r2 = _own_shape(self.standby)
        if r2 is None or not r2.in_region_set:
            Shape.standby_of("r2", Upstream(twin=self.primary.name, net=self.primary.net, region="r1"),
                             index=2, web=web).save(self.standby.paths)
        if (self.front.paths.home / "shape.json").exists():  # a set made before: its size (a full twin's if unsaid)
            size = self.primary_size().size()
        else:  # a new set: r1's as made (r1 may be scaled down later; the set's primary size is not)
            size = Shape.load(self.primary.paths).size()
        self.front_shape(size).save(self.front.paths)

    def web_tier(self) -> str:
        """The set's web tier (:data:`gameday.sandbox.shape.WEB_TIERS`); a UsageError when its two
        regions' shapes name different ones (a region set runs one: the standby's database is a copy
        of the active region's, WordPress's or the Python site's)."""
        tiers = {region: Shape.load(t.paths).web for region, t in self.regions.items()}
        if len(set(tiers.values())) > 1:
            raise UsageError(f"the regions of {self.primary.name} run different web tiers: "
                             + ", ".join(f"{r} {w}" for r, w in tiers.items()),
                             hint=f"take the set down and wipe it (`gameday sandbox --name {self.primary.name} "
                                  "down --wipe`), then up --regions 2 with one --web")
        return tiers["r1"]

    def reload(self) -> "Regions":
        """The same set with each twin's shape read again (after :meth:`write_shapes`)."""
        return Regions(primary=Twin.create(self.primary.name, self.primary.net),
                       standby=Twin.create(self.standby.name, self.standby.net),
                       front=Twin.create(self.front.name, self.front.net))


def _own_shape(twin: Twin) -> Shape | None:
    """``twin``'s shape as its home holds it, None when it has none."""
    return Shape.load(twin.paths) if (twin.paths.home / "shape.json").exists() else None


Progress = Callable[[str, str, dict[str, Any]], None]


def up(regions: Regions, *, timeout: float = 300.0, progress: Progress | None = None,
       announce: Callable[[str], None] = lambda _line: None) -> dict[str, Any]:
    """Bring the three twins up (idempotent): the active region, then the standby, then the front.
    The standby's database is linked to its upstream (:func:`gameday.sandbox.db_region.link`:
    replicating and caught up, re-seeded if it must be) as soon as it answers, before the standby's
    bootstrap job, which waits for the replicated articles (WordPress's content when the set's web
    tier is WordPress: the standby runs no WordPress install of its own) to fill the standby's index;
    then each region's indices get the replicas its search nodes can hold (none on one node, one on two:
    green, not yellow). Returns ``{"seconds": {twin: s}, "link": {...}, "active": region, "replicas":
    {index: n}}`` (the standby's changes)."""
    from . import db_region, db_roles, lifecycle, search_resize, topology
    for twin in (regions.primary, regions.standby, regions.front):  # each on its own network, before anything
        twin.claimed_net(twin.net, f"the region set's {twin.name!r} (network {twin.net})",
                         f"start the set with the network its twins were made on, or `GAMEDAY_SANDBOX_NET= gameday "
                         f"sandbox --name {twin.name} down --wipe` first")
    regions.write_shapes()
    regions.web_tier()  # one tier in both regions, or a UsageError before anything starts
    if not front_member.state_file(regions.front).exists():
        regions.record_active("r1", "regions created")
    regions = regions.reload()
    seconds: dict[str, float] = {}
    link: dict[str, Any] = {}
    replicas: dict[str, int] = {}
    report = progress or (lambda *_: None)
    for twin in regions.twins():
        announce(f"{twin.name} ({twin.shape.role} {twin.shape.region}) on 127.{twin.net}.x.y")

        def watch(member: str, state: str, view: dict[str, Any], twin=twin) -> None:
            report(member, state, view)
            if twin.shape.standby and not link and state == "ready" and member == db_roles.load(twin).primary:
                link.update(db_region.link(twin))
        result = lifecycle.up(twin.paths, topology.build(twin), prepare=lambda t=twin: topology.prepare(t),
                              timeout=timeout, progress=watch)
        seconds[twin.name] = round(result.seconds, 1)
        if twin.shape.standby and not link:
            link.update(db_region.link(twin))
        if twin.shape.role == "region":  # each region's indices with the replicas its nodes can place:
            # green, not yellow (a one-node standby: none; an active region made at two nodes: one)
            fitted = search_resize.fit_replicas(twin, nodes=twin.shape.search_nodes)
            if twin.shape.standby:
                replicas = fitted
    return {"seconds": seconds, "link": link, "active": regions.active(), "replicas": replicas}


def down(regions: Regions, *, wipe: bool = False) -> list[tuple[Twin, Any]]:
    """Take the front and both regions down (the front first: readers stop before the regions);
    ``[(twin, DownResult)]`` in that order."""
    from . import lifecycle
    order = list(reversed(regions.twins()))  # read before a wipe removes the front's state
    return [(t, lifecycle.down(t.paths, wipe=wipe)) for t in order]
