"""The Kubernetes twin's search snapshots on a schedule: Deployment ``search-snapshot`` in namespace ``gameday``.

On GKE the platform snapshots the search cluster itself (ECK: a snapshot repository and a snapshot
lifecycle policy; OpenSearch: snapshot management), and gameday only reads the newest snapshot's age
at preflight, through the search API (:func:`gameday.measure.backup_age.search_snapshot_age` on
``target.search_admin()``). The twin has no operator to do it, so it runs the supervisor twin's
schedule (:mod:`gameday.sandbox.search_snapshot_schedule`) as one pod, made from the supervisor
member ``search-snapshot-1`` the way the web and indexer pods are
(:func:`gameday.kube.workloads.container_from`): the member's command (its settings and state are
the member's files, ``<state>/data/search-snapshot-*.json``; ``GAMEDAY_SEARCH_SNAPSHOT_INTERVAL_S``
and ``..._KEEP`` at ``sandbox up --kubernetes``), the search password from ECK's Secret
``search-es-elastic-user`` (never in argv or the object), strategy Recreate (one loop at a time)::

    objects(twin)   # [Deployment search-snapshot]: applied with workloads.objects(part="web"), after the bootstrap job

Its first snapshot is taken as the pod starts (none exists on a new twin); then one every interval,
counted from the newest snapshot of the content index, whoever took it.

The database's backups do not join: the Kubernetes target reads a backup's age only where the
platform keeps it (Cloud SQL's backup runs, ``kubernetes.db.cloud_sql``); dumps a pod wrote into the
twin's backup directory would be read by no code that runs on GKE (see the README).
"""

from __future__ import annotations

from typing import Any

from ..sandbox.twin import Twin
from .containers import NAME_LABEL, NAMESPACE, PART_OF, SEARCH_SECRET, container_from

SNAPSHOTS = "search-snapshot"  # the Deployment, its pod's name prefix and its container


def snapshot_deployment(twin: Twin) -> dict[str, Any]:
    """Deployment ``search-snapshot`` (1 replica, Recreate): the member ``search-snapshot-1``'s loop
    as a pod, its password from the Secret :data:`~gameday.kube.workloads.SEARCH_SECRET` (key ``elastic``)."""
    from ..sandbox import search_snapshot_schedule as sss
    member = sss.workload(twin).members[0]
    match = {NAME_LABEL: SNAPSHOTS}
    labels = {**PART_OF, **match, "app.kubernetes.io/component": "backup"}
    container = container_from(member, name=SNAPSHOTS, secret=None)
    container["env"].append({"name": sss.PASSWORD_ENV,
                             "valueFrom": {"secretKeyRef": {"name": SEARCH_SECRET, "key": "elastic"}}})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": SNAPSHOTS, "namespace": NAMESPACE, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": match}, "strategy": {"type": "Recreate"},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container],
                                       "terminationGracePeriodSeconds": int(member.stop_grace)}}},
    }


def objects(twin: Twin) -> list[dict[str, Any]]:
    """The scheduled jobs' objects, in apply order (after the bootstrap job has registered the
    snapshot repository and made the content index)."""
    return [snapshot_deployment(twin)]
