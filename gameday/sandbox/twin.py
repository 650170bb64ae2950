"""Addresses and shared settings of one twin: every member gets its own loopback address.

Addresses are ``127.<net>.<layer>.<index>``: ``net`` separates twins (the default twin uses 10,
the test suite 20), ``layer`` is fixed per layer (see ``LAYERS``), ``index`` is the replica number.
Ports are the servers' usual ones, since no two members share an address. A twin keeps the network it
was first started on (its home's ``net`` file, :func:`recorded_net`, gone with ``down --wipe``): later
commands find its addresses by its name alone, and one that names another network is refused
(:meth:`Twin.claimed_net`) instead of acting on whatever runs there::

    twin = Twin.create("default")
    twin.address("kafka", 2)        # '127.10.40.2'
    twin.lb_url                     # 'http://127.10.10.1:8080'
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..content import ARTICLES_TABLE, WORDPRESS, ContentSchema
from ..errors import UsageError
from .install import Locations, locations
from .paths import SandboxPaths
from .shape import Shape

LAYERS = {"cdn": 5,  # the CDN stand-in in front of the load balancer (:mod:`.members.cdn`)
          "lb": 10, "web": 20, "db": 30, "kafka": 40, "search": 50, "indexer": 60,
          "events": 65,  # the Java outbox relay (:mod:`.members.event_relay`; a WordPress twin)
          "cache": 66,  # WordPress's object cache, Redis (:mod:`.members.redis_cache`; a WordPress twin)
          "toxiproxy": 70, "jobs": 80,
          "kube": 90,  # the Kubernetes control plane and node agent (``--kubernetes`` only)
          "pods": 100}  # pods of Kubernetes node N: 127.<net>.<100+N>.0/24
DEFAULT_NET = 10
NET_FILE = "net"  # in the twin's home: the network it was first started on

PORTS = {
    "lb": 8080, "lb_stats": 8404, "web": 8000, "db": 3306,
    "front_door": 8081,  # the load balancer's public frontend: the CDN, or the origin when no edge answers
    "kafka": 9092, "kafka_controller": 9093, "kafka_proxied": 9094,
    "kafka_tls": 9095,  # the brokers' TLS listener, advertised by name (kafka-N.<twin>.gameday.test), as Strimzi's tls
    "search": 9200, "search_transport": 9300, "toxiproxy": 8474,
}
KAFKA_NODES = 3
SEARCH_NODES = 3
WEB_REPLICAS = 3
WEB_MAX_REPLICAS = 6
INDEXER_REPLICAS = 2
CONTENT_TOPIC = "content-events"
CANARY_TOPIC = "gameday-canary"
CONTENT_INDEX = "content"
SNAPSHOT_REPOSITORY = "gameday-fs"
SEARCH_USER = "elastic"  # the search cluster's superuser (ECK's name), password :meth:`Twin.search_password`
DB_NAME = "sps"
DB_USER = "sps"
DB_MEMBERS = ("db-1", "db-2")  # the database's members: the primary of a new twin, its replica (members.db)
DB_ENDPOINT_INDEX = 100  # 127.<net>.30.100: the database's stable endpoint (toxiproxy, at the current primary)


@dataclass(frozen=True)
class Twin:
    name: str
    net: int
    paths: SandboxPaths
    loc: Locations
    python: str
    shape: Shape = Shape()  # a full region unless its home says otherwise (:mod:`.shape`, :mod:`.regions`)

    @classmethod
    def create(cls, name: str = "default", net: int | None = None) -> "Twin":
        """The twin ``name``; its network is ``net`` when given, else the one it was started on, else
        ``GAMEDAY_SANDBOX_NET``, else :data:`DEFAULT_NET`."""
        paths = SandboxPaths.for_name(name)
        if net is None:
            net = recorded_net(paths)
        if net is None:
            net = env_net()
        if net is None:
            net = DEFAULT_NET
        return cls(name=name, net=net, paths=paths, loc=locations(), python=sys.executable, shape=Shape.load(paths))

    def claimed_net(self, net: int | None, source: str, fix: str) -> None:
        """Raise a UsageError when ``net`` (what ``source`` says, e.g. an environment's ``net:``) is
        not the network this twin was started on: its addresses would be another twin's. ``fix``: the
        hint. None, or a twin never started, passes."""
        recorded = recorded_net(self.paths)
        if net is not None and recorded is not None and int(net) != recorded:
            raise UsageError(f"{source} says network {net} (127.{net}.x.y), but twin {self.name!r} runs on "
                             f"network {recorded} (127.{recorded}.x.y); nothing was touched", hint=fix)

    def record_net(self) -> None:
        """Keep this twin's network in its home (at its ``up``): refused when it was started on another."""
        self.claimed_net(self.net, f"starting twin {self.name!r} here",
                         f"leave GAMEDAY_SANDBOX_NET unset (the twin keeps its network), or `GAMEDAY_SANDBOX_NET= "
                         f"gameday sandbox --name {self.name} down --wipe` to make it again on another")
        if recorded_net(self.paths) is None:
            self.paths.home.mkdir(parents=True, exist_ok=True)
            f = self.paths.home / NET_FILE
            tmp = f.with_suffix(".tmp")
            tmp.write_text(f"{self.net}\n")
            tmp.replace(f)  # whole or not at all: a torn file would read as "never started"

    def address(self, layer: str, index: int = 1) -> str:
        return f"127.{self.net}.{LAYERS[layer]}.{index}"

    def content_schema(self) -> ContentSchema:
        """Where the twin's web tier keeps its content (:mod:`gameday.content`): WordPress's tables when
        the twin runs WordPress (``sandbox up --web wordpress``, its shape), else the Python site's."""
        return WORDPRESS if self.shape.wordpress else ARTICLES_TABLE

    # ---- well-known endpoints ----------------------------------------------------------------
    @property
    def lb_url(self) -> str:
        return f"http://{self.address('lb')}:{PORTS['lb']}"

    @property
    def toxiproxy_api(self) -> str:
        return f"http://{self.address('toxiproxy')}:{PORTS['toxiproxy']}"

    def kafka_bootstrap(self) -> str:
        """Direct broker addresses (the PLAINTEXT listener), for tools and the indexer."""
        return ",".join(f"{self.address('kafka', i)}:{PORTS['kafka']}" for i in range(1, KAFKA_NODES + 1))

    def kafka_bootstrap_via_proxy(self) -> str:
        """What the web tier uses: each broker's PROXIED listener, through toxiproxy."""
        return ",".join(f"{self.address('toxiproxy')}:{9090 + i}" for i in range(1, KAFKA_NODES + 1))

    def search_urls(self) -> list[str]:
        """Each search node's HTTPS endpoint (certificate from the twin's CA, :meth:`search_ca`;
        user :data:`SEARCH_USER`, :meth:`search_password`)."""
        return [f"https://{self.address('search', i)}:{PORTS['search']}" for i in range(1, SEARCH_NODES + 1)]

    def search_urls_via_proxy(self) -> list[str]:
        """The same nodes through toxiproxy (plain TCP: TLS goes end to end, the node certificate names
        toxiproxy's address)."""
        return [f"https://{self.address('toxiproxy')}:{9200 + i}" for i in range(1, SEARCH_NODES + 1)]

    def search_ca(self) -> str:
        """The CA file that verifies the search nodes (and the TLS front, and the database members): the
        twin's own CA."""
        return str(self.paths.conf / "tls" / "ca.crt")

    def search_auth(self) -> tuple[str, str]:
        """(user, password) of the search cluster's superuser."""
        return SEARCH_USER, self.search_password()

    def db_addr(self) -> str:
        """The database's one stable endpoint: whichever member is the primary (a toxiproxy proxy,
        repointed by a failover, :mod:`gameday.sandbox.db_replication`), as Cloud SQL's IP is."""
        return f"{self.address('db', DB_ENDPOINT_INDEX)}:{PORTS['db']}"

    def db_member_addr(self, index: int = 1) -> str:
        """One database member's own address (``db-<index>``)."""
        return f"{self.address('db', index)}:{PORTS['db']}"

    def db_addr_via_proxy(self) -> str:
        return f"{self.address('toxiproxy')}:{PORTS['db']}"

    # ---- the secrets ---------------------------------------------------------------------------
    @property
    def db_env_file(self):
        return self.paths.secrets / "db.env"

    @property
    def db_replication_env_file(self):
        return self.paths.secrets / "db-replication.env"

    @property
    def search_env_file(self):
        return self.paths.secrets / "search.env"

    def db_password(self) -> str:
        """The CMS database password, generated once per twin and kept in ``secrets/`` (0600)."""
        return _kept_secret(self.db_env_file, "GAMEDAY_DB_PASSWORD")

    def db_replication_password(self) -> str:
        """The password the database replica logs in to its primary with (``secrets/db-replication.env``,
        0600); it reaches the servers only through their init files (0600, owned by mysql)."""
        return _kept_secret(self.db_replication_env_file, "GAMEDAY_DB_REPLICATION_PASSWORD")

    def search_password(self) -> str:
        """The password of search user ``elastic`` (the nodes' security plugin checks it), generated
        once per twin and kept in ``secrets/search.env`` (0600). The nodes read it only when their
        security index is first made (:mod:`gameday.sandbox.members.search`): do not change it."""
        return _kept_secret(self.search_env_file, "GAMEDAY_SEARCH_PASSWORD")

    def site_env(self, *, via_proxy: bool) -> dict[str, str]:
        """Environment for the sample site, the indexer and the seed job (passwords via env files:
        :attr:`db_env_file`, :attr:`search_env_file`)."""
        return {
            "GAMEDAY_DB_ADDR": self.db_addr_via_proxy() if via_proxy else self.db_addr(),
            "GAMEDAY_DB_NAME": DB_NAME,
            "GAMEDAY_DB_USER": DB_USER,
            "GAMEDAY_SEARCH_URLS": ",".join(self.search_urls_via_proxy() if via_proxy else self.search_urls()),
            "GAMEDAY_SEARCH_USER": SEARCH_USER,
            "GAMEDAY_SEARCH_CA": self.search_ca(),
            "GAMEDAY_KAFKA_BOOTSTRAP": self.kafka_bootstrap_via_proxy() if via_proxy else self.kafka_bootstrap(),
            "GAMEDAY_CONTENT_TOPIC": CONTENT_TOPIC,
            "GAMEDAY_CONTENT_INDEX": CONTENT_INDEX,
        }


def _kept_secret(f, key: str, make: Callable[[], str] | None = None) -> str:
    """``key``'s value in the KEY=VALUE file ``f``, made (0600, complete before it appears under its
    name: a concurrent reader never sees it half-written) the first time it is asked for: ``make()``,
    or by default ``secrets.token_urlsafe(18)``."""
    if not f.exists():
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{key}={make() if make else secrets.token_urlsafe(18)}\n")
            try:
                os.link(tmp, f)  # fails if another process made it first: theirs is kept
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    return f.read_text().split("=", 1)[1].strip()


def recorded_net(paths: SandboxPaths) -> int | None:
    """The network the twin at ``paths`` was first started on, or None (never started here, or started
    before twins kept theirs). A file that is not a network number is a UsageError naming it."""
    f = paths.home / NET_FILE
    try:
        text = f.read_text().strip()
    except FileNotFoundError:
        return None
    if not (text.isdigit() and 1 <= int(text) <= 253):
        raise UsageError(f"{f} should hold the network twin {paths.name!r} was started on, not {text[:40]!r}",
                         hint=f"write its network there (the second number of its addresses, 127.<net>.x.y), "
                              f"or `gameday sandbox --name {paths.name} down --wipe` and start it again")
    return int(text)


def env_net() -> int | None:
    """``GAMEDAY_SANDBOX_NET`` (the network of a new twin), None when unset; a UsageError unless 1..253."""
    asked = os.environ.get("GAMEDAY_SANDBOX_NET", "").strip()
    if not asked:
        return None
    if not (asked.isdigit() and 1 <= int(asked) <= 253):
        raise UsageError(f"GAMEDAY_SANDBOX_NET must be a network number 1..253 (127.<net>.x.y), not {asked!r}",
                         hint="e.g. GAMEDAY_SANDBOX_NET=52, or leave it unset (10, or the twin's own)")
    return int(asked)
