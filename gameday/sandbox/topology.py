"""The default twin: which workloads, in which order, each prepared by its layer module."""

from __future__ import annotations

from .members import cdn, db, kafka, lb, search, site, toxiproxy
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
            site.bootstrap(twin),
            site.web(twin),
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
    if kubernetes:
        from ..kube import members as kube
        from ..kube import workloads as kube_workloads
        topology.workloads += kube.workloads(twin)
        kube_workloads.adopt(topology, twin, str(kube.kubeconfig_path(twin)))  # web runs as a Deployment
    return topology


def prepare(twin: Twin, *, kubernetes: bool = False) -> None:
    """Write configs and initialise data directories that do not exist yet (keeps existing data);
    the twin's host names go into /etc/hosts (:mod:`.names`), its TLS front's certificate is made
    (:mod:`.tls`, by the lb layer); with ``kubernetes``, the admin context joins the user's kubeconfig."""
    from . import db_roles, names
    twin.paths.ensure()
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
    for layer in (kafka, search, lb):
        layer.prepare(twin)
    if not kubernetes:
        cdn.prepare(twin)
    if twin.shape.in_region_set:
        from .members import mirror
        mirror.prepare(twin)
    if kubernetes:
        from ..kube import members as kube
        kube.prepare(twin)
