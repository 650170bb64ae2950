"""The twin's region controls: what a cloud does to a region, done to one twin of a region set.

Used by the sandbox target's region pair (:mod:`gameday.targets.regions`); every function takes the
:class:`~gameday.sandbox.regions.Regions` set and a region name (``r1``/``r2``)::

    lose(regions, "r1")                    # every member SIGKILLed and held, as a region's machines go
    replication(regions)                   # the standby's database and MirrorMaker lag
    fence_writes(regions, "r1")            # a switchover's first step: r1's database read-only
    promote(regions, "r2", planned=True)   # r2's database writable, MirrorMaker into r2 stopped
    resize(regions, "r2", "primary")       # r2 scaled to the primary's size
    switch_front(regions, "r2")            # readers go to r2
    rebuild_as_standby(regions, "r1")      # r1 (back, or fenced) replicates from the active region
"""

from __future__ import annotations

import time
from typing import Any

import requests

from .. import hostguard
from ..deadline import Deadline, wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from .client import SandboxClient
from .regions import Regions
from .shape import Shape, Upstream
from .twin import Twin

STOP_TIMEOUT = 60.0
REGION_HEADER = "X-Gameday-Region"
SIZES = ("primary", "standby")


def _client(twin: Twin) -> SandboxClient:
    client = SandboxClient(twin.paths)
    if not client.running():
        raise GamedayError(f"region twin {twin.name!r} has no supervisor running",
                           hint=f"start the regions: gameday sandbox --name {twin.name} up")
    return client


def lose(regions: Regions, region: str) -> dict[str, Any]:
    """SIGKILL every running member of ``region``'s twin at once, hold them (the supervisor, standing
    for the cloud's control plane, does not restart them) and wait until each has exited."""
    twin = regions.twin(region)
    client = _client(twin)
    members = [m["name"] for m in client.status()["members"] if m["pid"] is not None]
    started = time.monotonic()
    for name in members:
        try:
            client.kill(name, "KILL", by="chaos")
        except UsageError:
            pass  # it exited between the status and the kill: nothing left to kill
    for name in members:
        client.stop(name, by="chaos")
    deadline = Deadline(STOP_TIMEOUT)
    for name in members:
        client.wait_stopped(name, timeout=max(1.0, deadline.remaining()))
    return {"region": region, "twin": twin.name, "members": members,
            "all_stopped_s": round(time.monotonic() - started, 2), "at": time.time()}


def held(regions: Regions, region: str) -> list[str]:
    """Members of ``region`` held stopped by :func:`lose` (empty when the region runs)."""
    client = _client(regions.twin(region))
    return [m["name"] for m in client.status()["members"] if not m.get("desired", True)
            and m["kind"] == "service" and m["index"] <= _replicas(client).get(m["workload"], 0)]


def _replicas(client: SandboxClient) -> dict[str, int]:
    return {w["name"]: w["replicas"] for w in client.status()["workloads"]}


def _scale_relay(twin: Twin, client: SandboxClient, *, active: bool) -> dict[str, int]:
    """The outbox relay of a WordPress region as its role wants it: :func:`topology.relay_replicas`
    running in the active region (it sends the outbox rows the lost or fenced region never relayed:
    duplicates are deduplicated by version downstream), none in a standby (its database is a read-only
    replica: it would send the replicated unsent rows into the standby's Kafka and fail to mark them).
    ``{"relay": n}`` when it scaled, ``{}`` when nothing changed or the region runs no relay."""
    from .members import event_relay
    from .topology import RELAY_REPLICAS
    if not twin.shape.wordpress:
        return {}
    want = RELAY_REPLICAS if active else 0
    if active:  # a relay held since its region was lost (restore leaves it held at 0 replicas) starts again
        for m in client.status()["members"]:
            if m["workload"] == event_relay.WORKLOAD and m["index"] <= want and m["pid"] is None:
                client.start(m["name"], by="region")
    if _replicas(client).get(event_relay.WORKLOAD, want) == want:
        return {}
    client.scale(event_relay.WORKLOAD, want)
    return {event_relay.WORKLOAD: want}


def region_answers(twin: Twin, *, timeout: float = 2.0) -> bool:
    """True when the region's load balancer serves its home page."""
    try:
        with hostguard.session(refuse=False) as session:  # this region's own answer, a redirect not followed
            return session.get(f"{twin.lb_url}/", timeout=timeout).status_code < 500
    except requests.RequestException:
        return False


def serving_region(regions: Regions, *, timeout: float = 2.0) -> str | None:
    """The region that answered a reader at the front (its ``X-Gameday-Region``), None when none did."""
    try:
        with hostguard.session(refuse=False) as session:
            r = session.get(f"{regions.front.lb_url}/", timeout=timeout)
    except requests.RequestException:
        return None
    return r.headers.get(REGION_HEADER) if r.status_code < 500 else None


def replication(regions: Regions) -> dict[str, Any]:
    """How far the standby region is behind the active one: ``{"active", "standby", "db": {...},
    "kafka": {...}, "caught_up": bool}`` (both measured on the real servers)."""
    from . import db_region, mirror_lag
    standby = regions.twin(regions.standby_region())
    db = db_region.lag(standby)
    kafka = mirror_lag.lag(standby)
    return {"active": regions.active(), "standby": standby.shape.region, "db": db, "kafka": kafka,
            "caught_up": bool(db.get("caught_up")) and kafka.get("behind") == 0}


def wait_caught_up(regions: Regions, *, timeout: float) -> dict[str, Any]:
    """Wait until the standby has everything the active region logged (database and Kafka)."""
    from . import db_region, mirror_lag
    standby = regions.twin(regions.standby_region())
    deadline = Deadline(timeout)
    db_s = db_region.wait_caught_up(standby, timeout=max(1.0, deadline.remaining()))
    kafka_s = mirror_lag.wait_caught_up(standby, timeout=max(1.0, deadline.remaining()))
    return {"db_s": db_s, "kafka_s": kafka_s}


def fence_writes(regions: Regions, region: str) -> dict[str, Any]:
    """Stop writes in ``region``: its database primary read-only (the site's writes are refused from
    now; readers are still served). The first step of a planned switchover."""
    from . import db_region
    return db_region.fence(regions.twin(region))


def promote(regions: Regions, region: str, *, planned: bool) -> dict[str, Any]:
    """Make ``region`` the writable one: its database promoted (:func:`db_region.promote`), the
    MirrorMaker into it stopped (it has nothing to mirror from a lost or fenced region), WordPress's
    outbox relay started (a standby runs none), its shape without an upstream. Its indexer already
    consumes both its own and the mirrored topics."""
    from . import db_region
    twin = regions.twin(region)
    if not twin.shape.standby:
        raise UsageError(f"region {region} ({twin.name}) is not a standby: nothing to promote")
    started = time.monotonic()
    db = db_region.promote(twin, planned=planned)
    client = _client(twin)
    client.scale("mirror", 0)
    scaled = _scale_relay(twin, client, active=True)  # WordPress: its outbox relayed from the writable database
    shape = Shape.load(twin.paths)
    Shape(**{**shape.__dict__, "upstream": None}).save(twin.paths)
    return {"region": region, "planned": planned, "db": db, "scaled": scaled,
            "seconds": round(time.monotonic() - started, 2)}


def _size_of(regions: Regions, size: str) -> Shape:
    if size not in SIZES:
        raise UsageError(f"no size {size!r}", hint=f"sizes: {', '.join(SIZES)}")
    return regions.primary_size() if size == "primary" else Shape.standby_of("r2", Upstream("x", 0, "r1"), index=2)


def resize(regions: Regions, region: str, size: str, *, timeout: float = 300.0) -> dict[str, Any]:
    """Scale ``region``'s workloads to a primary's (or a standby's) size and wait until every member
    is ready. Up: search nodes join the running cluster, the indices get their replicas back, and the
    cluster is waited for until green with no shard moving. Down to a standby's size: web, indexer and
    the in-region database replica at once, then the search nodes one at a time, each after its shards
    moved off and its vote withdrawn, the indices' replicas lowered so the standby's one node is green
    (:func:`gameday.sandbox.search_resize.shrink`); never below the standby shape's nodes.
    Returns ``{"scaled": {workload: n}, "left", "seconds", "search"?, "search_settled_s"?}``."""
    from . import search_resize
    twin = regions.twin(region)
    client = _client(twin)
    want = _size_of(regions, size)
    targets = {"web": want.web_replicas, "indexer": want.indexer_replicas, "search": want.search_nodes,
               "db-replica": want.db_replicas}
    current = _replicas(client)
    shrink_search = size == "standby" and current.get("search", 0) > want.search_nodes
    if shrink_search:
        targets.pop("search")  # node by node below, once the rest is at its size
    started = time.monotonic()
    deadline = Deadline(timeout)
    scaled = {}
    for workload, n in targets.items():
        if workload in current and current[workload] != n:
            client.scale(workload, n)
            scaled[workload] = n
    shape = Shape.load(twin.paths)
    Shape(**{**shape.__dict__, "web_replicas": want.web_replicas, "indexer_replicas": want.indexer_replicas,
             "search_nodes": max(shape.search_nodes, want.search_nodes) if size == "primary" else shape.search_nodes,
             "db_replicas": want.db_replicas}).save(twin.paths)

    def ready() -> bool:
        status = client.status()
        reps = {w["name"]: w["replicas"] for w in status["workloads"]}
        return all(m["ready"] for m in status["members"] if m["kind"] == "service" and m.get("desired", True)
                   and m["index"] <= reps[m["workload"]])
    wait_until(ready, timeout=deadline.remaining(), what=f"region {region} at {size} size to be ready")
    out: dict[str, Any] = {}
    if shrink_search:
        out["search"] = search_resize.shrink(twin, client, target=want.search_nodes, floor=want.search_nodes,
                                             deadline=deadline)
        scaled["search"] = want.search_nodes
        shape = Shape.load(twin.paths)
        Shape(**{**shape.__dict__, "search_nodes": want.search_nodes}).save(twin.paths)
    else:  # replicas fitted to the nodes (a one-node standby's lowered; back to their design on more)
        out["replicas"] = search_resize.fit_replicas(twin, nodes=_replicas(client)["search"])
        if size == "primary" and ("search" in scaled or out["replicas"]):
            out["search_settled_s"] = _search_settled(twin, deadline)
    return {"region": region, "size": size, "scaled": scaled, "left": {},
            "seconds": round(time.monotonic() - started, 2), **out}


def _search_settled(twin: Twin, deadline: Deadline) -> float:
    """Wait, within ``deadline``, until the search cluster that just gained nodes is green with no
    shard relocating or initializing: until then its queries time out while shards move onto the new
    nodes (a switchover that sent readers to r2 at that moment saw its search answer 503 for 3 s).
    Returns the seconds waited."""
    from ..search_admin import SearchAdmin, SearchUnavailable
    api = SearchAdmin(twin.search_urls(), auth=twin.search_auth(), verify=twin.search_ca(), timeout=10)
    started = time.monotonic()
    seen: dict[str, Any] = {}

    def settled() -> bool:
        try:
            seen.update(api.health())
        except SearchUnavailable as err:
            seen["error"] = str(err)
            return False
        return seen.get("status") == "green" and not seen.get("relocating_shards") and \
            not seen.get("initializing_shards")
    try:
        wait_until(settled, timeout=deadline.remaining(), interval=0.5,
                   what=f"{twin.name}'s search cluster to be green with no shard moving")
    except DeadlineExceeded as err:
        last = {k: seen.get(k) for k in ("status", "relocating_shards", "initializing_shards", "error") if k in seen}
        raise DeadlineExceeded(f"{err.message} (last seen: {last})", hint=err.hint) from None
    return round(time.monotonic() - started, 2)


def switch_front(regions: Regions, region: str) -> dict[str, Any]:
    """Send readers to ``region`` (the front's live configuration and its recorded state)."""
    from .members import front
    return front.switch(regions, region)


def restore(regions: Regions, region: str, *, active: bool) -> dict[str, Any]:
    """Release the members :func:`lose` held. Unless ``region`` is still the ``active`` one, its
    database comes back fenced (read-only, not replicating: it must never be a second writable
    primary) until :func:`rebuild_as_standby` makes it a replica, and WordPress's outbox relay stays
    stopped (scaled to 0)."""
    from . import db_region
    twin = regions.twin(region)
    client = _client(twin)
    if not active:
        db_region.fence_on_start(twin)
        _scale_relay(twin, client, active=False)  # not started over a fenced database (held() counts replicas)
    names = held(regions, region)  # replica slots beyond a workload's replicas stay as they are
    for name in names:
        client.start(name, by="chaos")
    return {"region": region, "started": names}


def rebuild_as_standby(regions: Regions, region: str, *, timeout: float = 300.0) -> dict[str, Any]:
    """Make ``region`` (an old primary, back and fenced) the standby of the active region: WordPress's
    outbox relay stopped (scaled to 0), its database a replica again (re-seeded when its history
    diverged, naming the writes only it had), its MirrorMaker started from the active region, and wait
    until both have caught up."""
    from . import db_region
    twin = regions.twin(region)
    active = regions.twin(regions.active())
    if region == regions.active():
        raise UsageError(f"region {region} is the active one: it cannot be its own standby")
    started = time.monotonic()
    shape = Shape.load(twin.paths)
    Shape(**{**shape.__dict__, "upstream": Upstream(twin=active.name, net=active.net, region=active.shape.region)}
          ).save(twin.paths)
    twin = Twin.create(twin.name, twin.net)
    client = _client(twin)
    scaled = _scale_relay(twin, client, active=False)  # before its database becomes a replica
    db = db_region.demote(twin, active)
    client.scale("mirror", 1)
    caught = wait_caught_up(regions.reload(), timeout=timeout)
    return {"region": region, "upstream": active.shape.region, "db": db, "caught_up": caught, "scaled": scaled,
            "seconds": round(time.monotonic() - started, 2)}
