"""The Kubernetes API permissions the target uses, from the calls its code makes.

``deploy/`` grants gameday's ServiceAccount exactly these in each namespace the environment names
(tests/unit/test_deploy.py compares the rendered Roles with :func:`rules`; tests/unit/test_rbac_calls.py
holds :data:`CALLS` against the code; tests/integration/kube/test_web_pods.py runs the target as that
ServiceAccount on the twin's API server)::

    rules()                                      # the Role's rules for a namespace of pods
    rules(secrets=["sps-search-es-elastic-user"])  # plus get on exactly those secrets (credentials.search)

No rights on PersistentVolumeClaims or PersistentVolumes in the base: a killed pod comes back on the
volume it had. The storage drills' claim rights (:data:`STORAGE_CALLS`) are opt-in components, one
per namespace (Kafka: ``deploy/components/disk-loss-drill``; search: ``deploy/components/search-cluster-loss-drill``).
"""

from __future__ import annotations

from typing import Any

# kubernetes-client method -> (apiGroup, resource, verb); why each is needed
CALLS: dict[str, tuple[str, str, str]] = {
    "list_namespaced_pod": ("", "pods", "list"),                   # a layer's pods (and chaosk8s' choice)
    "read_namespaced_pod": ("", "pods", "get"),                    # the pod to stop
    "delete_namespaced_pod": ("", "pods", "delete"),               # kill: chaosk8s terminate_pods, grace 0
    "patch_namespaced_pod": ("", "pods", "patch"),                 # pod-deletion-cost before a Deployment stop
    "read_namespaced_secret": ("", "secrets", "get"),              # credentials.search by reference (named only)
    "list_namespaced_pod_disruption_budget": ("policy", "poddisruptionbudgets", "list"),  # budgets respected
    "list_namespaced_deployment": ("apps", "deployments", "list"),  # a layer's workloads: owners, playbook view
    "read_namespaced_deployment": ("apps", "deployments", "get"),   # replicas wanted
    "patch_namespaced_deployment": ("apps", "deployments", "patch"),  # stop / start / playbook scale
    "list_namespaced_stateful_set": ("apps", "statefulsets", "list"),
    "read_namespaced_stateful_set": ("apps", "statefulsets", "get"),
    "patch_namespaced_stateful_set": ("apps", "statefulsets", "patch"),
}
# gameday's own state, in its state namespace only (gameday/targets/kubernetes_state.py): the target's
# Lease (one game day at a time, laptop or CronJob) and its undo records (one ConfigMap each).
STATE_CALLS: dict[str, tuple[str, str, str]] = {
    "read_namespaced_lease": ("coordination.k8s.io", "leases", "get"),        # who holds the target
    "create_namespaced_lease": ("coordination.k8s.io", "leases", "create"),   # take it
    "replace_namespaced_lease": ("coordination.k8s.io", "leases", "update"),  # renew, or take over a stale one
    "delete_namespaced_lease": ("coordination.k8s.io", "leases", "delete"),   # release
    "create_namespaced_config_map": ("", "configmaps", "create"),             # an undo record, before its fault
    "list_namespaced_config_map": ("", "configmaps", "list"),                 # pending undos (any run's)
    "delete_namespaced_config_map": ("", "configmaps", "delete"),             # undone
}
# The standby region's Strimzi MirrorMaker 2, in the Kafka namespace (gameday/targets/kubernetes_mirror.py):
# read it (its connectors, offsets topic, status) and stop its connectors when the region is promoted.
MIRROR_CALLS: dict[str, tuple[str, str, str]] = {
    "get_namespaced_custom_object": ("kafka.strimzi.io", "kafkamirrormaker2s", "get"),
    "patch_namespaced_custom_object": ("kafka.strimzi.io", "kafkamirrormaker2s", "patch"),
}
MIRROR_CODE = ("gameday/targets/kubernetes_mirror.py",)
# The zone drill (gameday/targets/kubernetes_zones.py): the nodes' zone labels, and gameday's taint that
# keeps pods out of a lost zone. Cluster-scoped, so opt-in: deploy/components/zone-drill (a ClusterRole).
# Without it, members get no zone label and the zone drill is refused; every other call still works.
NODE_CALLS: dict[str, tuple[str, str, str]] = {
    "list_node": ("", "nodes", "list"),     # each node's topology.kubernetes.io/zone
    "read_node": ("", "nodes", "get"),      # its taints, before changing them
    "patch_node": ("", "nodes", "patch"),   # add / remove gameday.io/zone-lost (guarded by resourceVersion)
}
NODE_CODE = ("gameday/targets/kubernetes_zones.py",)
# The storage drills (gameday/targets/kubernetes_storage.py): a broker's PersistentVolumeClaim deleted with its
# pod; every search node's claims, then every search pod (the whole search cluster lost). Opt-in, one Role per
# namespace: deploy/components/disk-loss-drill (Kafka's), deploy/components/search-cluster-loss-drill (search's).
STORAGE_CALLS: dict[str, tuple[str, str, str]] = {
    "read_namespaced_persistent_volume_claim": ("", "persistentvolumeclaims", "get"),      # its uid, before
    "delete_namespaced_persistent_volume_claim": ("", "persistentvolumeclaims", "delete"),  # the disk lost
}
STORAGE_CODE = ("gameday/targets/kubernetes_storage.py",)
# Modules whose kubernetes-client calls CALLS must cover (chaosk8s' terminate_pods lists and deletes pods).
CODE = ("gameday/targets/kubernetes.py",)
STATE_CODE = ("gameday/targets/kubernetes_state.py",)
CHAOSK8S = ("list_namespaced_pod", "delete_namespaced_pod")


def storage_rules() -> list[dict[str, Any]]:
    """PolicyRules of the storage drills' Roles (the Kafka namespace's, the search namespace's): exactly
    :data:`STORAGE_CALLS`."""
    return _grouped(STORAGE_CALLS)


def node_rules() -> list[dict[str, Any]]:
    """PolicyRules of the zone drill's ClusterRole: exactly :data:`NODE_CALLS`."""
    return _grouped(NODE_CALLS)


def state_rules() -> list[dict[str, Any]]:
    """PolicyRules of the state namespace's Role: exactly :data:`STATE_CALLS`."""
    return _grouped(STATE_CALLS)


def _grouped(calls: dict[str, tuple[str, str, str]]) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], set[str]] = {}
    for group, resource, verb in calls.values():
        grouped.setdefault((group, resource), set()).add(verb)
    return [{"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
            for (group, resource), verbs in sorted(grouped.items())]


def rules(*, secrets: list[str] | tuple[str, ...] = (), mirror: bool = False) -> list[dict[str, Any]]:
    """PolicyRules granting every call in :data:`CALLS` (secrets only by name, and only when given;
    ``mirror``: plus :data:`MIRROR_CALLS`, for the Kafka namespace)."""
    grouped: dict[tuple[str, str], set[str]] = {}
    for group, resource, verb in CALLS.values():
        if resource == "secrets":
            continue
        grouped.setdefault((group, resource), set()).add(verb)
    out = [{"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
           for (group, resource), verbs in sorted(grouped.items())]
    if mirror:
        out += _grouped(MIRROR_CALLS)
    if secrets:
        out.append({"apiGroups": [""], "resources": ["secrets"], "resourceNames": sorted(secrets), "verbs": ["get"]})
    return out
