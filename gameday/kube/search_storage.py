"""A search pod's storage on the Kubernetes twin, as ECK keeps an Elasticsearch node's: a
PersistentVolumeClaim per pod from the StatefulSet's ``volumeClaimTemplates`` (ECK's
``elasticsearch-data``, so pod ``search-2``'s claim is ``elasticsearch-data-search-2``), mounted at
:data:`MOUNT` and used as the node's ``path.data``.

:func:`with_claim` turns the supervisor member's container into that (the workloads module calls it
for the ``search`` StatefulSet): the node's own ``opensearch.yml`` (``path.data`` on the host, for the
supervisor twin) is kept and overridden on the command line (``-Epath.data=/var/lib/opensearch``,
which OpenSearch applies over the file), and the pod's ``fsGroup`` is the node's group, so the kubelet
(the twin's node agent) gives the new claim to the user OpenSearch runs as.

A claim deleted together with its pod comes back empty: the node starts with no cluster state. When
every node's claim went at once (the cluster-loss drill, :mod:`gameday.targets.kubernetes_storage`),
the nodes bootstrap a NEW cluster (a new cluster UUID) from ``cluster.initial_cluster_manager_nodes``,
which OpenSearch reads only on a node that has never joined a cluster; a node alone on an empty
claim joins the cluster that is left.

Outside every claim, as a GCS bucket is outside an ECK cluster: the snapshot repository (``path.repo``,
the twin's ``data/snapshots``, a host directory every search pod sees) and the node's configuration
and logs (the member's host directories, as a ConfigMap and a log collector would keep them).
"""

from __future__ import annotations

from typing import Any

CLAIM = "elasticsearch-data"   # ECK's volume claim template name (claims elasticsearch-data-<pod>)
MOUNT = "/var/lib/opensearch"  # the claim, in each search pod's own mount namespace: its path.data
CLAIM_SIZE = "1Gi"


def with_claim(container: dict[str, Any], *, group: int | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(container, claim template, pod securityContext)`` for the search StatefulSet: the member's
    container with the claim :data:`CLAIM` mounted at :data:`MOUNT` and ``path.data`` set there on
    its command line; the volume claim template (the cluster's default StorageClass); ``fsGroup``
    ``group`` (the node's group; None when the twin runs unprivileged and the node as its user),
    applied to a claim only while its root is not yet that group's (``OnRootMismatch``: a restart does
    not walk the node's data again). Pure."""
    wrapped = {**container, "args": [*container.get("args", []), f"-Epath.data={MOUNT}"],
               "volumeMounts": [*container.get("volumeMounts", []), {"name": CLAIM, "mountPath": MOUNT}]}
    template = {"metadata": {"name": CLAIM},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": CLAIM_SIZE}}}}
    security = {"fsGroup": group, "fsGroupChangePolicy": "OnRootMismatch"} if group is not None else {}
    return wrapped, template, security
