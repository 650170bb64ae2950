"""The permissions deploy/ grants are the calls the code makes: every kubernetes-client method the
Kubernetes target (chaos and playbooks alike) and chaosk8s' terminate_pods call is in
kubernetes_rbac.CALLS, and CALLS lists nothing they do not call."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from chaosk8s.pod import actions as chaosk8s_pod_actions
from kubernetes import client

from gameday.targets import kubernetes_rbac

ROOT = Path(__file__).resolve().parents[2]
API_METHODS = {name for api in (client.CoreV1Api, client.AppsV1Api, client.PolicyV1Api, client.CoordinationV1Api,
                                 client.CustomObjectsApi)
               for name in dir(api) if not name.startswith("_")}


def api_calls(source: str) -> set[str]:
    """Names of Kubernetes API methods referenced as attributes (``self.core.list_namespaced_pod``)."""
    return {node.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr in API_METHODS}


def test_every_api_call_of_the_target_is_granted_and_nothing_more():
    used = set().union(*(api_calls((ROOT / path).read_text()) for path in kubernetes_rbac.CODE))
    used |= api_calls(inspect.getsource(chaosk8s_pod_actions.terminate_pods))
    assert used, "the scan found no calls: it cannot be checking anything"
    assert used == set(kubernetes_rbac.CALLS), (
        f"not granted: {sorted(used - set(kubernetes_rbac.CALLS))}; granted but unused: "
        f"{sorted(set(kubernetes_rbac.CALLS) - used)}")
    assert set(kubernetes_rbac.CHAOSK8S) <= used


def test_the_state_namespace_is_granted_exactly_the_lease_and_undo_record_calls():
    used = set().union(*(api_calls((ROOT / path).read_text()) for path in kubernetes_rbac.STATE_CODE))
    assert used == set(kubernetes_rbac.STATE_CALLS), (
        f"not granted: {sorted(used - set(kubernetes_rbac.STATE_CALLS))}; granted but unused: "
        f"{sorted(set(kubernetes_rbac.STATE_CALLS) - used)}")
    rules = kubernetes_rbac.state_rules()
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "verbs": ["create", "delete", "get", "update"]} in rules
    assert not any({"pods", "secrets", "deployments"} & set(r["resources"]) for r in rules)


def test_the_rules_group_the_calls_and_name_secrets_only():
    rules = kubernetes_rbac.rules()
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete", "get", "list", "patch"]} in rules
    assert not any("secrets" in r["resources"] for r in rules)
    with_secret = kubernetes_rbac.rules(secrets=["es-elastic-user"])
    assert with_secret[-1] == {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["es-elastic-user"],
                               "verbs": ["get"]}
    assert not any({"persistentvolumeclaims", "persistentvolumes"} & set(r["resources"]) for r in with_secret)


def test_the_kafka_namespace_may_read_and_stop_a_standby_regions_mirror_and_nothing_more():
    used = set().union(*(api_calls((ROOT / path).read_text()) for path in kubernetes_rbac.MIRROR_CODE))
    assert used == set(kubernetes_rbac.MIRROR_CALLS), (
        f"not granted: {sorted(used - set(kubernetes_rbac.MIRROR_CALLS))}; granted but unused: "
        f"{sorted(set(kubernetes_rbac.MIRROR_CALLS) - used)}")
    assert {"apiGroups": ["kafka.strimzi.io"], "resources": ["kafkamirrormaker2s"], "verbs": ["get", "patch"]} \
        in kubernetes_rbac.rules(mirror=True)
    assert not any("kafkamirrormaker2s" in r["resources"] for r in kubernetes_rbac.rules())


def test_the_zone_drill_is_granted_exactly_its_node_calls_and_namespaced_calls_already_granted():
    used = set().union(*(api_calls((ROOT / path).read_text()) for path in kubernetes_rbac.NODE_CODE))
    nodes = {call for call in used if call.endswith("_node")}
    assert nodes == set(kubernetes_rbac.NODE_CALLS), (
        f"not granted: {sorted(nodes - set(kubernetes_rbac.NODE_CALLS))}; granted but unused: "
        f"{sorted(set(kubernetes_rbac.NODE_CALLS) - nodes)}")
    assert used - nodes <= set(kubernetes_rbac.CALLS), sorted(used - nodes - set(kubernetes_rbac.CALLS))
    assert kubernetes_rbac.node_rules() == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]}]
    assert not any("nodes" in r["resources"] for r in kubernetes_rbac.rules(mirror=True))


def test_the_disk_loss_drill_is_granted_exactly_its_claim_calls():
    used = set().union(*(api_calls((ROOT / path).read_text()) for path in kubernetes_rbac.STORAGE_CODE))
    claims = {call for call in used if "persistent_volume_claim" in call}
    assert claims == set(kubernetes_rbac.STORAGE_CALLS), sorted(claims ^ set(kubernetes_rbac.STORAGE_CALLS))
    assert used - claims <= set(kubernetes_rbac.CALLS), sorted(used - claims - set(kubernetes_rbac.CALLS))
    assert kubernetes_rbac.storage_rules() == [{"apiGroups": [""], "resources": ["persistentvolumeclaims"],
                                                "verbs": ["delete", "get"]}]
    assert not any("persistentvolumeclaims" in r["resources"] for r in kubernetes_rbac.rules(mirror=True))
