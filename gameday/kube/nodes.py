"""Nodes the agent registers and keeps alive: the Node object, its status and its Lease heartbeat.

``register`` creates (or takes over) each Node with its pod CIDR, its zone (the well-known label
``topology.kubernetes.io/zone``, as GKE labels a node with its Compute Engine zone) and a Ready status
whose addresses point the API server at the agent's kubelet port (so ``kubectl logs`` reaches the agent);
``heartbeat`` renews each node's Lease in ``kube-node-lease`` (the node lifecycle controller marks a
node unknown, then evicts its pods, when the lease lapses) and refreshes the node status now and then::

    register(api, node)            # api: ApiClient for the agent's kubeconfig
    heartbeat(api, node)           # every LEASE_RENEW seconds
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
from dataclasses import dataclass
from typing import Any

import psutil
from kubernetes import client
from kubernetes.client.rest import ApiException

from .build import K8S_VERSION

log = logging.getLogger("gameday.kube.nodes")

LEASE_SECONDS = 40
LEASE_RENEW = 10.0
STATUS_EVERY = 60.0
MERGE = "application/merge-patch+json"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
REGION = "twin"  # the twin's nodes are one region's (a region set's second twin is its own cluster)


@dataclass
class Node:
    name: str
    pod_cidr: str
    address: str  # the agent's address: the kubelet endpoint for every node it runs
    port: int
    zone: str | None = None  # its topology.kubernetes.io/zone label


def labels(node: Node) -> dict[str, str]:
    """The labels the agent keeps on ``node``: hostname, OS and architecture, the runtime, and its zone
    and region when it has a zone (what topology spread constraints and the zone drill read)."""
    out = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
           "node.gameday.io/runtime": "process"}
    if node.zone:
        out.update({ZONE_LABEL: node.zone, REGION_LABEL: REGION})
    return out


def _micro_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw(fn, *args, **kwargs) -> dict[str, Any]:
    """Call a kubernetes client method and return the JSON answer as a dict (no model classes)."""
    resp = fn(*args, _preload_content=False, **kwargs)
    return json.loads(resp.data) if resp.data else {}


def _status(node: Node) -> dict[str, Any]:
    cpus = str(os.cpu_count() or 1)
    memory = f"{psutil.virtual_memory().total // 1024}Ki"
    resources = {"cpu": cpus, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    now = _now()

    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now}

    return {
        "capacity": resources, "allocatable": resources,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "gameday node agent is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": node.address}, {"type": "Hostname", "address": node.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": node.port}},
        "nodeInfo": {
            "machineID": node.name, "systemUUID": node.name, "bootID": str(int(psutil.boot_time())),
            "kernelVersion": platform.release(), "osImage": "gameday sandbox (host processes)",
            "containerRuntimeVersion": "process://gameday", "kubeletVersion": K8S_VERSION,
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
        },
    }


def register(api: client.ApiClient, node: Node) -> None:
    """Create the Node (or take over an existing one of that name: its labels are set again) and post
    a Ready status."""
    core = client.CoreV1Api(api)
    body = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": labels(node)},
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
    }
    try:
        raw(core.create_node, body)
        log.info("registered node %s in %s (pods from %s)", node.name, node.zone or "no zone", node.pod_cidr)
    except ApiException as err:
        if err.status != 409:
            raise
        log.info("node %s exists: taking it over", node.name)
        raw(core.patch_node, node.name, {"metadata": {"labels": labels(node)}}, _content_type=MERGE)
    post_status(api, node)


def post_status(api: client.ApiClient, node: Node) -> None:
    raw(client.CoreV1Api(api).patch_node_status, node.name, {"status": _status(node)}, _content_type=MERGE)


def renew_lease(api: client.ApiClient, node: Node) -> None:
    """Renew (or create) the node's Lease in kube-node-lease."""
    coord = client.CoordinationV1Api(api)
    spec = {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": _micro_now()}
    try:
        raw(coord.patch_namespaced_lease, node.name, "kube-node-lease", {"spec": spec}, _content_type=MERGE)
    except ApiException as err:
        if err.status != 404:
            raise
        nodes = raw(client.CoreV1Api(api).read_node, node.name)
        owner = {"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": nodes["metadata"]["uid"]}
        raw(coord.create_namespaced_lease, "kube-node-lease",
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": node.name, "namespace": "kube-node-lease", "ownerReferences": [owner]},
             "spec": spec})
