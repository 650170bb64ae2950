"""Deployments and StatefulSets as the Kubernetes target reads and changes them, and the playbooks'
members of a layer built from them (pure: unit-tested without a cluster).

- What gameday stopped on a workload is recorded in its annotation ``gameday.io/stopped-pods``
  (:func:`stopped_list`); a StatefulSet stops only at its highest ordinal
  (:func:`statefulset_stop_replicas`).
- A workload's **baseline** is its replicas plus the pods gameday stopped on it: a pod stopped there
  is *held*. A StatefulSet's members are its ordinals (present or not); a Deployment's are its pods,
  plus a ``<workload>-pending-N`` placeholder per replica it has no pod for
  (:func:`workload_members`).
- Pods of an operator's own controller (Strimzi's StrimziPodSet) are members of that controller:
  seen, replaced when stuck (their operator recreates them), never scaled (:func:`operator_owned`).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError
from .kubernetes_pods import controller_ref, deleting, name_order, ordinal, pod_ready, started_seconds_ago
from .members import Member

STOPPED_ANNOTATION = "gameday.io/stopped-pods"
SCALABLE = ("Deployment", "StatefulSet")  # kinds whose replicas gameday sets; any other is its operator's


# ---- the stopped-pods record and StatefulSet ordinals ----------------------------------------------

def stopped_list(workload: dict[str, Any]) -> list[str]:
    """Names of the pods gameday stopped on this workload (its ``gameday.io/stopped-pods``)."""
    raw = (workload["metadata"].get("annotations") or {}).get(STOPPED_ANNOTATION)
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def ordinals_start(statefulset: dict[str, Any]) -> int:
    return int(((statefulset.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def statefulset_stop_replicas(name: str, replicas: int, start: int = 0) -> int:
    """The replica count that stops StatefulSet pod ``name`` (its highest ordinal), or UsageError.
    ``start`` is the StatefulSet's ``spec.ordinals.start`` (pods ``start .. start+replicas-1``)."""
    number = ordinal(name)
    highest = start + replicas - 1
    if number is None or number != highest:
        base = name.rsplit("-", 1)[0]
        raise UsageError(
            f"{name} is not the highest ordinal of StatefulSet {base} ({replicas} replicas): scaling down "
            f"stops {base}-{highest}, not {name}",
            hint=f"kill {name} instead (it comes back with the same name and volume), or stop {base}-{highest}")
    return replicas - 1


def statefulset_start_replicas(name: str, replicas: int, start: int = 0) -> int:
    """The replica count that runs StatefulSet pod ``name`` again (never fewer than now)."""
    number = ordinal(name)
    return replicas if number is None else max(replicas, number - start + 1)


def rolled_out(kind: str, obj: dict[str, Any]) -> bool:
    """A Deployment or StatefulSet has finished a rollout: the controller saw the newest spec, every
    replica runs the new template and is ready, and no pod of an old one is left."""
    status, spec = obj.get("status") or {}, obj["spec"]
    want = int(spec.get("replicas", 1))
    if status.get("observedGeneration", 0) < obj["metadata"].get("generation", 0):
        return False
    if int(status.get("updatedReplicas", 0)) < want or int(status.get("readyReplicas", 0)) < want:
        return False
    if kind == "StatefulSet":
        return status.get("currentRevision") == status.get("updateRevision")
    return int(status.get("replicas", 0)) == want  # old ReplicaSet's pods gone (surge done)


# ---- owners: which workload a layer's pods belong to ------------------------------------------------

def group_by_owner(workloads: list[tuple[str, dict[str, Any]]],
                   pods: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(kind, workload, its pods) for each Deployment/StatefulSet in ``workloads`` (its pods: those its
    ``spec.selector.matchLabels`` selects, none at all while it is scaled to 0), then for the pods
    none of them owns, grouped by :func:`operator_owned`. The one owner resolution of the Kubernetes
    target: its stop, start, restart, readiness count and playbook view all go through it."""
    out = []
    claimed: set[str] = set()
    for kind, obj in workloads:
        match = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
        mine = [p for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in match.items())]
        claimed |= {p["metadata"]["name"] for p in mine}
        out.append((kind, obj, mine))
    return out + operator_owned([p for p in pods if p["metadata"]["name"] not in claimed])


def operator_owned(pods: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """Pods no Deployment or StatefulSet owns, grouped by their controller (Strimzi's StrimziPodSet,
    an operator's own kind, or none: a bare pod): (kind, a stand-in workload whose replicas are the
    pods there now, its pods). Their operator decides how many there should be; the playbooks can
    see and replace them, never scale them."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pod in pods:
        ref = controller_ref(pod)
        key = (ref["kind"], ref["name"]) if ref else ("Pod", pod["metadata"]["name"])
        groups.setdefault(key, []).append(pod)
    return [(kind, {"metadata": {"name": name}, "spec": {"replicas": len(mine)}}, mine)
            for (kind, name), mine in sorted(groups.items())]


# ---- members (the playbooks' view) ------------------------------------------------------------------

def pod_member(pod: dict[str, Any], *, workload: str, layer: str, index: int, held: bool, now: float) -> Member:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    running = bool(statuses) and all("running" in (s.get("state") or {}) for s in statuses) and not deleting(pod)
    state = ("stopping" if deleting(pod) else "running" if running
             else "backoff" if any("waiting" in (s.get("state") or {}) for s in statuses) else "pending")
    return Member(name=pod["metadata"]["name"], workload=workload, layer=layer, index=index, state=state,
                  ready=pod_ready(pod) and running, running=running, held=held, wanted=True,
                  up_s=started_seconds_ago(pod, now) if running else None,
                  restarts=sum(int(s.get("restartCount", 0)) for s in statuses), address=status.get("podIP"))


def absent_member(name: str, *, workload: str, layer: str, index: int, held: bool) -> Member:
    return Member(name=name, workload=workload, layer=layer, index=index, state="stopped" if held else "pending",
                  ready=False, running=False, held=held, wanted=True, up_s=None, restarts=0, address=None)


def workload_members(kind: str, obj: dict[str, Any], pods: list[dict[str, Any]], layer: str,
                     now: float) -> tuple[int, int, list[Member]]:
    """(replicas now, baseline, members) of one Deployment or StatefulSet (or an operator's stand-in
    from :func:`operator_owned`)."""
    name = obj["metadata"]["name"]
    replicas = int(obj["spec"].get("replicas", 1))
    stopped = stopped_list(obj)
    baseline = replicas + len(stopped)
    live = [p for p in pods if not deleting(p) or kind == "StatefulSet"]
    members: list[Member] = []
    if kind == "StatefulSet":
        start = ordinals_start(obj)
        by_name = {p["metadata"]["name"]: p for p in live}
        for i in range(baseline):
            pod_name = f"{name}-{start + i}"
            held = pod_name in stopped
            pod = by_name.get(pod_name)
            members.append(pod_member(pod, workload=name, layer=layer, index=i + 1, held=held, now=now) if pod
                           else absent_member(pod_name, workload=name, layer=layer, index=i + 1, held=held))
        return replicas, baseline, members
    for i, pod in enumerate(sorted(live, key=lambda p: name_order(p["metadata"]["name"])), start=1):
        members.append(pod_member(pod, workload=name, layer=layer, index=i, held=False, now=now))
    held_names = list(stopped)
    for i in range(len(members) + 1, baseline + 1):
        held = bool(held_names)
        label = held_names.pop(0) if held else f"{name}-pending-{i}"
        members.append(absent_member(label, workload=name, layer=layer, index=i, held=held))
    return replicas, baseline, members
