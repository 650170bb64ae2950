"""The default twin: which workloads, in which order, each prepared by its layer module.

The web tier is the twin's shape's ``web`` (``gameday sandbox up --web``, :mod:`.shape`): the Python
sample site (the default: ``web``, ``indexer`` and ``bootstrap`` of :mod:`.members.site`) or WordPress
(issue 17, in progress): ``cache-1`` (Redis, the object cache), ``wp-bootstrap-1`` (install WordPress,
seed the catalogue, the content views) after the database and the cache, ``bootstrap-1`` after it
(topics, snapshot repository, the search index filled from WordPress), ``web-1..3`` running the
WordPress replica (php-fpm + nginx, :mod:`.members.wordpress`; named as the Python site's members,
since HAProxy's slots, ``scale web`` and the chaos actions use the names), the indexer without its own
outbox relay, and ``relay-1`` and ``relay-2`` (the Java outbox relay, :mod:`.members.event_relay`: one
relays, the other stands by on its database lock and takes over when the first stops or its zone is
lost) on the event path. With ``--kubernetes`` web and the indexer are Deployments
(:mod:`gameday.kube.workloads`: each WordPress pod renders its own configs) and ``cache-1`` and the
relay stay supervisor members outside the cluster (Memorystore and a worker beside GKE).

In a region set (:mod:`.regions`) a warm standby's database is a read-only replica of the active
region's: the standby declares no ``wp-bootstrap`` (WordPress's install and content arrive by
replication), its ``bootstrap-1`` fills the index from the replicated content, and its relay is at 0
replicas (it would send the replicated unsent rows into the standby's Kafka and fail to mark them);
:mod:`.region_control` scales the relay up on promotion and down again when a region becomes a standby.
"""

from __future__ import annotations

from .members import cdn, db, event_relay, kafka, lb, redis_cache, search, site, toxiproxy, wordpress
from .spec import Topology
from .twin import Twin


def build(twin: Twin, *, kubernetes: bool = False) -> Topology:
    """The twin's desired state (nothing is started or written); ``kubernetes`` adds the control
    plane and the node agent (:mod:`gameday.kube.members`). Its shape (:mod:`.shape`) says how big:
    a standby region also runs MirrorMaker 2; the global front runs only its HAProxy."""
    if twin.shape.role == "front":
        from .members import front
        return Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, workloads=[front.workload(twin)])
    topology = Topology(
        name=twin.name,
        sandbox_id=twin.paths.sandbox_id,
        workloads=[
            toxiproxy.workload(twin),
            db.workload(twin),
            *([] if kubernetes else [db.replica_workload(twin)]),  # the Kubernetes twin keeps one db pod
            kafka.workload(twin),
            search.workload(twin),
            *(_wordpress_tier(twin) if twin.shape.wordpress else [site.bootstrap(twin), site.web(twin)]),
            site.indexer(twin),
            lb.workload(twin),
            *([] if kubernetes else [cdn.workload(twin)]),  # the CDN stand-in before lb (not yet what load targets)
        ],
    )
    if twin.shape.in_region_set:  # MirrorMaker from the other region: running while this one is the standby
        from .members import mirror
        topology.workloads.append(mirror.workload(twin))
    if not kubernetes:  # the database's backups and the search snapshots on a schedule (on Kubernetes: the
        # platform's own; the twin's search snapshots run as Deployment search-snapshot, gameday.kube.schedules)
        from . import db_backup_schedule, search_snapshot_schedule
        topology.workloads += [db_backup_schedule.workload(twin), search_snapshot_schedule.workload(twin)]
        if twin.shape.wordpress:  # the uploads too (on GKE: a versioned bucket or Filestore backups)
            from . import media_backup_schedule
            topology.workloads.append(media_backup_schedule.workload(twin))
    if kubernetes:
        from ..kube import members as kube
        from ..kube import workloads as kube_workloads
        topology.workloads += kube.workloads(twin)
        kube_workloads.adopt(topology, twin, str(kube.kubeconfig_path(twin)))  # web runs as a Deployment
    return topology


RELAY_REPLICAS = 2  # relay-1 (zone-a) relays, relay-2 (zone-b) stands by on the relay's database lock (D8)


def relay_replicas(twin: Twin) -> int:
    """How many relays run in ``twin``: :data:`RELAY_REPLICAS`, none in a standby region (its database
    is a read-only replica: the relay would send the replicated unsent rows into the standby's Kafka
    and fail to mark them)."""
    return 0 if twin.shape.standby else RELAY_REPLICAS


def _wordpress_tier(twin: Twin) -> list:
    """The WordPress web tier's workloads in start order (see the module)."""
    return [
        redis_cache.workload(twin),
        # a standby's WordPress is installed and seeded by replication: no install job on a read-only replica
        *([] if twin.shape.standby else [wordpress.bootstrap(twin, after=["toxiproxy", "db", redis_cache.WORKLOAD])]),
        site.bootstrap(twin),  # after wp-bootstrap too: the index is filled from WordPress
        wordpress.workload(twin, name="web", after=["bootstrap", "toxiproxy", redis_cache.WORKLOAD]),
        event_relay.workload(twin, replicas=relay_replicas(twin), after=["bootstrap"]),  # topics made, outbox there
    ]


def prepare(twin: Twin, *, kubernetes: bool = False) -> None:
    """Write configs and initialise data directories that do not exist yet (keeps existing data);
    the twin's host names go into /etc/hosts (:mod:`.names`), its TLS front's certificate is made
    (:mod:`.tls`, by the lb layer); with ``kubernetes``, the admin context joins the user's kubeconfig."""
    from . import db_roles, names
    from .shape import FILE as SHAPE_FILE
    twin.paths.ensure()
    twin.record_net()  # refused when the twin was started on another network
    if not (twin.paths.home / SHAPE_FILE).exists():  # its web tier is kept from its first up: a later default
        twin.shape.save(twin.paths)                # (shape.WEB_TIERS) never changes a twin that exists
    if twin.shape.role == "front":
        from .members import front
        names.write_hosts(twin)
        front.prepare(twin)
        return
    if twin.shape.standby:  # its database is a copy of the upstream's: the same users and passwords
        from . import db_region
        db_region.share_credentials(twin)
    names.write_hosts(twin)
    twin.db_password()
    twin.db_replication_password()
    twin.search_password()
    db_roles.ensure(twin)  # the database's roles and replication mode (GAMEDAY_DB_REPLICATION), read below
    toxiproxy.prepare(twin)
    db.prepare(twin, replica=not kubernetes)
    from . import search_snapshot_schedule
    search_snapshot_schedule.ensure(twin)  # GAMEDAY_SEARCH_SNAPSHOT_INTERVAL_S/_KEEP: its member, or its pod on Kubernetes
    if not kubernetes:  # GAMEDAY_DB_BACKUP_INTERVAL_S/_KEEP (on Kubernetes the database's backups are the platform's)
        from . import db_backup_schedule
        db_backup_schedule.ensure(twin)
        if twin.shape.wordpress:  # GAMEDAY_MEDIA_BACKUP_INTERVAL_S/_KEEP
            from . import media_backup_schedule
            media_backup_schedule.SCHEDULE.ensure(twin)
    for layer in (kafka, search, lb):
        layer.prepare(twin)
    if twin.shape.wordpress:  # NotInstalled (naming the install command) when the relay or the front end is not built
        event_relay.prepare(twin)
        redis_cache.prepare(twin)
        wordpress.prepare(twin, **wordpress_options(twin, with_cdn=not kubernetes))
    if not kubernetes:
        cdn.prepare(twin)
    if twin.shape.in_region_set:
        from .members import mirror
        mirror.prepare(twin)
    if kubernetes:
        from ..kube import members as kube
        kube.prepare(twin)


def wordpress_options(twin: Twin, *, with_cdn: bool = True) -> dict:
    """The twin's :func:`wordpress.prepare` arguments (its object cache, the site addresses it answers as
    itself: a region's global front, the public front door before the CDN (its readers come in by that
    host), the TLS name, and its CDN's edges to purge when it runs one: ``with_cdn``);
    :func:`wordpress.settings` of them is what its ``wp-config.php`` says."""
    return {"cache_addr": redis_cache.addr(twin),
            "also_homes": [*_front_urls(twin), lb.front_door_url(twin), _tls_site(twin)],
            "cdn_purge": cdn.purge_addrs(twin) if with_cdn else []}


def _front_urls(twin: Twin) -> list[str]:
    """The site addresses of the global front before ``twin`` when it is a region of a set (its address
    and its host name, :mod:`.names`), none otherwise: readers who came in through the front are
    answered as the front (D5), not redirected to the region's own load balancer."""
    from . import names
    from .members.front import of_region
    from .twin import PORTS
    front = of_region(twin)
    return [] if front is None else [front.lb_url, f"http://{names.site_host(front)}:{PORTS['lb']}"]


def _tls_site(twin: Twin) -> str:
    """The twin's TLS front (``https://site.<twin>.gameday.test``, HAProxy on :443, :mod:`.members.lb`):
    WordPress answers a reader who came in by that name as that site (D5: the Kubernetes rehearsal's
    ``site_url``), not with a redirect to the load balancer's plain-HTTP address."""
    from . import names
    return f"https://{names.site_host(twin)}"
