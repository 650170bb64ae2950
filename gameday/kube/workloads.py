"""The twin's workloads as Kubernetes objects, generated from its topology, and how they join the twin.

``gameday sandbox up --kubernetes`` runs web as a Deployment in namespace ``gameday`` instead of
supervisor members: each pod runs the very command, environment and readiness check of the
supervisor's ``web-N`` member (:func:`gameday.sandbox.members.site.web`), with the member's address
replaced by the pod's (``$(POD_IP)``) and its secret env file turned into a Secret::

    objects(twin)      # Namespace, Secret sandbox-db, Deployment web (3), Service web, PDB web
    python -m gameday.kube.workloads --twin default --net 10       # apply them, wait until available

What joins the supervisor's topology (:func:`adopt`): the supervisor's own web replicas drop to 0,
a job ``kube-workloads`` applies the objects once the node agent and the bootstrap job are done, and
``kube-services`` (:mod:`gameday.kube.services`) keeps the Service's EndpointSlices and HAProxy's web
backend in step with the pods.

Pod addresses come from the node agent's pod CIDRs (``127.<net>.10N.x``). EndpointSlices cannot hold
loopback IPs (the API server refuses them), so the Service has no ``spec.selector``: our controller
writes its slices, of address type FQDN (see :mod:`gameday.kube.endpointslices`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any
from urllib.parse import urlparse

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ..sandbox.spec import MemberSpec, Topology, Workload
from ..sandbox.twin import PORTS, WEB_REPLICAS, Twin

log = logging.getLogger("gameday.kube.workloads")

NAMESPACE = "gameday"
FIELD_MANAGER = "gameday-sandbox"
NAME_LABEL = "app.kubernetes.io/name"
PART_OF = {"app.kubernetes.io/part-of": "gameday-sandbox"}
SELECTOR_ANNOTATION = "sandbox.gameday.io/selector"  # a selectorless Service's pods (our EndpointSlice controller)
DB_SECRET = "sandbox-db"
APPLY_TIMEOUT = 240.0


# ---- translation of a supervisor member into a container --------------------------------------------

def probe_from(readiness: dict[str, Any], port_name: str) -> dict[str, Any] | None:
    """The supervisor's readiness check as a Kubernetes probe (None for ``alive``)."""
    kind = readiness.get("type")
    if kind == "http":
        return {"httpGet": {"path": urlparse(readiness["url"]).path or "/", "port": port_name},
                "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 2}
    if kind == "tcp":
        return {"tcpSocket": {"port": port_name}, "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 2}
    return None


def secret_keys(env_files: list[str]) -> dict[str, str]:
    """KEY=VALUE lines of a member's env files (the twin's secrets), for a Secret."""
    out = {}
    for path in env_files:
        with open(path) as fh:
            for line in fh:
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    out[key.strip()] = value.strip()
    return out


def container_from(member: MemberSpec, *, name: str, secret: str | None) -> dict[str, Any]:
    """A process-backed container doing what ``member`` does, at the pod's address."""
    address = member.address or ""
    argv = [a.replace(address, "$(POD_IP)") if address else a for a in member.argv]
    env: list[dict[str, Any]] = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    env += [{"name": k, "value": v} for k, v in sorted(member.env.items())]
    if secret:
        env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": k}}}
                for k in sorted(secret_keys(member.env_files))]
    ports = [{"name": port_name, "containerPort": port} for port_name, port in member.ports.items()]
    container: dict[str, Any] = {"name": name, "image": "host-process", "command": argv[:1], "args": argv[1:],
                                 "env": env, "ports": ports}
    probe = probe_from(member.readiness, next(iter(member.ports), ""))
    if probe:
        container["readinessProbe"] = probe
    return container


# ---- the objects ---------------------------------------------------------------------------------------

def _meta(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {**PART_OF, **(labels or {})}, **extra}


def web_objects(twin: Twin, web: Workload, *, replicas: int = WEB_REPLICAS) -> list[dict[str, Any]]:
    """Deployment + Service + PodDisruptionBudget for the web tier (from the supervisor's ``web-1``)."""
    member = web.members[0]
    labels = {NAME_LABEL: "web", **member.labels}
    container = container_from(member, name="web", secret=DB_SECRET if member.env_files else None)
    pod_spec = {
        "containers": [container],
        "terminationGracePeriodSeconds": int(member.stop_grace),
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {NAME_LABEL: "web"}}}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("web", labels),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {NAME_LABEL: "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta("web", {NAME_LABEL: "web"}, annotations={SELECTOR_ANNOTATION: f"{NAME_LABEL}=web"}),
        "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": PORTS["web"], "targetPort": PORTS["web"],
                                                 "protocol": "TCP"}]},
    }
    budget = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta("web", {NAME_LABEL: "web"}),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {NAME_LABEL: "web"}}},
    }
    return [deployment, service, budget]


def objects(twin: Twin, topology: Topology | None = None) -> list[dict[str, Any]]:
    """Every object of the twin's Kubernetes workloads, in apply order."""
    from ..sandbox import topology as sandbox_topology
    topo = topology or sandbox_topology.build(twin)
    twin.db_password()  # the twin's secret env file exists from here on (made once per twin)
    web = topo.workload("web")
    out: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": NAMESPACE, "labels": dict(PART_OF)}}]
    secrets = secret_keys(web.members[0].env_files)
    if secrets:
        out.append({"apiVersion": "v1", "kind": "Secret", "metadata": _meta(DB_SECRET), "type": "Opaque",
                    "stringData": secrets})
    out += web_objects(twin, web)
    return out


# ---- applying ------------------------------------------------------------------------------------------

PLURALS = {"Namespace": "namespaces", "Secret": "secrets", "Service": "services", "Deployment": "deployments",
           "StatefulSet": "statefulsets", "PodDisruptionBudget": "poddisruptionbudgets",
           "EndpointSlice": "endpointslices", "ConfigMap": "configmaps"}


def object_path(obj: dict[str, Any]) -> str:
    """The API path of an object (for server-side apply)."""
    group_version = obj["apiVersion"]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    plural = PLURALS[obj["kind"]]
    namespace = obj["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{plural}/{obj['metadata']['name']}"


def apply(api: client.ApiClient, obj: dict[str, Any], *, manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """Server-side apply of one object (created or updated; our fields win)."""
    request = api.param_serialize("PATCH", object_path(obj),
                                  query_params=[("fieldManager", manager), ("force", "true")],
                                  header_params={"Content-Type": "application/apply-patch+yaml",
                                                 "Accept": "application/json"},
                                  body=obj, auth_settings=["BearerToken"])
    response = api.call_api(*request, _request_timeout=20)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data)


def available(apps: client.AppsV1Api, name: str) -> bool:
    dep = json.loads(apps.read_namespaced_deployment(name, NAMESPACE, _preload_content=False).data)
    status, spec = dep.get("status") or {}, dep["spec"]
    return (status.get("observedGeneration") == dep["metadata"]["generation"]
            and status.get("readyReplicas", 0) >= spec.get("replicas", 1)
            and status.get("updatedReplicas", 0) >= spec.get("replicas", 1))


# ---- joining the supervisor's topology ----------------------------------------------------------------

def adopt(topology: Topology, twin: Twin, kubeconfig: str) -> None:
    """Move web from supervisor members to the Deployment; add the apply job and ``kube-services``."""
    from ..sandbox.members import lb
    topology.workload("web").replicas = 0
    apply_job = MemberSpec(
        name="kube-workloads-1", index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.kube.workloads", "--kubeconfig", kubeconfig,
              "--twin", twin.name, "--net", str(twin.net)],
        readiness={"type": "alive"}, labels={"app": "kube-workloads"}, stop_grace=3.0)
    services = MemberSpec(
        name="kube-services-1", index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.kube.services", "--kubeconfig", kubeconfig, "--namespace", NAMESPACE,
              "--haproxy-socket", str(lb.socket_path(twin)), "--backend", "web=web"],
        readiness={"type": "alive", "min_seconds": 2}, labels={"app": "kube-services"}, stop_grace=3.0)
    topology.workloads += [
        Workload(name="kube-workloads", layer="jobs", kind="job", replicas=1, members=[apply_job],
                 after=["node-agent", "bootstrap", "toxiproxy"], labels={"layer": "kubernetes"}),
        Workload(name="kube-services", layer="kube", kind="service", replicas=1, members=[services],
                 after=["kube-apiserver", "lb"], labels={"layer": "kubernetes"}),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gameday.kube.workloads", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--twin", required=True, help="the twin's name")
    parser.add_argument("--net", type=int, required=True, help="the twin's loopback network (127.<net>.x.y)")
    parser.add_argument("--timeout", type=float, default=APPLY_TIMEOUT, help="seconds to wait for the Deployments")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..deadline import wait_until
    from ..errors import DeadlineExceeded

    twin = Twin.create(args.twin, net=args.net)
    api = config.new_client_from_config(config_file=args.kubeconfig)
    for obj in objects(twin):
        apply(api, obj)
        log.info("applied %s %s", obj["kind"], obj["metadata"]["name"])  # never the Secret's data
    apps = client.AppsV1Api(api)
    try:
        wait_until(lambda: available(apps, "web"), timeout=args.timeout, interval=1.0,
                   what="Deployment web to be available")
    except DeadlineExceeded as err:
        log.error("%s", err)
        return 1
    log.info("Deployment web is available")
    return 0


if __name__ == "__main__":
    sys.exit(main())
