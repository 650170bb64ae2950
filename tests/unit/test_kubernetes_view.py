"""The Kubernetes target's playbook view without a cluster: members of StatefulSets and Deployments,
held (stopped by gameday) pods, baselines, owners, selectors, and the endpoints playbooks share
with chaos (the environment's names, never pod addresses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gameday.errors import UsageError
from gameday.targets import kubernetes_workloads as kw
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget
from gameday.targets.kubernetes_pods import started_seconds_ago
from gameday.targets.kubernetes_selectors import (equality_selector, parse_selector, template_labels,
                                                  text_selector_matches)
from gameday.targets.members import LayerView

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
    spec = {"replicas": replicas, "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}},
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}
    if start is not None:
        spec["ordinals"] = {"start": start}
    annotations = {kw.STOPPED_ANNOTATION: json.dumps(stopped)} if stopped else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def test_a_statefulset_lists_every_ordinal_of_its_baseline_and_a_stopped_one_is_held():
    sts = workload("kafka", 2, start=1, stopped=["kafka-3"])
    replicas, baseline, members = kw.workload_members("StatefulSet", sts, [pod("kafka-1"), pod("kafka-2", ready=False)],
                                                      "kafka", NOW)
    assert (replicas, baseline) == (2, 3)
    assert [(m.name, m.state, m.ready, m.held, m.index) for m in members] == [
        ("kafka-1", "running", True, False, 1), ("kafka-2", "running", False, False, 2), ("kafka-3", "stopped", False, True, 3)]
    view = LayerView(layer="kafka", replicas={"kafka": replicas}, baseline={"kafka": baseline}, members=tuple(members))
    assert view.scaled_down == {"kafka": (2, 3)} and [m.name for m in view.held] == ["kafka-3"]


def test_a_deleted_statefulset_pod_not_yet_replaced_is_restarting():
    sts = workload("search", 3, start=1)
    _, _, members = kw.workload_members("StatefulSet", sts, [pod("search-1"), pod("search-3", running=False, restarts=2)],
                                        "search", NOW)
    assert [(m.name, m.state, m.running, m.held) for m in members] == [
        ("search-1", "running", True, False), ("search-2", "pending", False, False), ("search-3", "backoff", False, False)]
    assert members[2].restarts == 2
    view = LayerView(layer="search", replicas={"search": 3}, baseline={"search": 3}, members=tuple(members))
    assert [m.name for m in view.restarting()] == ["search-2", "search-3"]


def test_a_deployment_lists_its_pods_and_a_placeholder_per_missing_replica():
    dep = workload("web", 2, stopped=["web-abc12"])
    _, baseline, members = kw.workload_members("Deployment", dep, [pod("web-x1"), pod("web-x2", deleting=True)], "web", NOW)
    assert baseline == 3
    assert [(m.name, m.held) for m in members] == [("web-x1", False), ("web-abc12", True), ("web-pending-3", False)]
    assert members[0].up_s == pytest.approx(started_seconds_ago(pod("web-x1"), NOW)) and members[0].up_s >= 0


def test_one_selector_parser_for_environments_templates_and_services():
    assert parse_selector("app.kubernetes.io/name=kafka, tier==x, !canary, zone, role!=y") == [
        ("app.kubernetes.io/name", "=", "kafka"), ("tier", "=", "x"), ("canary", "!exists", None),
        ("zone", "exists", None), ("role", "!=", "y")]
    assert text_selector_matches("app.kubernetes.io/name=kafka", template_labels(workload("kafka", 3)))
    assert not text_selector_matches("app.kubernetes.io/name=kafka", template_labels(workload("search", 3)))
    assert equality_selector("app=web, tier==front") == {"app": "web", "tier": "front"}
    with pytest.raises(ValueError, match="not a key=value term"):
        equality_selector("app!=web")
    with pytest.raises(ValueError, match="empty"):
        equality_selector(" , ")
    with pytest.raises(ValueError, match="has no key"):
        parse_selector("=web")


def test_workloads_claim_their_pods_a_scaled_away_one_is_kept_and_the_rest_go_to_their_controller():
    kafka, idle = workload("kafka", 2, start=1), workload("kafka-old", 0)
    idle["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "kafka-old"}
    strays = [strimzi_pod("sps-events-broker-0")]
    owned = kw.group_by_owner([("StatefulSet", kafka), ("StatefulSet", idle)], [pod("kafka-1"), pod("kafka-2")] + strays)
    assert [(kind, obj["metadata"]["name"], [p["metadata"]["name"] for p in mine]) for kind, obj, mine in owned] == [
        ("StatefulSet", "kafka", ["kafka-1", "kafka-2"]), ("StatefulSet", "kafka-old", []),
        ("StrimziPodSet", "sps-events-broker", ["sps-events-broker-0"])]


def rehearsal() -> dict:
    data = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    return data["configuration"]["gameday_environment"]


def test_playbooks_and_chaos_share_the_environments_endpoints_and_an_outside_layer_has_no_members():
    target = KubernetesTarget(from_mapping(rehearsal(), "test"))
    assert target.view("lb").members == ()                  # declared outside: nothing to see (no API call)
    assert target.kafka_bootstrap().split(",")[0] == "kafka-1.default.gameday.test:9095"  # the environment's names
    assert target.db_address() == ("db.default.gameday.test", 3306)
    data = rehearsal()
    data["kubernetes"].update(context="gke", kubeconfig="/somewhere/kubeconfig")
    data["kubernetes"].pop("indexer")  # a cluster where the indexer is not named
    data["kubernetes"]["layers"].pop("indexer")
    target = KubernetesTarget(from_mapping(data, "test"))
    assert target.view("indexer").members == ()             # not pods here: nothing to see (no API call)


def strimzi_pod(name: str, owner: str = "sps-events-broker", **kw_) -> dict:
    p = pod(name, **kw_)
    p["metadata"].update(uid=f"uid-{name}", ownerReferences=[
        {"kind": "StrimziPodSet", "name": owner, "controller": True, "apiVersion": "core.strimzi.io/v1beta2"}])
    return p


def test_pods_of_an_operator_are_members_of_their_controller_and_never_scaled():
    brokers = [strimzi_pod("sps-events-broker-0"), strimzi_pod("sps-events-broker-1", ready=False),
               strimzi_pod("sps-events-controller-3", owner="sps-events-controller")]
    bare = pod("debug-shell")
    groups = kw.operator_owned(brokers + [bare])
    assert [(kind, obj["metadata"]["name"], [p["metadata"]["name"] for p in mine]) for kind, obj, mine in groups] == [
        ("Pod", "debug-shell", ["debug-shell"]),
        ("StrimziPodSet", "sps-events-broker", ["sps-events-broker-0", "sps-events-broker-1"]),
        ("StrimziPodSet", "sps-events-controller", ["sps-events-controller-3"])]
    kind, obj, mine = groups[1]
    replicas, baseline, members = kw.workload_members(kind, obj, mine, "kafka", NOW)
    assert (replicas, baseline) == (2, 2)  # what is there: the operator decides what should be
    assert [(m.name, m.ready, m.held) for m in members] == [("sps-events-broker-0", True, False),
                                                           ("sps-events-broker-1", False, False)]
    target = KubernetesTarget(from_mapping(rehearsal(), "gke-staging"))
    target._workload_kinds["sps-events-broker"] = ("StrimziPodSet", "kafka")  # as a view of the kafka layer left it
    with pytest.raises(UsageError, match="sps-events-broker is a StrimziPodSet; its operator owns the replica count"):
        target.scale("sps-events-broker", 3)
    with pytest.raises(UsageError, match="no Deployment or StatefulSet 'kafka-9' seen"):
        target.scale("kafka-9", 3)
