"""How big one twin is and what it is for: a full region (the default), a warm standby region, or the
global front. Kept beside the twin's state as ``<home>/shape.json``, so every process that makes a
:class:`~gameday.sandbox.twin.Twin` by name sees the same shape::

    shape = Shape.load(paths)              # Shape() (a full region, r1) when the file does not exist
    Shape.standby("r2", upstream).save(paths)

A standby is smaller than the primary (one web replica, one indexer, one search node, no in-region
database replica) and replicates from its ``upstream`` twin: the database as a cross-region replica,
Kafka through MirrorMaker 2 (:mod:`gameday.sandbox.regions`). Scaling it up to a primary's size is
``gameday sandbox scale`` of each workload, as on any twin.

``web`` is the twin's web tier, chosen at ``gameday sandbox up --web`` (:data:`WEB_TIERS`): ``python``
(the sample site, :mod:`gameday.sandbox.members.site`; the default) or ``wordpress`` (the platform's
stack, issue 17: WordPress on PHP-FPM, its object cache, its bootstrap job and the Java outbox relay,
:mod:`gameday.sandbox.topology`). Only the twin's package reads it; everything else asks the twin
(``Twin.content_schema()``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .paths import SandboxPaths

FILE = "shape.json"
ROLES = ("region", "front")
WEB_TIERS = ("python", "wordpress")  # what `sandbox up --web` accepts; the first is the default


@dataclass(frozen=True)
class Upstream:
    """The twin a standby replicates from (the active region when it was linked)."""

    twin: str
    net: int
    region: str


@dataclass(frozen=True)
class Shape:
    role: str = "region"          # "region": a twin of the platform; "front": the global front only
    region: str = "r1"            # the region's name (MirrorMaker's cluster alias too)
    web_replicas: int = 3
    indexer_replicas: int = 2
    search_nodes: int = 3         # search nodes running at start; the cluster is bootstrapped from them
    db_replicas: int = 1          # in-region database replicas running at start (db-2)
    server_id_base: int = 0       # added to each database member's server id: unique across regions
    upstream: Upstream | None = None  # whom it replicates from now (None: it is the active region)
    peer: Upstream | None = None      # the other region of its set, whichever is active (MirrorMaker's source)
    regions: list[dict] = field(default_factory=list)  # role "front": [{region, twin, net}], in order
    primary_size: dict = field(default_factory=dict)  # role "front": the size an active region is scaled to
    web: str = "python"           # the web tier (WEB_TIERS): the Python sample site or WordPress

    @property
    def wordpress(self) -> bool:
        """True when the twin's web tier is WordPress (``sandbox up --web wordpress``)."""
        return self.web == "wordpress"

    @property
    def standby(self) -> bool:
        return self.upstream is not None

    @classmethod
    def standby_of(cls, region: str, upstream: Upstream, *, index: int, web: str = "python") -> "Shape":
        """A warm standby named ``region`` (the ``index``-th region) replicating from ``upstream``, with
        the web tier ``web`` (its upstream's: a region set runs one tier)."""
        return cls(region=region, web_replicas=1, indexer_replicas=1, search_nodes=1, db_replicas=0,
                   server_id_base=100 * (index - 1), upstream=upstream, peer=upstream, web=web)

    SIZE_FIELDS = ("web_replicas", "indexer_replicas", "search_nodes", "db_replicas")

    def size(self) -> dict[str, int]:
        """``{"web_replicas", "indexer_replicas", "search_nodes", "db_replicas"}`` of this shape."""
        return {k: getattr(self, k) for k in self.SIZE_FIELDS}

    @property
    def in_region_set(self) -> bool:
        return self.peer is not None or self.upstream is not None

    @classmethod
    def load(cls, paths: SandboxPaths) -> "Shape":
        f = paths.home / FILE
        if not f.exists():
            return cls()
        raw = json.loads(f.read_text())
        up, peer = raw.pop("upstream", None), raw.pop("peer", None)
        return cls(upstream=Upstream(**up) if up else None, peer=Upstream(**peer) if peer else None, **raw)

    def save(self, paths: SandboxPaths) -> Path:
        paths.home.mkdir(parents=True, exist_ok=True)
        f = paths.home / FILE
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(f)
        return f
