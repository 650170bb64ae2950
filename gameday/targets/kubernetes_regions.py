"""The Kubernetes target as one region of a pair (issue 16, "On GKE"): the database a Cloud SQL
cross-region read replica of the active region's instance, the standby a second cluster named by the
environment's ``regions.standby``. :class:`~gameday.targets.kubernetes.KubernetesTarget` takes these
methods from :class:`KubernetesRegions`; the region playbook (:mod:`gameday.recovery.layers.region`)
calls them through :class:`~gameday.targets.regions.RegionPair`::

    pair = regions.for_environment(load("gke-production"), i_mean_production=True)
    dr = pair.target("europe-west1")             # the standby cluster (gke-production-dr)
    dr.region_replication()                      # Cloud SQL instances.get + the replica_lag metric + MM2 lag
    pair.target("europe-west2").fence_region_writes()   # read_only=on on the active instance
    dr.wait_region_caught_up(timeout=600)        # a replica_lag point of 0 s taken after the wait began
    dr.promote_region(planned=True)              # instances.promoteReplica of dr's instance; its MM2 stopped
    dr.resize_region("primary")                  # web, indexer, search workloads to the primary's counts

What is measured and what is not:

- **Database**: the replica's state from ``instances.get`` (``instanceType``, ``masterInstanceName``,
  ``replicaConfiguration``, ``settings.databaseReplicationEnabled``, ``state``) and its lag from Cloud
  Monitoring's ``cloudsql.googleapis.com/database/replication/replica_lag`` (seconds; Cloud SQL samples
  it every 60 s and a point can take minutes to become readable). No point in the last
  :data:`FRESH_S` seconds, or Monitoring unreadable, is reported as not measured with the reason;
  a lag is never guessed. The metric is in whole seconds: 0 means less than a second behind, not
  "no transaction behind" (the twin compares GTIDs; that is not built here).
- **Kafka** (:mod:`.kubernetes_mirror`), when the standby's environment names its Strimzi
  ``KafkaMirrorMaker2`` (``regions.kafka.mirror``): the lag is measured as on the twin, per partition
  from the source offsets MirrorMaker committed in Connect's offsets topic against the active
  cluster's end offsets, when both regions' Kafka bootstraps answer from where gameday runs (else
  ``{"behind": None, "why": ...}``, as with no mirror named); exact only with Connect's exactly-once
  source support, otherwise never fewer records than are missing. A promotion stops the mirror (each
  connector's ``state: stopped``, waited for).
- **The indexer's offsets** (:mod:`.kubernetes_mirror_offsets`): whether that mirror translates the
  ``indexer`` group's offsets into the standby (its checkpoint connector, ``sync.group.offsets.enabled``,
  the groups pattern) is in the replication status (``offsets``, with a warning and the field to set
  when not); a promotion says it again (``warnings``) and reads the offsets translated onto the
  standby's ``indexer`` group on the mirrored topic once the mirror is stopped (``kafka.indexer_offsets``).
  A promotion without translation is not refused: the platform team may accept re-indexing.
- **Losing a region** on purpose is refused (:data:`NO_LOSS`); rebuilding the old primary as a replica of
  the new one is a manual, slow Cloud SQL step (:data:`NO_REBUILD`).
"""

from __future__ import annotations

import time
from typing import Any

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from . import consent

REPLICA_LAG = "cloudsql.googleapis.com/database/replication/replica_lag"
FRESH_S = 330.0  # Cloud SQL samples every 60 s; Cloud Monitoring may show a point up to 210 s later
RESIZED_LAYERS = ("web", "indexer", "search")
NO_LOSS = ("a region cannot be lost on purpose on GKE; rehearse the failover with --switchover, or on the twin; "
           "nothing was touched")
NO_REBUILD = ("re-creating a Cloud SQL cross-region replica of the new primary is a manual, slow step (a new "
              "instance seeded from a backup: instances.insert with masterInstanceName); nothing was touched")


def _bare(name: str | None) -> str | None:
    """An instance name without its ``project:`` prefix (``masterInstanceName`` may carry one)."""
    return name.split(":", 1)[-1] if name else name


def replica_lag(project: str, database_id: str, *, fresh_s: float = FRESH_S, since: float | None = None) -> dict[str, Any]:
    """The newest ``replica_lag`` point of Cloud SQL database ``project:instance`` from Cloud
    Monitoring (:class:`gameday.gcp.client.Monitoring`): ``{"seconds", "at", "age_s", "source"}``, or
    ``{"seconds": None, "why"}`` when there is no point newer than ``fresh_s`` seconds (or than
    ``since``, epoch seconds) or Monitoring cannot be read. Never guesses."""
    from ..gcp.client import Monitoring

    now = time.time()
    start = max(now - fresh_s, since or 0.0)
    where = f'cloud monitoring {REPLICA_LAG} of {database_id}'
    filter_ = (f'metric.type = "{REPLICA_LAG}" AND resource.type = "cloudsql_database" AND '
               f'resource.labels.database_id = "{database_id}"')
    try:
        series = Monitoring(project, retry_s=10.0, timeout_s=10.0).list_time_series(filter_, start, now)
    except GamedayError as err:
        return {"seconds": None, "source": where, "why": f"not measured: {err.message}"}
    points = [(p.interval.end_time.timestamp(), p.value) for ts in series for p in ts.points]
    if not points:
        return {"seconds": None, "source": where,
                "why": f"not measured: no point since {time.strftime('%H:%M:%S', time.gmtime(start))} UTC "
                       f"(Cloud SQL samples every 60 s; Monitoring shows a point up to 210 s later)"}
    at, value = max(points, key=lambda p: p[0])
    kind = value._pb.WhichOneof("value")
    seconds = float(value.double_value if kind == "double_value" else value.int64_value)
    return {"seconds": seconds, "at": at, "age_s": round(now - at, 1), "source": where}


class KubernetesRegions:
    """The region methods of :class:`~gameday.targets.base.Target` for a Kubernetes target whose
    database is Cloud SQL (``kubernetes.db.cloud_sql``) and whose ``regions:`` names the other region."""

    _region_other: Any = None

    # ---- the pair --------------------------------------------------------------------------------
    def _region_name(self) -> str:
        if not self.env.regions:
            raise UsageError(f"{self.name}: environment names no second region; nothing was touched",
                             hint="add regions: {name, standby, front} (see environments/gke-production.example.yaml)")
        return str(self.env.regions["name"])

    def _other_region(self) -> Any:
        """The other region's target (its own environment, ``regions.standby``), made once and checked
        as :func:`gameday.targets.for_environment` checks a target (allow-listed, production consent,
        credentials, kubeconfig context) before anything is asked of it."""
        if self._region_other is None:
            from . import credentials, kubernetes_config
            from .environment import standby
            self._region_name()
            other = standby(self.env)
            source = other.source or other.name
            if not other.allowed:
                raise UsageError(f"environment {other.name!r} (the other region of {self.name!r}) is not allow-listed "
                                 "for chaos; nothing was touched", hint=f"set allowed: true in {source} if you mean it")
            if other.production and not consent.given():
                raise UsageError(f"{other.name!r} is a production target; nothing was touched", hint=consent.HINT_CLI)
            credentials.check(other.credentials, source)
            kubernetes_config.preflight(dict(other.kubernetes), other.name, source)
            self._region_other = type(self)(other)
        return self._region_other

    def _change_consent(self, what: str) -> None:
        if self.env.production and not consent.given():
            raise UsageError(f"{self.name!r} is a production target: {what} needs consent; nothing was touched",
                             hint=consent.HINT_CLI)

    # ---- replication ------------------------------------------------------------------------------
    def region_replication(self) -> dict[str, Any]:
        """This region as the standby: ``{"active", "standby", "db", "kafka", "offsets", "caught_up",
        "not_measured"}``. ``db`` is the replica as Cloud SQL describes it (``replicating``: a RUNNABLE
        read replica of the other region's instance with replication enabled) and its lag
        (:func:`replica_lag`); ``kafka`` is MirrorMaker 2's lag (:func:`.kubernetes_mirror.lag`:
        ``behind`` None with its ``why`` when not measured, then listed in ``not_measured``);
        ``offsets`` whether it translates the indexer's group offsets into this region
        (:func:`.kubernetes_mirror_offsets.translation`: ``{"translated", "group", "why", ...}``, with
        ``warning`` and ``fix`` when not). ``caught_up`` is True only when the replica replicates, its
        measured lag is 0 and Kafka, when measured, is 0 records behind. Read-only."""
        return self._replication()

    def _replication(self, since: float | None = None) -> dict[str, Any]:
        other = self._other_region()
        db = self._cloud_sql_db()
        upstream = other._cloud_sql_db()
        found = db.sql.get()
        settings = found.get("settings") or {}
        primary = _bare(found.get("masterInstanceName"))
        replicating = (found.get("instanceType") == "READ_REPLICA_INSTANCE" and found.get("state") == "RUNNABLE"
                       and settings.get("databaseReplicationEnabled") is not False and primary == upstream.instance)
        lag = replica_lag(db.sql.project, f"{db.sql.project}:{db.instance}", since=since) if replicating else \
            {"seconds": None, "why": "not measured: the instance does not replicate from the other region"}
        part = {"kind": "cloud-sql", "instance": db.instance, "upstream": primary, "expected_upstream": upstream.instance,
                "instance_type": found.get("instanceType"), "state": found.get("state"),
                "region": found.get("region"), "replication_enabled": settings.get("databaseReplicationEnabled"),
                "replica_configuration": found.get("replicaConfiguration"), "replicating": replicating,
                "seconds_behind": lag["seconds"], "lag": lag, "transactions_behind": None,
                "caught_up": replicating and lag["seconds"] == 0}
        from . import kubernetes_mirror, kubernetes_mirror_offsets
        got = kubernetes_mirror.read_quietly(self)  # one read of the KafkaMirrorMaker2 for both
        kafka = kubernetes_mirror.lag(self, other, got=got)
        offsets = kubernetes_mirror_offsets.translation(self, other, got)
        return {"active": str(other.env.regions.get("name")), "standby": self._region_name(), "db": part,
                "kafka": kafka, "offsets": offsets, "caught_up": part["caught_up"] and kafka["behind"] in (None, 0),
                "not_measured": ["kafka"] if kafka["behind"] is None else []}

    def wait_region_caught_up(self, timeout: float) -> dict[str, Any]:
        """Until Cloud Monitoring shows a ``replica_lag`` of 0 taken after this wait began (the
        active region fenced before it) and Kafka, when its lag is measured, is 0 records behind,
        within ``timeout`` seconds; a replica that does not replicate is a GamedayError at once.
        ``{"db_s", "kafka_s", "kafka", "replication"}``: ``kafka_s`` None when Kafka's lag was not
        measured (not waited for, ``kafka`` says why). With a 60 s sample period this takes a minute
        or more."""
        started, began = time.monotonic(), time.time()
        last: dict[str, Any] = {}

        def caught_up() -> bool:
            last["rep"] = rep = self._replication(since=began)
            if not rep["db"]["replicating"]:
                raise GamedayError(f"{self.name}: Cloud SQL {rep['db']['instance']} does not replicate from "
                                   f"{rep['db']['expected_upstream']} (type {rep['db']['instance_type']}, primary "
                                   f"{rep['db']['upstream'] or 'none'}, state {rep['db']['state']}); nothing to wait for",
                                   hint="gcloud sql instances describe " + rep["db"]["instance"])
            return bool(rep["caught_up"])

        poll = float(self._cloud_sql_db().config.get("poll_s", 5))
        try:
            wait_until(caught_up, timeout=timeout, interval=max(0.05, poll),
                       what=f"Cloud SQL replica {self._cloud_sql_db().instance} to show a replica lag of 0 "
                            "(and Kafka, when measured, 0 records behind)")
        except DeadlineExceeded as err:
            rep = last.get("rep") or {}
            why = (rep.get("db") or {}).get("lag", {}).get("why") or \
                f"the last lag read was {(rep.get('db') or {}).get('seconds_behind')} s"
            if (rep.get("kafka") or {}).get("behind"):
                why += f"; Kafka was {rep['kafka']['behind']} records behind"
            raise DeadlineExceeded(f"{err.message} ({why})",
                                   hint="the metric is sampled every 60 s and shows up to 210 s late: give the "
                                        "wait-caught-up step more time, or check the lag in the console") from None
        took = round(time.monotonic() - started, 2)
        kafka = last["rep"]["kafka"]
        return {"db_s": took, "kafka_s": took if kafka["behind"] == 0 else None, "kafka": kafka,
                "replication": last["rep"]}

    # ---- a switchover or a failover -------------------------------------------------------------------
    def fence_region_writes(self) -> dict[str, Any]:
        """Stop writes in this (active) region: the database flag ``read_only=on`` on its Cloud SQL
        instance (``instances.patch``, the other flags kept, waited for). Idempotent: a flag already on
        sends nothing (``already``). Cloud SQL's users have no SUPER privilege, so the site's writes
        are refused from then on. Restart: Google's flag page says a flag change *may* restart the
        instance (and its replicas); whether ``read_only`` does for this instance's database version is
        read from the Cloud SQL Admin API's ``flags.list`` before the patch (its ``requiresRestart``),
        and said in ``restart`` (``{"required", "flags", "source"}``; when required, the replicas
        waited for until RUNNABLE: :meth:`gameday.gcp.cloudsql.CloudSql.set_flags`). MySQL only; a read
        replica is refused (it takes no writes)."""
        self._region_name()
        db = self._cloud_sql_db()
        found = db.sql.get()
        if not str(found.get("databaseVersion") or "").startswith("MYSQL"):
            raise UsageError(f"{self.name}: fencing writes with read_only is built for Cloud SQL for MySQL; "
                             f"{db.instance} is {found.get('databaseVersion')}; nothing was touched")
        if found.get("instanceType") == "READ_REPLICA_INSTANCE":
            raise UsageError(f"{self.name}: Cloud SQL {db.instance} is a read replica (of "
                             f"{_bare(found.get('masterInstanceName'))}): it takes no writes to fence; nothing was touched",
                             hint="fence the active region, whose instance is the primary")
        self._change_consent(f"setting read_only=on on Cloud SQL instance {db.instance}")
        started = time.monotonic()
        done = db.sql.set_flags({"read_only": "on"})
        return {"region": self._region_name(), "instance": db.instance, "flag": "read_only=on",
                "already": not done["changed"], "operation": done["operation"], "restart": done["restart"],
                "seconds": round(time.monotonic() - started, 3)}

    def fence_region_restart(self) -> dict[str, Any]:
        """Whether :meth:`fence_region_writes` would restart this region's Cloud SQL instance, read without
        changing anything: ``instances.get`` (its database version, flags and replicas) and ``flags.list``
        (``requiresRestart`` of ``read_only``, :meth:`gameday.gcp.cloudsql.CloudSql.flag_restarts`).
        ``{"required", "flags", "source", "instance", "replicas"}``; a flag already on would send nothing
        (no restart). Refused as the fence is: not MySQL, or a read replica."""
        self._region_name()
        db = self._cloud_sql_db()
        found = db.sql.get()
        version = str(found.get("databaseVersion") or "")
        if not version.startswith("MYSQL"):
            raise UsageError(f"{self.name}: fencing writes with read_only is built for Cloud SQL for MySQL; "
                             f"{db.instance} is {found.get('databaseVersion')}")
        if found.get("instanceType") == "READ_REPLICA_INSTANCE":
            raise UsageError(f"{self.name}: Cloud SQL {db.instance} is a read replica (of "
                             f"{_bare(found.get('masterInstanceName'))}): it takes no writes to fence")
        replicas = [str(r) for r in found.get("replicaNames") or []]
        flags = {str(f.get("name")): str(f.get("value", "")) for f in (found.get("settings") or {}).get("databaseFlags") or []}
        if flags.get("read_only") == "on":
            return {"required": False, "flags": {}, "source": "nothing would be sent: read_only is already on",
                    "instance": db.instance, "replicas": replicas}
        return {**db.sql.flag_restarts({"read_only": "on"}, version), "instance": db.instance, "replicas": replicas}

    def promote_region(self, *, planned: bool) -> dict[str, Any]:
        """Make this standby region writable: ``instances.promoteReplica`` of its Cloud SQL read replica
        (it keeps its name and address, so this region's site endpoint is unchanged). ``planned`` (a
        switchover) is refused, before anything is sent, unless the upstream instance has
        ``read_only=on`` (:meth:`fence_region_writes`) and the replica lag, when measured, is 0; an
        unmeasured lag is said in the result (``db.lag``), not guessed. Not planned (a failover): the
        upstream is not read; what it acknowledged and never sent is lost. Then the Strimzi
        KafkaMirrorMaker2 into this region (``regions.kafka.mirror``) is stopped
        (:func:`.kubernetes_mirror.stop`, ``kafka``); a named mirror that is not in the cluster is refused
        before anything is touched. With no mirror named, ``kafka`` says it was left as it is.

        The indexer's offsets (:mod:`.kubernetes_mirror_offsets`): ``kafka.offset_translation`` is
        whether the mirror translated them (read from the object before the promotion) and
        ``kafka.indexer_offsets`` the offsets it translated onto this region's ``indexer`` group,
        read from this region's Kafka once the mirror is stopped. ``warnings`` says, in words, what the
        promoted indexer will do when they are not translated or some partition has none (re-index
        from the earliest offset or skip to the latest): said, never refused. ``seconds`` is the
        promotion's; the offsets read after it (within ``regions.kafka.timeout_s``) is
        ``kafka.indexer_offsets.read_s``."""
        self._region_name()
        db = self._cloud_sql_db()
        found = db.sql.get()
        upstream = _bare(found.get("masterInstanceName"))
        if found.get("instanceType") != "READ_REPLICA_INSTANCE" or not upstream:
            raise UsageError(f"{self.name}: Cloud SQL {db.instance} is not a read replica (type "
                             f"{found.get('instanceType') or 'unknown'}): nothing to promote; nothing was touched",
                             hint="promote the standby region, whose instance replicates from the active one")
        from . import kubernetes_mirror, kubernetes_mirror_offsets
        ref = kubernetes_mirror.named(self)
        self._change_consent(f"promoting Cloud SQL replica {db.instance}" +
                             (f" (and stopping KafkaMirrorMaker2 {ref['namespace']}/{ref['name']})" if ref else ""))
        from ..gcp.cloudsql import CloudSql
        source = CloudSql(db.sql.project, upstream, service=db.sql.service, timeout_s=db.sql.timeout_s,
                          poll_s=db.sql.poll_s)
        lag: dict[str, Any] = {"seconds": None, "why": "not read: a failover does not wait for the lost region"}
        fenced = None
        if planned:
            fenced = source.database_flags().get("read_only") == "on"
            if not fenced:
                raise UsageError(f"{self.name}: a planned promotion needs the upstream {upstream} fenced (read_only=on); "
                                 "it still takes writes, which the promotion would lose; nothing was touched",
                                 hint="run the stop-writes step first (fence_region_writes on the active region), or "
                                      "promote with planned=False if the active region is lost")
            lag = replica_lag(db.sql.project, f"{db.sql.project}:{db.instance}")
            if lag["seconds"] not in (None, 0):
                raise UsageError(f"{self.name}: Cloud SQL replica {db.instance} is {lag['seconds']:g} s behind "
                                 f"{upstream}; a planned promotion waits for 0; nothing was touched",
                                 hint="wait until it has caught up (wait_region_caught_up), then promote")
        mirror = kubernetes_mirror.read(self) if ref else None  # missing: refused before any change
        try:
            active = self._other_region()  # its environment only: nothing is asked of a lost region
        except GamedayError:
            active = None  # the mirror entry is then the object's only one (kubernetes_mirror.flow)
        translation = kubernetes_mirror_offsets.translation(
            self, active, (mirror, None if mirror is not None else kubernetes_mirror.NOT_NAMED))
        started = time.monotonic()
        done = source.promote_replica(db.instance)
        if mirror is None:
            kafka: dict[str, Any] = {"mirroring": "not changed: the environment names no KafkaMirrorMaker2 "
                                                  "(regions.kafka.mirror); stop the mirror into this region yourself"}
        else:
            try:
                kafka = kubernetes_mirror.stop(self, mirror)
            except GamedayError as err:
                raise GamedayError(f"{self.name}: Cloud SQL {db.instance} was promoted, but "
                                   f"{err.message.removeprefix(self.name + ': ')}", hint=err.hint) from None
        kafka["offset_translation"] = translation
        took = round(time.monotonic() - started, 2)  # the promotion; the read below reports, within regions.kafka.timeout_s
        kafka["indexer_offsets"] = offsets = kubernetes_mirror_offsets.translated_offsets(self, active, mirror)
        offsets["read_s"] = round(time.monotonic() - started - took, 2)
        warnings = [] if translation["translated"] else [f"{translation['warning']} (fix: {translation['fix']})"]
        if offsets["missing"]:
            warnings.append(offsets["why"])
        return {"region": self._region_name(), "planned": planned, "warnings": warnings,
                "db": {"how": "promote-replica", "old_primary": upstream, "new_primary": db.instance,
                       "upstream_fenced": fenced, "lag": lag, "operation": done["operation"],
                       "took_s": done["took_s"], "addresses": done["addresses"], "site_endpoint": "unchanged"},
                "kafka": kafka,
                "seconds": took}

    def resize_region(self, size: str, *, timeout: float = 300.0) -> dict[str, Any]:
        """``primary``: scale this region's web, indexer and search Deployments and StatefulSets up to
        the replicas (baseline) of the same-named workloads in the other region's cluster, then wait,
        at most ``timeout`` seconds, until each has that many ready replicas. Left as they are (and
        named in ``left``): workloads an operator controls (an ECK StatefulSet: raise the
        Elasticsearch nodeSets count), ones the other region has no workload of that name for, and
        ones already that large. ``standby``: nothing is scaled (a GKE standby keeps its size; scale it
        down by hand). ``{"region", "size", "scaled", "left", "seconds"}``."""
        from .kubernetes_workloads import SCALABLE, stopped_list

        if size not in ("primary", "standby"):
            raise UsageError(f"{self.name}: no region size {size!r}", hint="sizes: primary, standby")
        region = self._region_name()
        if size == "standby":
            return {"region": region, "size": size, "scaled": {}, "seconds": 0.0,
                    "left": {"*": "a GKE standby keeps the size it has (kubectl scale it down by hand)"}}
        other = self._other_region()
        started = time.monotonic()
        scaled: dict[str, int] = {}
        left: dict[str, str] = {}
        plan: list[tuple[str, str, str, int]] = []
        for layer in RESIZED_LAYERS:
            if not self._has_pods(layer):
                continue
            theirs = {obj["metadata"]["name"]: int(obj["spec"].get("replicas", 0)) + len(stopped_list(obj))
                      for kind, obj, _ in (other._workloads(layer) if other._has_pods(layer) else [])
                      if kind in SCALABLE}
            for kind, obj, _ in self._workloads(layer):
                name = obj["metadata"]["name"]
                owner = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
                if kind not in SCALABLE or owner is not None:
                    by = owner or {"kind": kind, "name": name}
                    left[name] = f"controlled by {by['kind']} {by['name']}: its operator sets the count"
                elif name not in theirs:
                    left[name] = f"{other.name} has no {layer} workload named {name}"
                elif int(obj["spec"].get("replicas", 0)) >= theirs[name]:
                    left[name] = f"already {obj['spec'].get('replicas', 0)} (the primary runs {theirs[name]})"
                else:
                    plan.append((kind, name, obj["metadata"]["namespace"], theirs[name]))
        if plan:
            self._change_consent("scaling this region up")
        for _kind, name, _namespace, want in plan:
            self.scale(name, want)
            scaled[name] = want
        for kind, name, namespace, want in plan:
            def ready(kind: str = kind, name: str = name, namespace: str = namespace, want: int = want) -> bool:
                obj = self._read_owner(kind, name, namespace)
                status = obj.get("status") or {}
                return (status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 0)
                        and int(status.get("readyReplicas") or 0) >= want)
            wait_until(ready, timeout=max(1.0, timeout - (time.monotonic() - started)), interval=0.5,
                       what=f"{kind} {namespace}/{name} on {self.name} to have {want} ready replicas")
        return {"region": region, "size": size, "scaled": scaled, "left": left,
                "seconds": round(time.monotonic() - started, 2)}

    # ---- what is not built on GKE ------------------------------------------------------------------------
    def lose_region(self) -> dict[str, Any]:
        """Refused: a real region is not lost on purpose (:data:`NO_LOSS`)."""
        raise UsageError(f"{self.name}: {NO_LOSS}",
                         hint="gameday playbook region --switchover --env <the primary>, or lose a region of the "
                              "twin (gameday sandbox up --regions 2)")

    def restore_region(self, *, active: bool) -> dict[str, Any]:
        """Refused as :meth:`lose_region` is: nothing here was lost on purpose."""
        raise UsageError(f"{self.name}: {NO_LOSS}",
                         hint="a region lost for real comes back through its operators and Google; rebuild its "
                              "database as the standby by hand (see rebuild_region_as_standby)")

    def rebuild_region_as_standby(self, active: Any) -> dict[str, Any]:
        """Refused (:data:`NO_REBUILD`): the hint says the commands."""
        db = self._cloud_sql_db()
        theirs = active._cloud_sql_db() if hasattr(active, "_cloud_sql_db") else None
        primary = theirs.instance if theirs is not None else "THE_NEW_PRIMARY"
        raise GamedayError(f"{self.name}: {NO_REBUILD}",
                           hint=f"gcloud sql instances create {db.instance}-replica --master-instance-name={primary} "
                                f"--region={self.env.regions.get('name', 'REGION')} --project {db.sql.project}; then "
                                "name it in kubernetes.db.cloud_sql.instance (and db.host) of this environment")
