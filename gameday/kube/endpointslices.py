"""EndpointSlices for the sandbox's Services, since Kubernetes' own controller cannot write them here.

The API server refuses loopback addresses in IPv4 EndpointSlices (and Endpoints), and every pod of
the sandbox lives on loopback. So the twin's Services have no ``spec.selector`` (Kubernetes' slice
controller leaves such a Service alone) but the annotation ``sandbox.gameday.io/selector``, and this
controller writes one slice per Service with ``addressType: FQDN`` whose addresses are the pods'
dotted IPs (``127.10.101.2`` is a valid domain name). Consumers read them as IPs. Conditions follow
Kubernetes: ``ready`` when the pod is Ready and not being deleted, ``serving`` when Ready,
``terminating`` when being deleted::

    desired_slice(service, pods)          # the slice a Service should have now (pure)
    EndpointSliceController(api, "gameday").run(stop)
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kubernetes import client

from ..targets.kubernetes_selectors import equality_selector
from .watching import API_ERRORS, Trigger, raw
from .workloads import SELECTOR_ANNOTATION, apply

log = logging.getLogger("gameday.kube.endpointslices")

MANAGED_BY = "endpointslice.sandbox.gameday.io"
SERVICE_NAME = "kubernetes.io/service-name"
RESYNC = 5.0


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _target_port(port: dict[str, Any], pods: list[dict[str, Any]]) -> int:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for pod in pods:
        for container in pod["spec"].get("containers") or []:
            for p in container.get("ports") or []:
                if p.get("name") == target:
                    return int(p["containerPort"])
    return int(port["port"])


def desired_slice(service: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The slice ``service`` should have, from every pod (same namespace) its annotation selects;
    None for a Service that is not ours to serve."""
    meta = service["metadata"]
    text = (meta.get("annotations") or {}).get(SELECTOR_ANNOTATION)
    if not text or (service.get("spec") or {}).get("selector"):
        return None
    wanted = equality_selector(text)  # as a Service's spec.selector: key=value terms only (ValueError)
    chosen = sorted((p for p in pods
                     if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
                     and (p.get("status") or {}).get("podIP")
                     and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")),
                    key=lambda p: p["metadata"]["name"])
    endpoints = []
    for pod in chosen:
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        ready = _ready(pod)
        endpoint: dict[str, Any] = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready and not terminating, "serving": ready, "terminating": terminating},
            "targetRef": {"kind": "Pod", "namespace": pod["metadata"]["namespace"], "name": pod["metadata"]["name"],
                          "uid": pod["metadata"]["uid"]},
        }
        if pod["spec"].get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        endpoints.append(endpoint)
    ports = [{"name": p.get("name", ""), "port": _target_port(p, chosen), "protocol": p.get("protocol", "TCP")}
             for p in (service.get("spec") or {}).get("ports") or []]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{meta['name']}-sandbox", "namespace": meta["namespace"],
                     "labels": {SERVICE_NAME: meta["name"], "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "addressType": "FQDN", "endpoints": endpoints, "ports": ports,
    }


def _same(current: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    if current is None:
        return False
    def norm(eps):
        return [(e["addresses"], e.get("conditions", {}), (e.get("targetRef") or {}).get("uid")) for e in eps or []]
    return norm(current.get("endpoints")) == norm(wanted["endpoints"]) and current.get("ports") == wanted["ports"]


class EndpointSliceController:
    """Keeps the slices of one namespace's annotated Services in step with their pods."""

    def __init__(self, api: client.ApiClient, namespace: str):
        self.api, self.namespace = api, namespace
        self.core = client.CoreV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)

    def reconcile(self) -> int:
        """One pass; returns how many slices were written."""
        services = raw(self.core.list_namespaced_service, self.namespace).get("items") or []
        pods = raw(self.core.list_namespaced_pod, self.namespace).get("items") or []
        slices = {s["metadata"]["name"]: s for s in raw(
            self.discovery.list_namespaced_endpoint_slice, self.namespace,
            label_selector=f"endpointslice.kubernetes.io/managed-by={MANAGED_BY}").get("items") or []}
        written = 0
        for service in services:
            try:
                wanted = desired_slice(service, pods)
            except ValueError as err:
                log.warning("service %s/%s: %s", self.namespace, service["metadata"]["name"], err)
                continue
            if wanted is None or _same(slices.get(wanted["metadata"]["name"]), wanted):
                continue
            apply(self.api, wanted, manager=MANAGED_BY)
            written += 1
            log.info("EndpointSlice %s: %s", wanted["metadata"]["name"],
                     ", ".join(f"{e['addresses'][0]}{'' if e['conditions']['ready'] else ' (not ready)'}"
                               for e in wanted["endpoints"]) or "no endpoints")
        return written

    def run(self, stop: threading.Event) -> None:
        """Reconcile on every pod or Service change (and every RESYNC seconds) until ``stop``."""
        trigger = Trigger(stop)
        trigger.watch(self.core.list_namespaced_pod, self.namespace)
        trigger.watch(self.core.list_namespaced_service, self.namespace)
        while not stop.is_set():
            trigger.wait(RESYNC)
            try:
                self.reconcile()
            except API_ERRORS as err:  # one failed pass is logged and retried on the next
                log.warning("reconcile failed (%s: %s); again in a moment", type(err).__name__, err)
                stop.wait(1.0)
