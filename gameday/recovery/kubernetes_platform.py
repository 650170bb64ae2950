"""The playbooks' platform on a Kubernetes target: members are the pods of a layer's Deployments and
StatefulSets (spec vs ready replicas), the controls are scale, the target's stop/start and pod delete.

::

    platform = KubernetesPlatform(target)       # platform_for(target) picks it for kind: kubernetes
    platform.view("kafka").members               # kafka-1..3: running, ready, held (stopped by gameday)
    platform.scale("kafka", 3); platform.start("kafka-3"); platform.replace("search-2")

- A layer with pods on the target (``kubernetes:`` selectors: web, kafka, search) is read from the
  API: its workloads are the Deployments/StatefulSets of the namespace whose pod template the layer's
  selector matches. A workload's **baseline** is its replicas plus the pods gameday stopped on it
  (the target records them in ``gameday.io/stopped-pods``): a pod stopped there is *held*.
  A StatefulSet's members are its ordinals (present or not); a Deployment's are its pods, plus a
  ``<workload>-pending-N`` placeholder per replica it has no pod for. Pods of an operator's own
  controller (Strimzi's StrimziPodSet) are members of that controller: seen, replaced when stuck
  (their operator recreates them), never scaled.
- A layer the environment declares ``outside`` (``kubernetes.layers``: Cloud SQL, the cloud load
  balancer; on the twin, HAProxy and toxiproxy) has no members here: its playbook checks it through
  its endpoints only.
- Endpoints come from the environment file (Kafka bootstrap, search URL, database), plus the live
  pods' addresses for the named container port (a search node that is down is then not the only URL).
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from ..errors import UsageError
from ..targets.base import Node
from ..targets.kubernetes import (STOPPED_ANNOTATION, KubernetesTarget, deleting, layer_scope, name_order,
                                  ordinals_start, pod_ready, stopped_list)
from .platform import LayerView, Member


def parse_selector(text: str) -> dict[str, str]:
    """``"app.kubernetes.io/name=kafka,tier=x"`` -> labels (equality selectors only, as the environments use)."""
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or "!" in key:
            raise UsageError(f"label selector {text!r}: only key=value terms are supported by playbooks")
        out[key.strip()] = value.lstrip("=").strip()
    return out


def template_matches(workload: dict[str, Any], wanted: dict[str, str]) -> bool:
    labels = ((workload["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def started_seconds_ago(pod: dict[str, Any], now: float) -> float | None:
    """Seconds since the pod's first container started running (None when none runs)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        started = ((status.get("state") or {}).get("running") or {}).get("startedAt")
        if started:
            return max(0.0, now - calendar.timegm(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ")))
    return None


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
    """(replicas now, baseline, members) of one Deployment or StatefulSet (pure: unit-tested)."""
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


def operator_owned(pods: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """Pods no Deployment or StatefulSet owns, grouped by their controller (Strimzi's StrimziPodSet,
    an operator's own kind, or none: a bare pod): (kind, a stand-in workload whose replicas are the
    pods there now, its pods). Their operator decides how many there should be; the playbooks can
    see and replace them, never scale them."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pod in pods:
        ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
        key = (ref["kind"], ref["name"]) if ref else ("Pod", pod["metadata"]["name"])
        groups.setdefault(key, []).append(pod)
    return [(kind, {"metadata": {"name": name}, "spec": {"replicas": len(mine)}}, mine)
            for (kind, name), mine in sorted(groups.items())]


class KubernetesPlatform:
    """Members of a Kubernetes target's layers that run as pods."""

    def __init__(self, target: KubernetesTarget):
        self.target = target
        self.env = target.env
        self._layer_of: dict[str, str] = {}  # member -> layer, from the last views
        self._kind_of: dict[str, tuple[str, str]] = {}   # workload -> (Deployment | StatefulSet, namespace)

    def _owned(self, layer: str) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
        """(kind, workload, its pods) for the layer's Deployments and StatefulSets."""
        namespace, selector = layer_scope(self.target.block, layer)
        wanted = parse_selector(selector)
        t = self.target
        pods = t._call(t.core.list_namespaced_pod, namespace, label_selector=selector).get("items") or []
        out = []
        for kind, lister in (("Deployment", t.apps.list_namespaced_deployment),
                             ("StatefulSet", t.apps.list_namespaced_stateful_set)):
            for obj in t._call(lister, namespace).get("items") or []:
                if not template_matches(obj, wanted):
                    continue
                match = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
                mine = [p for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in match.items())]
                out.append((kind, obj, mine))
                self._kind_of[obj["metadata"]["name"]] = (kind, namespace)
        claimed = {p["metadata"]["uid"] for _kind, _obj, mine in out for p in mine}
        for kind, obj, mine in operator_owned([p for p in pods if p["metadata"].get("uid") not in claimed]):
            out.append((kind, obj, mine))
            self._kind_of[obj["metadata"]["name"]] = (kind, namespace)
        return out

    def view(self, layer: str) -> LayerView:
        if layer_scope(self.target.block, layer) is None:
            return LayerView(layer=layer, replicas={}, baseline={}, members=())
        now = time.time()
        replicas, baseline, members = {}, {}, []
        for kind, obj, pods in self._owned(layer):
            name = obj["metadata"]["name"]
            replicas[name], baseline[name], found = workload_members(kind, obj, pods, layer, now)
            members += found
        for m in members:
            self._layer_of[m.name] = layer
        return LayerView(layer=layer, replicas=replicas, baseline=baseline, members=tuple(members))

    def endpoints(self, layer: str, port: str) -> list[str]:
        """``host:port`` of a layer, as the environment gives it (Kafka bootstrap, search URL, database,
        the site's load balancer): the addresses gameday reaches the cluster by from where it runs.
        Pod addresses are not used: from outside a cluster they are not routable, and a TLS endpoint's
        certificate names the service, not the pod."""
        block = self.target.block
        configured: list[str] = []
        if layer == "kafka" and port == "broker":
            configured = [hp.strip() for hp in str(block["kafka"]["bootstrap"]).split(",") if hp.strip()]
        elif layer == "search" and port == "http":
            configured = [u.split("://", 1)[-1].rstrip("/") for u in self.target.search_urls()]
        elif layer == "db" and block.get("db"):
            configured = ["%s:%d" % self.target.db_address()]
        elif layer == "lb" and port == "http":
            configured = [self.target.site_url().split("://", 1)[-1].split("/", 1)[0]]
        if not configured:
            raise UsageError(f"{self.target.name}: no {layer} endpoint for port {port!r}",
                             hint=f"the environment file ({self.env.source or 'its environment file'}) names none")
        return configured

    # ---- controls ------------------------------------------------------------------------------
    def _node(self, member: str) -> Node:
        layer = self._layer_of.get(member)
        if layer is None:
            raise UsageError(f"{self.target.name}: {member} is not a member of a layer viewed here")
        return Node(name=member, layer=layer)

    def scale(self, workload: str, replicas: int) -> None:
        """Set the workload's replicas; pods gameday had stopped on it are no longer held."""
        if workload not in self._kind_of:
            raise UsageError(f"{self.target.name}: no Deployment or StatefulSet {workload!r} seen")
        kind, namespace = self._kind_of[workload]
        if kind not in ("Deployment", "StatefulSet"):
            raise UsageError(f"{self.target.name}: {workload} is a {kind}; its operator owns the replica count",
                             hint="change the operator's resource (Strimzi KafkaNodePool, ECK Elasticsearch) instead")
        t = self.target
        patch = t.apps.patch_namespaced_deployment if kind == "Deployment" else t.apps.patch_namespaced_stateful_set
        t._call(patch, workload, namespace, {"metadata": {"annotations": {STOPPED_ANNOTATION: None}},
                                             "spec": {"replicas": int(replicas)}})

    def start(self, member: str) -> None:
        self.target.start(self._node(member))

    def stop(self, member: str) -> None:
        self.target.stop(self._node(member), respect_pdb=False)

    def replace(self, member: str) -> None:
        """Delete the pod (grace 0); its controller makes a fresh one."""
        self.target.kill(self._node(member), respect_pdb=False)

    def restart(self, layer: str, timeout: float) -> list[str]:
        """``kubectl rollout restart`` of the layer's Deployments/StatefulSets, waited for."""
        return self.target.restart(layer, timeout=timeout)

