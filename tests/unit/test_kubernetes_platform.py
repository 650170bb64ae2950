"""The playbooks' Kubernetes platform without a cluster: members of StatefulSets and Deployments,
held (stopped by gameday) pods, baselines, selectors, and which platform a target gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gameday.errors import UsageError
from gameday.recovery import kubernetes_platform as kp
from gameday.recovery.platform import LayerView, platform_for
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import STOPPED_ANNOTATION, KubernetesTarget

ROOT = Path(__file__).resolve().parents[2]

NOW = 1_800_000_000.0


def pod(name: str, *, ready: bool = True, running: bool = True, restarts: int = 0, deleting: bool = False) -> dict:
    meta = {"name": name, "labels": {"app.kubernetes.io/name": name.rsplit("-", 1)[0]}}
    if deleting:
        meta["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    state = {"running": {"startedAt": "2027-01-15T07:59:00Z"}} if running else {"waiting": {"reason": "CrashLoopBackOff"}}
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "ports": [{"name": "broker", "containerPort": 9092}]}]},
            "status": {"podIP": "127.1.40.1", "containerStatuses": [{"state": state, "restartCount": restarts}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def workload(name: str, replicas: int, *, start: int | None = None, stopped: list[str] | None = None) -> dict:
    spec = {"replicas": replicas, "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}}}
    if start is not None:
        spec["ordinals"] = {"start": start}
    annotations = {STOPPED_ANNOTATION: json.dumps(stopped)} if stopped else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def test_a_statefulset_lists_every_ordinal_of_its_baseline_and_a_stopped_one_is_held():
    sts = workload("kafka", 2, start=1, stopped=["kafka-3"])
    replicas, baseline, members = kp.workload_members("StatefulSet", sts, [pod("kafka-1"), pod("kafka-2", ready=False)],
                                                      "kafka", NOW)
    assert (replicas, baseline) == (2, 3)
    assert [(m.name, m.state, m.ready, m.held, m.index) for m in members] == [
        ("kafka-1", "running", True, False, 1), ("kafka-2", "running", False, False, 2), ("kafka-3", "stopped", False, True, 3)]
    view = LayerView(layer="kafka", replicas={"kafka": replicas}, baseline={"kafka": baseline}, members=tuple(members))
    assert view.scaled_down == {"kafka": (2, 3)} and [m.name for m in view.held] == ["kafka-3"]


def test_a_deleted_statefulset_pod_not_yet_replaced_is_restarting():
    sts = workload("search", 3, start=1)
    _, _, members = kp.workload_members("StatefulSet", sts, [pod("search-1"), pod("search-3", running=False, restarts=2)],
                                        "search", NOW)
    assert [(m.name, m.state, m.running, m.held) for m in members] == [
        ("search-1", "running", True, False), ("search-2", "pending", False, False), ("search-3", "backoff", False, False)]
    assert members[2].restarts == 2
    view = LayerView(layer="search", replicas={"search": 3}, baseline={"search": 3}, members=tuple(members))
    assert [m.name for m in view.restarting()] == ["search-2", "search-3"]


def test_a_deployment_lists_its_pods_and_a_placeholder_per_missing_replica():
    dep = workload("web", 2, stopped=["web-abc12"])
    _, baseline, members = kp.workload_members("Deployment", dep, [pod("web-x1"), pod("web-x2", deleting=True)], "web", NOW)
    assert baseline == 3
    assert [(m.name, m.held) for m in members] == [("web-x1", False), ("web-abc12", True), ("web-pending-3", False)]
    assert members[0].up_s is not None and members[0].up_s >= 0


def test_selectors_and_templates():
    assert kp.parse_selector("app.kubernetes.io/name=kafka, tier==x") == {"app.kubernetes.io/name": "kafka", "tier": "x"}
    with pytest.raises(UsageError):
        kp.parse_selector("app!=kafka")
    assert kp.template_matches(workload("kafka", 3), {"app.kubernetes.io/name": "kafka"})
    assert not kp.template_matches(workload("kafka", 3), {"app.kubernetes.io/name": "search"})


def sandbox_k8s() -> dict:
    data = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    return data["configuration"]["gameday_environment"]


def test_a_kubernetes_environment_gets_the_kubernetes_platform():
    platform = platform_for(KubernetesTarget(from_mapping(sandbox_k8s(), "test")))
    assert isinstance(platform, kp.KubernetesPlatform)
    assert platform.view("lb").members == ()                  # declared outside: nothing to see (no API call)
    assert platform.endpoints("kafka", "broker")[0] == "kafka-1.default.gameday.test:9092"  # the environment's names
    assert platform.endpoints("db", "mysql") == ["db.default.gameday.test:3306"]
    data = sandbox_k8s()
    data["kubernetes"].update(context="gke", kubeconfig="/somewhere/kubeconfig")
    data["kubernetes"].pop("indexer")  # a cluster where the indexer is not named
    data["kubernetes"]["layers"].pop("indexer")
    platform = platform_for(KubernetesTarget(from_mapping(data, "test")))
    assert platform.view("indexer").members == ()             # not pods here: nothing to see (no API call)
    with pytest.raises(UsageError, match="not a member of a layer viewed here"):
        platform.replace("kafka-9")


def strimzi_pod(name: str, owner: str = "sps-events-broker", **kw) -> dict:
    p = pod(name, **kw)
    p["metadata"].update(uid=f"uid-{name}", ownerReferences=[
        {"kind": "StrimziPodSet", "name": owner, "controller": True, "apiVersion": "core.strimzi.io/v1beta2"}])
    return p


def test_pods_of_an_operator_are_members_of_their_controller_and_never_scaled():
    brokers = [strimzi_pod("sps-events-broker-0"), strimzi_pod("sps-events-broker-1", ready=False),
               strimzi_pod("sps-events-controller-3", owner="sps-events-controller")]
    bare = pod("debug-shell")
    bare["metadata"]["uid"] = "uid-bare"
    groups = kp.operator_owned(brokers + [bare])
    assert [(kind, obj["metadata"]["name"], [p["metadata"]["name"] for p in mine]) for kind, obj, mine in groups] == [
        ("Pod", "debug-shell", ["debug-shell"]),
        ("StrimziPodSet", "sps-events-broker", ["sps-events-broker-0", "sps-events-broker-1"]),
        ("StrimziPodSet", "sps-events-controller", ["sps-events-controller-3"])]
    kind, obj, mine = groups[1]
    replicas, baseline, members = kp.workload_members(kind, obj, mine, "kafka", NOW)
    assert (replicas, baseline) == (2, 2)  # what is there: the operator decides what should be
    assert [(m.name, m.ready, m.held) for m in members] == [("sps-events-broker-0", True, False),
                                                           ("sps-events-broker-1", False, False)]
    platform = kp.KubernetesPlatform.__new__(kp.KubernetesPlatform)
    platform.target = type("T", (), {"name": "gke-staging"})()
    platform.twin = None
    platform._kind_of = {"sps-events-broker": ("StrimziPodSet", "kafka")}
    with pytest.raises(UsageError, match="sps-events-broker is a StrimziPodSet; its operator owns the replica count"):
        platform.scale("sps-events-broker", 3)
