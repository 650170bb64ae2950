"""The interface every target offers to chaos actions, probes and playbooks: inventory, faults,
controls, endpoints and credentials of one environment."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..content import ARTICLES_TABLE, ContentSchema
from ..errors import GamedayError, UsageError
from .environment import Environment
from .members import LayerView

if TYPE_CHECKING:
    from ..db_client import DbTls
    from ..search_admin import SearchAdmin
    from .front import Front


@dataclass(frozen=True)
class Node:
    """One pod / process of a layer, as the target sees it."""

    name: str
    layer: str
    labels: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    ready: bool = False
    running: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layer": self.layer, "labels": self.labels, "address": self.address,
                "ready": self.ready, "running": self.running}


class Target(abc.ABC):
    """A platform we can hurt and heal. Subclasses: SandboxTarget, KubernetesTarget."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def name(self) -> str:
        return self.env.name

    def limit(self, key: str) -> float:
        return float(self.env.limits[key])

    # ---- inventory -------------------------------------------------------------------------
    @abc.abstractmethod
    def nodes(self, layer: str) -> list[Node]:
        """Every node of a layer, desired ones only, in index order."""

    def check_layers(self) -> None:
        """Raise a UsageError naming the layer when one the target describes has nothing to act on
        (Kubernetes: a namespace with no pod matching the layer's selector). Called before the first
        fault of a game day or an experiment, so a typo touches nothing. The sandbox's layers are its
        supervisor's own: nothing to check."""

    def held(self, layer: str) -> list[str]:
        """Members of a layer kept stopped on purpose that :meth:`nodes` does not list (the sandbox's
        held members). Blast-radius caps count them as down (:mod:`gameday.chaos.caps`). A Kubernetes
        member stopped by a chaos action is counted from its undo record instead: none here."""
        return []

    def node(self, layer: str, name: str) -> Node:
        for n in self.nodes(layer):
            if n.name == name:
                return n
        names = ", ".join(n.name for n in self.nodes(layer)) or "none"
        from ..errors import UsageError
        raise UsageError(f"{self.name}: no {layer} node named {name!r}", hint=f"{layer} nodes: {names}")

    @abc.abstractmethod
    def view(self, layer: str) -> LayerView:
        """The playbooks' view of a layer: every member its baseline wants, held (stopped on purpose)
        and scaled-away ones included, and each workload's replicas now and baseline. A layer with
        no members here (a managed database, the cloud load balancer) has an empty view."""

    # ---- member controls (playbooks; the names come from :meth:`view`) ------------------------------
    @abc.abstractmethod
    def scale(self, workload: str, replicas: int) -> None:
        """Run ``replicas`` of a workload from :meth:`view`; members held on it are no longer held."""

    @abc.abstractmethod
    def start_member(self, member: str) -> None:
        """Start a held member again (a playbook's :meth:`start`)."""

    @abc.abstractmethod
    def stop_member(self, member: str) -> None:
        """Stop a member and keep it stopped (e.g. pause the indexer during a restore)."""

    @abc.abstractmethod
    def replace_member(self, member: str) -> None:
        """Kill a member so the platform starts a fresh one (as deleting a stuck pod does)."""

    # ---- a member's storage (the disk-loss and search-cluster-loss drills) ----------------------
    def check_storage_drill(self, layer: str) -> None:
        """Raise a GamedayError, before anything is touched (no lock, no undo record), unless this
        target can lose and restore the storage of ``layer``'s members. The drills' actions call it
        first (``gameday.chaos.search.actions.lose_search_cluster``)."""
        raise GamedayError(f"{self.name}: the storage-loss drills are not built for targets of kind {self.env.kind!r}; "
                           "nothing was touched")

    def lost_storage(self, layer: str) -> list[str]:
        """Members of ``layer`` whose storage is gone: not formatted, so starting them alone cannot
        bring them back (a Kafka broker without its ``meta.properties``, a search node without its
        data directory). The Kafka and search playbooks ask it in their diagnosis. A target that
        cannot tell answers [] (it claims no loss it cannot see)."""
        return []

    def search_snapshot_repository(self) -> dict[str, Any]:
        """The search cluster's snapshot repository as ``PUT _snapshot/<name>`` takes it
        (``{"type": "fs", "settings": {"location": ...}}``): what the search playbook registers again
        on a cluster rebuilt from nothing. A target that does not know raises a GamedayError."""
        raise GamedayError(f"{self.name}: where the search snapshots live is not known for targets of kind "
                           f"{self.env.kind!r}", hint="register the snapshot repository by hand, then re-run the playbook")

    def set_search_snapshot_schedule(self, *, interval_s: float | None = None, keep: int | None = None) -> dict[str, Any]:
        """Change how often the search cluster is snapshotted and how many scheduled snapshots are
        kept; returns the settings ``{"interval_s", "keep"}``. Only the sandbox twin's schedule is
        gameday's to change: elsewhere the platform takes the snapshots, and this refuses naming it."""
        raise GamedayError(f"{self.name}: on targets of kind {self.env.kind!r} the platform takes the search snapshots "
                           "(Elasticsearch on ECK: a snapshot lifecycle policy, PUT _slm/policy/<name>; OpenSearch: "
                           "a snapshot management policy, POST _plugins/_sm/policies/<name>); nothing was changed",
                           hint="change the schedule in the platform's policy; the game day's preflight reads the "
                                "newest snapshot's age from the cluster whoever took it")

    def lose_member_storage(self, member: str) -> dict[str, Any]:
        """The disk-loss fault: stop ``member`` abruptly, keep it stopped, and destroy its storage
        (data directory, formatting included). Returns ``{"member", "node_id", "data_dir", ...}``.
        Called by ``gameday.chaos.kafka.actions.lose_broker_disk`` and
        ``gameday.chaos.search.actions.lose_search_cluster`` after their undo is recorded."""
        raise GamedayError(f"{self.name}: the disk-loss drill is not built for targets of kind {self.env.kind!r}")

    def lose_layer_storage(self, layer: str, members: list[str]) -> list[dict[str, Any]]:
        """The storage of every one of ``members`` (of ``layer``) lost together: the fault of
        ``gameday.chaos.search.actions.lose_search_cluster``, after its undo is recorded. Here, one
        member after the other (:meth:`lose_member_storage`: each is kept stopped, so none can rejoin
        the others); a target whose members come back by themselves (Kubernetes) loses them all at
        once, so that no fresh member joins one not yet lost. One result per member, in order."""
        return [self.lose_member_storage(member) for member in members]

    def restore_member_storage(self, member: str) -> dict[str, Any]:
        """Give a member whose storage was lost (see :meth:`lost_storage`) empty storage, formatted
        as the platform's own tooling does (Kafka: the cluster id and the member's own node id; search:
        an empty data directory). The member stays stopped; the caller starts it. Returns
        ``{"member", "node_id", "data_dir", ...}``. Used by the Kafka playbook's
        ``restore-broker-storage`` step, the search playbook's ``restore-node-storage`` and the drills' undo."""
        raise GamedayError(f"{self.name}: the disk-loss drill is not built for targets of kind {self.env.kind!r}")

    # ---- a broker's disk full (coverage: kafka-brokers/disk-full) ------------------------------
    def log_disks(self, layer: str) -> list[dict[str, Any]]:
        """The filesystems holding ``layer``'s members' data that this target can see, each
        ``{"member", "mount", "size", "used", "avail" (bytes), "percent", "full", "filler"}``. The
        Kafka playbook's diagnosis reads it (finding ``kafka.disk-full``). A target that cannot tell
        answers [] (on GKE the kubelet's volume stats would say it: not built)."""
        return []

    def check_disk_full_drill(self, layer: str) -> str:
        """The member of ``layer`` whose disk the disk-full drill may fill; a GamedayError, before
        anything is touched, when there is none."""
        raise GamedayError(f"{self.name}: the disk-full drill is not built for targets of kind {self.env.kind!r}; "
                           "nothing was touched")

    def fill_member_disk(self, member: str) -> dict[str, Any]:
        """The disk-full fault: a filler file takes every free block of the filesystem holding
        ``member``'s data, so its next write fails with ENOSPC. Returns its :meth:`log_disks` entry.
        Called by ``gameday.chaos.kafka.actions.fill_broker_disk`` after its undo is recorded."""
        raise GamedayError(f"{self.name}: the disk-full drill is not built for targets of kind {self.env.kind!r}")

    def free_member_disk(self, member: str) -> dict[str, Any]:
        """Give ``member``'s full filesystem room again: ``{"member", "existed", "freed", "usage"}``.
        On GKE the fix is a bigger volume (raise the KafkaNodePool's storage size; Strimzi resizes
        the PVC when its StorageClass allows expansion), which this target does not do for you."""
        raise GamedayError(f"{self.name}: freeing {member}'s disk is not built for targets of kind {self.env.kind!r}",
                           hint="expand its volume: raise the KafkaNodePool's storage size (Strimzi resizes the PVC "
                                "when its StorageClass allows volume expansion), then restart the broker")

    # ---- the database's backups and recovery (the backup, PITR and failover drills) ------------
    def last_db_backup(self) -> dict[str, Any] | None:
        """The newest complete database backup, ``{"id", "at" (epoch seconds), "kind", ...}``, or None
        when there is none. Preflight turns its age into an RPO-exposure warning; the backup
        playbook restores from it. A target that cannot tell raises a GamedayError."""
        raise GamedayError(f"{self.name}: database backups are not known for targets of kind {self.env.kind!r}")

    def take_db_backup(self) -> dict[str, Any]:
        """Take a full database backup now (what the platform's schedule does) and return it as
        :meth:`last_db_backup` describes it."""
        raise GamedayError(f"{self.name}: taking a database backup is not built for targets of kind {self.env.kind!r}")

    def restore_db_to(self, moment: float, *, skip: list[str] | None = None) -> dict[str, Any]:
        """Point-in-time restore: the database as it was at epoch second ``moment`` (the newest
        backup before it, then the change log up to it), then what came after, except the events
        named in ``skip`` (the destructive statement's position). Returns what was done, with timings.
        Used by the db playbook's restore step; the caller verifies the data."""
        raise GamedayError(f"{self.name}: point-in-time restore is not built for targets of kind {self.env.kind!r}")

    def promote_db_replica(self, member: str | None = None) -> dict[str, Any]:
        """Fail the database over: promote its replica (``member``, default the first one) to primary
        and point the site's one database endpoint at it; the old primary is fenced (read-only) until
        :meth:`rebuild_db_replica`. An old primary that still answers is made read-only first and the
        replica catches up with it (a switchover, nothing lost). Returns ``{"old_primary",
        "new_primary", "switchover", "mode", "seconds": {...}}``. Used by the db playbook when the
        primary is lost, and to switch back."""
        raise GamedayError(f"{self.name}: database failover is not built for targets of kind {self.env.kind!r}")

    def db_roles(self) -> dict[str, Any] | None:
        """``{"primary", "replicas", "fenced", "lost", "mode", "epoch"}`` of a database with replicas,
        or None when it has a single server (no failover: the db playbook restarts it)."""
        return None

    def db_failover_state(self) -> dict[str, Any] | None:
        """A managed database's own failover, as its provider reports it (Cloud SQL: ``{"instance",
        "state", "runnable", "zone", "secondary_zone", "in_progress": [operations], ...}``), for the db
        playbook to report and wait for; None where the database has no such thing (the twin's
        MariaDB: :meth:`db_roles` says it all)."""
        return None

    def wait_db_failover(self, timeout_s: float) -> dict[str, Any]:
        """Wait, at most ``timeout_s``, until the failover :meth:`db_failover_state` reports in progress
        is done and the primary serves; the last state."""
        raise GamedayError(f"{self.name}: the database has no failover of its own to wait for")

    def lose_db_primary(self) -> dict[str, Any]:
        """The failover drill's fault: the primary server is lost (killed and kept down; nothing
        restarts it). Returns ``{"member", "mode", ...}``."""
        raise GamedayError(f"{self.name}: the database failover drill is not built for targets of kind "
                           f"{self.env.kind!r}; nothing was touched")

    def repoint_db_endpoint(self) -> dict[str, Any]:
        """Point the site's one database endpoint at the recorded primary (idempotent)."""
        raise GamedayError(f"{self.name}: database failover is not built for targets of kind {self.env.kind!r}")

    def rebuild_db_replica(self, member: str, *, reseed: bool = False) -> dict[str, Any]:
        """Make a running, fenced database server (an old primary back) a replica of the primary: by
        GTID when its history is a prefix of the primary's, else (or with ``reseed``: a replica whose
        replication stopped on an error) re-seeded from the primary. Returns
        ``{"member", "primary", "how", "diverged", ...}``."""
        raise GamedayError(f"{self.name}: database failover is not built for targets of kind {self.env.kind!r}")

    def db_replication(self) -> dict[str, Any]:
        """Replication as each database server reports it: ``{"roles", "endpoint", "members": {name:
        {"answers", "read_only", "replicating", "gtid_current_pos", ...}}}``."""
        raise GamedayError(f"{self.name}: database replication is not known for targets of kind {self.env.kind!r}")

    # ---- the indexer's poison events and dead letters (issue 15, coverage: indexer/poison-message) ----
    CONTENT_TOPIC = "content-events"

    def publish_raw_events(self, values: list[bytes], *, key: bytes) -> list[dict[str, int]]:
        """Publish records to the content topic as they are, bypassing the site (acks=all): the
        poison-event fault (``gameday.chaos.indexer.actions.publish_poison_events``). Returns where
        each landed, ``[{"partition", "offset"}]``. The same Kafka client on every target."""
        from .. import kafka_records
        return kafka_records.publish_raw(self.kafka_bootstrap(), self.CONTENT_TOPIC, values, key=key)

    def content_offsets(self) -> dict[int, int]:
        """The content topic's end offset per partition now (where the next event will land)."""
        from .. import kafka_records
        return kafka_records.end_offsets(self.kafka_bootstrap(), self.CONTENT_TOPIC)

    def dead_letters(self) -> list[dict]:
        """Every record of the indexer's dead-letter topic (``content-events.dlq``) with its headers
        (``gameday.error``, ``gameday.source.partition``, ``gameday.source.offset``, ...); [] when the
        topic does not exist. Read by the indexer playbook's diagnosis and the poison experiment."""
        from .. import kafka_records
        from ..site.dead_letter import dlq_topic
        return kafka_records.read_all(self.kafka_bootstrap(), dlq_topic(self.CONTENT_TOPIC))

    # ---- a web replica that runs but is not ready (coverage: web/replica-not-ready) -------------
    def check_readiness_fault(self) -> None:
        """Raise a GamedayError, before anything is touched (no lock, no undo record), unless this
        target can make one web replica's readiness fail while its process keeps running."""
        raise GamedayError(f"{self.name}: the readiness fault is not built for targets of kind {self.env.kind!r}; "
                           "nothing was touched")

    def make_unready(self, member: str) -> dict[str, Any]:
        """Make the running web replica ``member`` fail its readiness check (``/readyz`` 503) while its
        process stays up, as a wedged pod does; a fresh process (:meth:`replace_member`) is ready
        again. Returns ``{"member", "pid"}``. Called by ``gameday.chaos.web.actions.make_web_pod_unready``
        after its undo (:meth:`make_ready`) is recorded."""
        raise GamedayError(f"{self.name}: the readiness fault is not built for targets of kind {self.env.kind!r}")

    def make_ready(self, member: str) -> dict[str, Any]:
        """Undo :meth:`make_unready`: ``{"member", "existed"}`` (False when it held nothing)."""
        raise GamedayError(f"{self.name}: the readiness fault is not built for targets of kind {self.env.kind!r}")

    # ---- a zone lost (issue 15, drill 5: every member labelled with the zone, at once) -----------
    def check_zone_drill(self) -> None:
        """Raise a GamedayError, before anything is touched (no lock, no undo record), unless this
        target can lose every member of one zone at once and bring them back (:meth:`lose_zone`)."""
        raise GamedayError(f"{self.name}: the zone-loss drill is not built for targets of kind {self.env.kind!r} "
                           "(it is for the sandbox twin and Kubernetes targets); nothing was touched")

    def zones(self) -> tuple[str, ...]:
        """The zones this target's members are labelled with (what a zone drill may name): () here."""
        return ()

    def zone_members(self, zone: str) -> dict[str, list[str]]:
        """Layer -> the members (running or wanted running) whose ``zone`` label is ``zone``
        (:mod:`gameday.zones`); regional members are in no zone. A target without zone labels: {}."""
        return {}

    def lose_zone(self, zone: str) -> dict[str, Any]:
        """The zone fault: every member of ``zone`` (:meth:`zone_members`) stops at once and stays down
        (nothing restarts it), as when a zone's machines are lost; a database primary among them is
        recorded lost, so the replica in another zone can take over. Returns ``{"zone", "members",
        "by_layer", "db_primary_lost"}``. Called by ``gameday.chaos.zone.actions.lose_zone`` after its
        undo (:meth:`restore_zone`, then the db playbook) is recorded."""
        raise GamedayError(f"{self.name}: the zone-loss drill is not built for targets of kind {self.env.kind!r}; "
                           "nothing was touched")

    def restore_zone(self, zone: str, members: list[str]) -> dict[str, Any]:
        """Undo of :meth:`lose_zone`: start ``members`` again (harmless for one already running).
        Returns ``{"zone", "started"}``; rebuilding what failed over is the caller's (the playbooks)."""
        raise GamedayError(f"{self.name}: the zone-loss drill is not built for targets of kind {self.env.kind!r}")

    # ---- a region (issue 16: this environment as one region of a pair, gameday.targets.regions) -------
    def _no_regions(self, what: str) -> GamedayError:
        return GamedayError(f"{self.name}: {what} is not built for targets of kind {self.env.kind!r} (on GKE: "
                            "a Cloud SQL cross-region replica and Strimzi's MirrorMaker 2); nothing was touched")

    def reader_url(self) -> str:
        """Where readers reach the site: :meth:`site_url`, or, for one region of a pair whose global
        front runs, the front (what a game day's load, availability and safeguard measure)."""
        return self.site_url()

    def region_front(self, cfg: dict[str, Any]) -> "Front":
        """The global front an environment's ``regions.front`` describes (``kind: cloud-dns`` here)."""
        from .front import CloudDnsFront
        kind = cfg.get("kind", "twin")
        if kind == "cloud-dns":
            return CloudDnsFront(cfg)
        raise UsageError(f"{self.name}: regions.front.kind {kind!r} is not available on a {self.env.kind} target",
                         hint="kind twin is the sandbox twin's own front; on GKE use kind cloud-dns")

    def region_replication(self) -> dict[str, Any]:
        """This region as the standby: how far behind the active one it is, ``{"db": {...}, "kafka":
        {...}, "caught_up": bool}``, measured on the servers."""
        raise self._no_regions("region replication")

    def wait_region_caught_up(self, timeout: float) -> dict[str, Any]:
        """Wait until this standby region has everything the active one logged (database and Kafka)."""
        raise self._no_regions("region replication")

    def fence_region_writes(self) -> dict[str, Any]:
        """Stop writes in this (active) region: its database read-only. A planned switchover's first step."""
        raise self._no_regions("fencing a region's writes")

    def fence_region_restart(self) -> dict[str, Any]:
        """Whether :meth:`fence_region_writes` would restart this region's database, found out without
        changing anything (a dry run's plan says it): ``{"required": bool | None, "flags": {name:
        bool}, "source": str, ...}``; ``required`` None when it cannot be known."""
        raise self._no_regions("fencing a region's writes")

    def promote_region(self, *, planned: bool) -> dict[str, Any]:
        """Make this standby region the writable one (database promoted; mirroring into it stopped)."""
        raise self._no_regions("promoting a region")

    def resize_region(self, size: str) -> dict[str, Any]:
        """Scale this region to a ``primary``'s or a ``standby``'s size; wait until it is ready."""
        raise self._no_regions("resizing a region")

    def lose_region(self) -> dict[str, Any]:
        """The region fault: every member of this region stops at once and stays down."""
        raise self._no_regions("the region-loss drill")

    def restore_region(self, *, active: bool) -> dict[str, Any]:
        """Undo of :meth:`lose_region`: its members start again; when it is not the ``active`` region its
        database comes back fenced (never a second writable primary)."""
        raise self._no_regions("the region-loss drill")

    def region_lost(self) -> bool:
        """True when :meth:`lose_region` holds this region down."""
        return False

    def rebuild_region_as_standby(self, active: "Target") -> dict[str, Any]:
        """Make this region (an old primary) the standby of ``active``: its database a replica again
        (re-seeded when its history diverged), mirroring from ``active``, caught up."""
        raise self._no_regions("rebuilding a region as the standby")

    # ---- faults ----------------------------------------------------------------------------
    def check_disruption(self, nodes: list[Node]) -> None:
        """Refuse, before any fault, to take all of ``nodes`` down at once when the target's own
        rules forbid it (Kubernetes: PodDisruptionBudgets). Actions that hit several nodes call it
        first, so a fault is never left half-done. The sandbox has no such rules."""

    @abc.abstractmethod
    def kill(self, node: Node) -> float:
        """Kill a node abruptly (SIGKILL / pod delete with grace 0); returns the fault instant."""

    @abc.abstractmethod
    def stop(self, node: Node) -> float:
        """Stop a node and keep it stopped (scale its slot to zero) until :meth:`start`."""

    @abc.abstractmethod
    def start(self, node: Node) -> float:
        """Undo :meth:`stop`."""

    def hold_down(self, node: Node) -> float:
        """A member lost and kept down (the controller-quorum-lost fault,
        ``gameday.chaos.kafka.actions.lose_controller_quorum``): it dies abruptly and nothing
        restarts it until :meth:`start` (the undo its caller records first). Returns the fault
        instant. Here: :meth:`stop` (a Kubernetes pod: its slot scaled away); the sandbox SIGKILLs."""
        return self.stop(node)

    @abc.abstractmethod
    def wait_ready(self, node: Node, timeout: float) -> float:
        """Block until the node (or its replacement) is ready; returns seconds waited."""

    @abc.abstractmethod
    def restart(self, layer: str, *, timeout: float = 300.0) -> list[str]:
        """Rolling restart of a layer, as a deploy does it: one member at a time is replaced
        gracefully and waited for until ready. Returns what was restarted; raises
        DeadlineExceeded when the layer is not all ready again within ``timeout`` seconds."""

    # ---- endpoints (the same admin code runs on every target, for chaos and playbooks alike) ------
    # Each names the layer even while some of its members are down, stopped or scaled away.
    @abc.abstractmethod
    def site_url(self) -> str: ...

    @abc.abstractmethod
    def kafka_bootstrap(self) -> str: ...

    @abc.abstractmethod
    def search_urls(self) -> list[str]: ...

    def search_auth(self) -> tuple[str, str] | None:
        """(username, password) for the search cluster, or None when it needs none."""
        return None

    def publisher_auth(self) -> tuple[str, str] | None:
        """(username, password) of the site's publisher, sent as HTTP basic auth with every publish
        (``POST /api/articles``: the search canary, the chaos editors, Locust's editors), or None when
        the site asks for none (then no Authorization header is sent). The password is registered
        with :mod:`gameday.redact` when read, and is in :meth:`secrets`."""
        return None

    def search_verify(self) -> str | bool:
        """What verifies the search cluster's certificates (``requests``' ``verify=``): the bundle of
        the environment's trusted CAs (:mod:`gameday.targets.trust`), else the system's roots. Call
        it after :meth:`search_urls` (which installs that bundle)."""
        from . import trust
        return trust.verify()

    def search_admin(self, *, timeout: float = 10.0) -> "SearchAdmin":
        """The search cluster's admin API on this target, with its credentials::

            target.search_admin().health()["status"]
        """
        from ..search_admin import SearchAdmin
        urls = self.search_urls()
        return SearchAdmin(urls, timeout=timeout, auth=self.search_auth(), verify=self.search_verify())

    @abc.abstractmethod
    def db_address(self) -> tuple[str, int]: ...

    def content_schema(self) -> ContentSchema:
        """Where the site's content lives in its database (:mod:`gameday.content`): the tables every
        reader of content queries (playbooks, the destroy-content drill, index comparisons, clone
        checks). Here the Python site's ``articles`` table (``ARTICLES_TABLE``)."""
        return ARTICLES_TABLE

    @abc.abstractmethod
    def db_credentials(self) -> tuple[str, str, str]:
        """(user, password, database) of the site's database, read at the moment of use. The
        password is registered with :mod:`gameday.redact` and never leaves this process."""

    def db_tls(self) -> "DbTls":
        """How this target's database is reached over TLS (:class:`gameday.db_client.DbTls`). Here:
        ``verify-identity`` against the environment's trusted CAs (:meth:`search_verify`'s bundle) or
        the system's roots."""
        from ..db_client import DbTls
        verify = self.search_verify()
        return DbTls(ca_file=verify if isinstance(verify, str) else None)

    def db_session_tls(self, *, timeout: float = 5.0) -> dict[str, str]:
        """One connection as the site's user, and what it was: ``{"address": "db.sps.internal:3306", "mode":
        "verify-ca", "version": "TLSv1.3", "cipher": "..."}`` (version and cipher ``""`` when ``disabled``).
        A TLS problem is a :class:`~gameday.db_client.DbTlsError` with the fix; a database that does not
        answer, a GamedayError naming it. The game day's preflight shows it."""
        import pymysql

        from ..db_client import session_tls
        tls, address = self.db_tls(), "{}:{}".format(*self.db_address())
        try:
            with self.db_connect(timeout=timeout) as conn:
                found = session_tls(conn)
        except (pymysql.MySQLError, OSError) as err:
            raise GamedayError(f"the database {address} did not answer as the site's user ({type(err).__name__})",
                               hint="`gameday playbook db` diagnoses it") from None
        return {"address": address, "mode": tls.mode, **found}

    def db_connect(self, *, timeout: float = 5.0, **kwargs: Any) -> Any:
        """A connection to the site's database as the site's user, over TLS as :meth:`db_tls` says
        (:func:`gameday.db_client.connect`, whose keywords it passes on)::

            with target.db_connect(timeout=5) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
        """
        from ..db_client import connect
        return connect(self.db_address(), self.db_credentials(), self.db_tls(), timeout=timeout, **kwargs)

    def flush_site_caches(self, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Empty the site's object cache and ban every page its CDN cached, after the database's
        content changed underneath them (a point-in-time restore, a failover, a region promotion), so
        that no reader is served what the restore removed or changed::

            target.flush_site_caches()
            # {"object_cache": {"members": {"cache-1": {"flushed": True, "keys_before": 812}}},
            #  "cdn": {"members": {"cdn-1": {"banned": True, "objects_before": 40}}}}

        ``None`` for a cache this target has none of. Here: neither is declared, so nothing is done
        (a target that has them overrides this); raises GamedayError when a cache it has does not answer.
        ``timeout_s``: the longest it may wait for a cache to say it is done (a playbook step's time left)."""
        return {"object_cache": None, "cdn": None}

    def site_caches(self) -> dict[str, list[str] | None]:
        """What :meth:`flush_site_caches` would empty, found without changing anything (a dry run's
        plan): ``{"object_cache": [names], "cdn": [names]}``, ``None`` for a cache this target has
        none of. Here: neither is declared."""
        return {"object_cache": None, "cdn": None}

    # ---- the site's media (WordPress uploads): the media-lost drill, gameday.recovery.layers.media ----
    MEDIA_HINT = "the media drill runs on a WordPress twin: gameday sandbox up --web wordpress"

    def _no_media(self, what: str) -> GamedayError:
        return GamedayError(f"{self.name}: {what} is not built for targets of kind {self.env.kind!r}",
                            hint=self.MEDIA_HINT)

    def no_media_store(self) -> str:
        """Why :meth:`has_media` is False, for the error of an activity that needs the media store. Here:
        the media drill is not built for this kind of target (on GKE the uploads would sit on a
        ReadWriteMany volume or a bucket that gameday does not reach yet)."""
        return f"the media drill is not built for targets of kind {self.env.kind!r}: gameday reaches no media store here"

    def has_media(self) -> bool:
        """Whether this target keeps the site's media (WordPress uploads) where it can back them up,
        lose and restore them. Here: none declared."""
        return False

    def last_media_backup(self) -> dict[str, Any] | None:
        """The newest complete media backup, ``{"id", "at" (epoch seconds), "kind", "files", "bytes",
        "where"}``, or None when there is none (preflight can judge its age as the database backup's:
        :func:`gameday.measure.backup_age.media_backup_age`). Raises GamedayError when it cannot tell."""
        raise self._no_media("a media backup")

    def take_media_backup(self) -> dict[str, Any]:
        """Back the uploads up now (what the platform's schedule does); returns it as :meth:`last_media_backup`."""
        raise self._no_media("taking a media backup")

    def media_backup_manifest(self, backup_id: str) -> dict[str, dict[str, Any]]:
        """Backup ``backup_id``'s manifest: ``{path under uploads/: {"sha256", "size"}}``."""
        raise self._no_media("a media backup's manifest")

    def media_files(self) -> dict[str, dict[str, Any]]:
        """The uploads store now, as a manifest: ``{path under uploads/: {"sha256", "size"}}``."""
        raise self._no_media("reading the media store")

    def media_attachments(self) -> list[dict[str, Any]]:
        """Every attachment row of the site's WordPress database with its file (``_wp_attached_file``):
        ``[{"id", "file", "title"}]`` (:func:`gameday.media.attachments`)."""
        if self.content_schema().name != "wordpress":
            raise GamedayError(f"{self.name}: the site is not WordPress ({self.content_schema().label}): no attachment rows")
        from ..media import attachments
        return attachments(self.db_connect, where="the database {}:{}".format(*self.db_address()))

    def lose_media(self, fraction: float = 1.0) -> list[str]:
        """The media-lost fault: delete ``fraction`` of the uploaded files; returns their paths."""
        raise self._no_media("losing media")

    def restore_media(self, backup_id: str | None = None) -> dict[str, Any]:
        """Copy back from backup ``backup_id`` (default the newest) every file missing or changed, each
        checked against the manifest's checksum: ``{"backup", "at", "restored", "unchanged", "bytes", "seconds"}``."""
        raise self._no_media("restoring media")

    def media_url(self, path: str) -> str:
        """Where a reader fetches the uploaded file ``path`` (relative to uploads/)."""
        from urllib.parse import quote
        return f"{self.reader_url().rstrip('/')}/wp-content/uploads/{quote(path)}"

    def object_cache_status(self) -> dict[str, Any] | None:
        """The site's object cache as its servers count it, for the cache-lost drill and its playbook::

            target.object_cache_status()
            # {"members": {"cache-1": {"running": True, "answers": True, "keys": 812, "hits": 4031,
            #                          "misses": 377}}}

        ``None`` when this target has no object cache; a member that does not answer has ``answers``
        False and ``error`` (never raised: its absence is what the drill measures). Here: none declared."""
        return None

    def front_door_url(self) -> str:
        """Where the site's readers arrive from outside: its CDN's address when one is in front of the
        load balancer and answering, else :meth:`reader_url` (the CDN-lost drill loads and probes the
        site here, and measures the origin at :meth:`site_url` beside it). Here: no CDN declared."""
        return self.reader_url()

    def cdn_status(self) -> dict[str, Any] | None:
        """The site's CDN as its edges count requests since they started, for the CDN-lost drill and
        its playbook::

            target.cdn_status()
            # {"members": {"cdn-1": {"running": True, "ready": True, "answers": True, "hits": 812,
            #                        "misses": 377, "passes": 20, "objects": 300, "uptime_s": 41}}}

        ``None`` when this target has no CDN it can read; an edge that does not answer has ``answers``
        False and ``error`` (never raised). Here: none declared."""
        return None

    def web_pool_status(self) -> dict[str, Any] | None:
        """Each web replica's worker pool (PHP-FPM) as its own status page counts it, for the drill of
        a pool exhausted behind a slow database::

            target.web_pool_status()
            # {"members": {"web-1": {"running": True, "answers": True, "active": 8, "idle": 0, "total": 8,
            #                        "listen_queue": 12, "max_children_reached": 3, ...}}}
            # a status page that did not answer in time: {"answers": False, "why": "...", "listen_queue": 12}

        ``None`` when this target cannot read its replicas' pools. Here: none declared."""
        return None

    def db_counters(self, names: tuple[str, ...] = ("Questions", "Com_select")) -> dict[str, Any]:
        """The database's cumulative counters ``names`` from ``SHOW GLOBAL STATUS`` (as the site's
        user, at :meth:`db_address`), with the moment they were read: ``{"at": time.time(),
        "Questions": 81234, "Com_select": 60211}``. Two readings give a load per second
        (:mod:`gameday.db_load`). Raises GamedayError when the database does not answer."""
        from ..db_load import read_counters
        return read_counters(self.db_connect, names, where="{}:{}".format(*self.db_address()))

    def health_check(self, layer: str) -> dict[str, Any]:
        """How ``layer``'s members say they are healthy, ``{"path", "port", "scheme"}``: the
        environment's ``health.<layer>``, else the platform's defaults (``/readyz`` over http on
        port 80 for the web tier)."""
        return self.env.health_check(layer)

    def versions(self) -> dict[str, str]:
        """Versions of the platform's software this target knows without asking it (for the report)."""
        return {}

    def secrets(self) -> list[str]:
        """The secret values this target reads (for :mod:`gameday.redact`); never print them."""
        return []

    def check_tools(self) -> None:
        """Raise NotInstalled naming what this machine lacks to act on the target (the sandbox: the
        twin's servers). A cluster needs nothing local beyond the Python packages."""

    @abc.abstractmethod
    def toxiproxy_api(self) -> str | None:
        """The network-fault API, or None where network faults are not available."""
