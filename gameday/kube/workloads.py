"""The twin's workloads as Kubernetes objects, generated from its topology, and how they join the twin.

``gameday sandbox up --kubernetes`` runs web as a Deployment in namespace ``gameday`` instead of
supervisor members: each pod runs the very command, environment and readiness check of the
supervisor's ``web-N`` member (the twin's web tier: :func:`gameday.sandbox.members.site.web`, or
WordPress, :func:`gameday.sandbox.members.wordpress.member`), with the member's address replaced by
the pod's (``$(POD_IP)``) and its secret env files turned into Secrets. A WordPress pod's launcher
renders its php-fpm and nginx configs for its own address and name (``$(POD_NAME)``) into an emptyDir
(:func:`wordpress_container`); Redis (the object cache, as Memorystore) and the Java outbox relay stay
supervisor members outside the cluster, the Redis password in a Secret of its own (``redis-auth``)::

    objects(twin)      # Namespace, Service/StatefulSet/PDB db, kafka and search, Secret sandbox-db,
                       # Deployment web (3), Service web, PDB web, Deployment indexer (2)
    credential_objects(twin)   # Secrets search-es-elastic-user (key elastic) and twin-ca (key ca.crt)
    python -m gameday.kube.workloads --twin default --net 10 --part data   # apply, wait until available

The database, Kafka and search run as StatefulSets ``db`` (one pod, ``db-1``: MariaDB on
``data/db-1``), ``kafka`` and ``search`` (``ordinals.start: 1``: pods ``kafka-1..3`` are KRaft node
ids 1..3 and use ``conf/kafka-N``, their data on their own claims ``data-kafka-N``, formatted on first
use: :mod:`.kafka_storage`; ``search-1..3`` use ``data/search-N`` for their configuration and logs, their
data on their own claims ``elasticsearch-data-search-N``, as ECK's: :mod:`.search_storage`), each pod on
the supervisor member's fixed address (annotation ``sandbox.gameday.io/addresses``, which toxiproxy and
the configs name), running the member's command with its name replaced by ``$(POD_NAME)``.

What joins the supervisor's topology (:func:`adopt`): the supervisor's own web, indexer, db, Kafka and
search replicas drop to 0; a job ``kube-data`` applies the StatefulSets once the node agent is up and waits
for their pods, the bootstrap job (topics, index, seed) comes after it; a job ``kube-workloads``
applies web once the bootstrap job is done, and
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
import pwd
import re
import sys
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ..sandbox.spec import MemberSpec, Topology, Workload
from .addresses import ANNOTATION as ADDRESSES_ANNOTATION
from ..sandbox.twin import DB_USER, LAYERS, PORTS, WEB_REPLICAS, Twin
from .containers import (CA_SECRET, DB_SECRET, NAME_LABEL, NAMESPACE, PART_OF, PROBE_PASSWORD_ENV,  # noqa: F401
                         REDIS_SECRET, SEARCH_SECRET, SECRET_REFS, SELECTOR_ANNOTATION, _secret_ref, container_from,
                         probe_from, secret_keys)

log = logging.getLogger("gameday.kube.workloads")

FIELD_MANAGER = "gameday-sandbox"
APPLY_TIMEOUT = 240.0


# ---- the objects ---------------------------------------------------------------------------------------

def _meta(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {**PART_OF, **(labels or {})}, **extra}


ZONE_KEY = "topology.kubernetes.io/zone"
PER_MEMBER_LABELS = ("node-id", "zone")  # member 1's own: a pod's node id is its ordinal, its zone its node's


def pod_labels(member: MemberSpec) -> dict[str, str]:
    """The labels every pod of a workload made from ``member`` carries: the member's, but for those
    that belong to one member only (:data:`PER_MEMBER_LABELS`)."""
    return {k: v for k, v in member.labels.items() if k not in PER_MEMBER_LABELS}


def zone_spread(match: dict[str, str], *, keep_in_zone: bool) -> dict[str, Any]:
    """A topology spread constraint over the nodes' zones for the pods ``match`` selects (maxSkew 1).
    ``keep_in_zone`` (StatefulSets: a broker's or search node's disk is zonal, as a GKE persistent
    disk is): DoNotSchedule, so a pod whose zone is lost stays Pending until the zone returns (the
    lost zone still counts as a domain); else ScheduleAnyway: a Deployment's replacement pods go to
    the zones that are left."""
    return {"maxSkew": 1, "topologyKey": ZONE_KEY,
            "whenUnsatisfiable": "DoNotSchedule" if keep_in_zone else "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(match)}}


def indexer_objects(indexer: Workload) -> list[dict[str, Any]]:
    """Deployment for the indexer (a Kafka consumer group: no Service, no address of its own). No
    PodDisruptionBudget: stopping every consumer is a fault the catalog injects on purpose."""
    member = indexer.members[0]
    match = {NAME_LABEL: "indexer"}
    labels = {**match, **pod_labels(member)}
    container = container_from(member, name="indexer", secret=DB_SECRET if member.env_files else None)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("indexer", labels),
        "spec": {"replicas": len(indexer.members), "selector": {"matchLabels": match},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container],
                                       "terminationGracePeriodSeconds": int(member.stop_grace),
                                       "topologySpreadConstraints": [zone_spread(match, keep_in_zone=False)]}}},
    }
    return [deployment]


WORDPRESS_LAUNCHER = "gameday.sandbox.wordpress.launch"
PUBLISHER_SECRET = "wordpress-publisher"  # the site API's publisher (a client's credential: environments name it)
RUN_VOLUME = "run"  # a WordPress pod's emptyDir: its rendered configs, sockets, pid files and temp files


def pod_run_dir(twin: Twin) -> str:
    """Where a WordPress web pod's emptyDir is mounted (the same path in every pod, each its own
    directory: the node agent bind-mounts it in the container's mount namespace)."""
    return str(twin.paths.run / "web-pod")


def wordpress_container(twin: Twin, member: MemberSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The container of a WordPress web pod and its volumes, from the supervisor's ``web-1``: the same
    launcher command, at the pod's address (``$(POD_IP)``), named as the pod (``$(POD_NAME)``: the
    php-fpm pool, ``X-Served-By``, the readiness fault's file) and with its run directory on an
    emptyDir, so that no two pods share a socket, a pid file or a config."""
    container = container_from(member, name="web", secret=DB_SECRET if member.env_files else None)
    args = list(container["args"])
    for flag, value in (("--member", "$(POD_NAME)"), ("--run-dir", pod_run_dir(twin))):
        if flag not in args:
            raise ValueError(f"{member.name}: the WordPress launcher's argv has no {flag}")
        args[args.index(flag) + 1] = value
    container["args"] = args
    container["env"].insert(0, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    container["volumeMounts"] = [{"name": RUN_VOLUME, "mountPath": pod_run_dir(twin)}]
    return container, [{"name": RUN_VOLUME, "emptyDir": {}}]


def web_objects(twin: Twin, web: Workload, *, replicas: int = WEB_REPLICAS) -> list[dict[str, Any]]:
    """Deployment + Service + PodDisruptionBudget for the web tier (from the supervisor's ``web-1``:
    the Python site's, or WordPress's launcher, :func:`wordpress_container`)."""
    member = web.members[0]
    labels = {NAME_LABEL: "web", **pod_labels(member)}
    volumes: list[dict[str, Any]] = []
    if WORDPRESS_LAUNCHER in member.argv:
        container, volumes = wordpress_container(twin, member)
    else:
        container = container_from(member, name="web", secret=DB_SECRET if member.env_files else None)
    pod_spec = {
        "containers": [container],
        **({"volumes": volumes} if volumes else {}),
        "terminationGracePeriodSeconds": int(member.stop_grace),
        "topologySpreadConstraints": [zone_spread({NAME_LABEL: "web"}, keep_in_zone=False),
                                      {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
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


# ---- Kafka and search: StatefulSets on the twin's fixed addresses ---------------------------------------

def per_pod(text: str, member_name: str) -> str:
    """``.../conf/kafka-1/server.properties`` -> ``.../conf/$(POD_NAME)/server.properties``: a member's
    own name in its argv or env becomes the pod's (StatefulSet pod ``kafka-2`` is member ``kafka-2``)."""
    return re.sub(rf"(?<![\w-]){re.escape(member_name)}(?!\w)", "$(POD_NAME)", text)


def pod_addresses(twin: Twin, layer: str, replicas: int) -> str:
    """The addresses annotation giving StatefulSet pod N (ordinals from 1) the supervisor's address
    ``127.<net>.<layer>.N``: the list starts at ``.0`` because the node agent takes the N-th entry
    for pod index N (``.0`` itself is never handed out)."""
    base = f"127.{twin.net}.{LAYERS[layer]}"
    return f"{base}.0-{base}.{replicas}"


def stateful_container(member: MemberSpec, *, name: str) -> dict[str, Any]:
    """The supervisor member's command, env and readiness check for every ordinal: its own name
    (config directory, node directory) is the pod's name, expanded by ``$(POD_NAME)``."""
    env: list[dict[str, Any]] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                 {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    env += [{"name": k, "value": per_pod(v, member.name)} for k, v in sorted(member.env.items())]
    if (member.readiness or {}).get("auth"):  # its exec probe's password (ECK mounts it from the same Secret)
        env.append({"name": PROBE_PASSWORD_ENV, "valueFrom": {"secretKeyRef": _secret_ref(PROBE_PASSWORD_ENV)}})
    argv = [per_pod(a, member.name) for a in member.argv]
    container: dict[str, Any] = {
        "name": name, "image": "host-process", "command": argv[:1], "args": argv[1:], "env": env,
        "ports": [{"name": port_name, "containerPort": port} for port_name, port in member.ports.items()]}
    probe = probe_from(member.readiness, next(iter(member.ports), ""))
    if probe:
        container["readinessProbe"] = probe
    if member.run_as:
        ids = pwd.getpwnam(member.run_as)
        container["securityContext"] = {"runAsUser": ids.pw_uid, "runAsGroup": ids.pw_gid}
    return container


def statefulset_objects(twin: Twin, workload: Workload) -> list[dict[str, Any]]:
    """Headless Service + StatefulSet (pods ``<name>-1..N`` on the supervisor's addresses, started in
    parallel: a KRaft quorum or an OpenSearch cluster needs a majority before any node is ready) +
    PodDisruptionBudget (maxUnavailable 1) for a supervisor workload of fixed-address members."""
    name, member = workload.name, workload.members[0]
    replicas = len(workload.members)
    match = {NAME_LABEL: name}
    labels = {**match, **pod_labels(member)}
    container, claims = stateful_container(member, name=name), []
    if name == "kafka":  # each broker's data on its own claim, formatted on first use (a disk lost: a claim deleted)
        from ..sandbox.members import kafka
        from . import kafka_storage
        container, claim = kafka_storage.with_claim(container, python=twin.python, cluster_id=kafka.cluster_id(twin))
        claims.append(claim)
    security: dict[str, Any] = {}
    if name == "search":  # each node's path.data on its own claim, as ECK's elasticsearch-data (a new claim: empty)
        from . import search_storage
        group = (container.get("securityContext") or {}).get("runAsGroup")
        container, claim, security = search_storage.with_claim(container, group=group)
        claims.append(claim)
    pod_spec = {"containers": [container], **({"securityContext": security} if security else {}),
                "terminationGracePeriodSeconds": int(member.stop_grace),
                "topologySpreadConstraints": [zone_spread(match, keep_in_zone=True)]}
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(name, match),
        "spec": {"replicas": replicas, "serviceName": name, "ordinals": {"start": 1},
                 "podManagementPolicy": "Parallel", "selector": {"matchLabels": match},
                 "template": {"metadata": {"labels": labels,
                                           "annotations": {ADDRESSES_ANNOTATION: pod_addresses(twin, workload.layer, replicas)}},
                              "spec": pod_spec},
                 **({"volumeClaimTemplates": claims} if claims else {})},
    }
    service = {  # headless and selectorless: the pods' addresses are loopback, which the API refuses in endpoints
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(name, match),
        "spec": {"clusterIP": "None", "ports": [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                                                for port_name, port in member.ports.items()]},
    }
    budget = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(name, match),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": match}},
    }
    return [service, statefulset, budget]


STATEFUL = ("db", "kafka", "search")  # supervisor workloads that run as StatefulSets with --kubernetes
DEPLOYED = ("web", "indexer")          # ... and as Deployments (applied after the bootstrap job)


def adopted_workloads(twin: Twin) -> Topology:
    """The supervisor workloads that run as Kubernetes objects here (``STATEFUL`` and ``DEPLOYED``), as
    the twin's topology builds them (web: the twin's web tier, the Python site's or WordPress's; the
    indexer without its own outbox relay under WordPress); made here so that this module does not
    import the topology that imports it (:func:`gameday.sandbox.topology.build` calls :func:`adopt`)."""
    from ..sandbox.members import db, kafka, search, site, wordpress
    web = wordpress.workload(twin, name="web", after=[]) if twin.shape.wordpress else site.web(twin)
    return Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, workloads=[
        db.workload(twin), kafka.workload(twin), search.workload(twin), web, site.indexer(twin)])


def objects(twin: Twin, topology: Topology | None = None, *, part: str = "all") -> list[dict[str, Any]]:
    """The objects of the twin's Kubernetes workloads, in apply order: ``part`` ``data`` (the namespace,
    Kafka and search StatefulSets: before the bootstrap job), ``web`` (after it) or ``all``."""
    topo = topology or adopted_workloads(twin)
    twin.db_password()  # the twin's secret env files exist from here on (made once per twin)
    twin.search_password()
    if twin.shape.wordpress:  # and the object cache's, which WordPress's pods read
        from ..sandbox.members import redis_cache
        redis_cache.password(twin)
    web = topo.workload("web")
    out: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": NAMESPACE, "labels": dict(PART_OF)}}]
    if part in ("data", "all"):
        for name in STATEFUL:
            out += statefulset_objects(twin, topo.workload(name))
    if part in ("web", "all"):
        keys = secret_keys(web.members[0].env_files)
        secrets = {k: v for k, v in keys.items() if _secret_ref(k)["name"] == DB_SECRET}
        if secrets:
            secrets.update(username=DB_USER, password=twin.db_password())  # as a production DB Secret holds them
            out.append({"apiVersion": "v1", "kind": "Secret", "metadata": _meta(DB_SECRET), "type": "Opaque",
                        "stringData": secrets})
        redis = {_secret_ref(k)["key"]: v for k, v in keys.items() if _secret_ref(k)["name"] == REDIS_SECRET}
        if redis:  # the object cache's AUTH string (WordPress's), never in the database's Secret
            out.append({"apiVersion": "v1", "kind": "Secret", "metadata": _meta(REDIS_SECRET), "type": "Opaque",
                        "stringData": redis})
        out += web_objects(twin, web)
        out += indexer_objects(topo.workload("indexer"))
    if part in ("web", "all"):  # search snapshots on a schedule, as the platform's own on GKE (gameday.kube.schedules)
        from .schedules import objects as schedule_objects
        out += schedule_objects(twin)
    return out


def credential_objects(twin: Twin) -> list[dict[str, Any]]:
    """Secrets an environment reads the twin's credentials from, named as on the platform: the search
    password (``search-es-elastic-user``, key ``elastic``) and the CA of the TLS front (``twin-ca``,
    key ``ca.crt``). Applied with the ``data`` part (:func:`main`); the database's is ``sandbox-db``.
    With WordPress also the ``publisher``'s Application Password (``wordpress-publisher``, keys
    ``username`` and ``password``): a client's credential (canaries, the load's editors publish with it),
    which no pod reads; WordPress keeps only its hash."""
    from ..sandbox import tls
    tls.ensure_ca(twin)
    publisher = []
    if twin.shape.wordpress:
        from ..sandbox.members import wordpress
        user, password = wordpress.publisher_credentials(twin)
        publisher = [{"apiVersion": "v1", "kind": "Secret", "metadata": _meta(PUBLISHER_SECRET), "type": "Opaque",
                      "stringData": {"username": user, "password": password}}]
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(SEARCH_SECRET, {"app.kubernetes.io/name": "search"}),
         "type": "Opaque", "stringData": {"elastic": twin.search_password()}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(CA_SECRET), "type": "Opaque",
         "stringData": {"ca.crt": tls.ca_bundle_path(twin).read_text()}},
        *publisher,
    ]


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


def available(apps: client.AppsV1Api, name: str, kind: str = "Deployment") -> bool:
    """The Deployment (or StatefulSet) has observed its spec and every replica it wants is ready and updated."""
    read = apps.read_namespaced_deployment if kind == "Deployment" else apps.read_namespaced_stateful_set
    dep = json.loads(read(name, NAMESPACE, _preload_content=False).data)
    status, spec = dep.get("status") or {}, dep["spec"]
    return (status.get("observedGeneration") == dep["metadata"]["generation"]
            and status.get("readyReplicas", 0) >= spec.get("replicas", 1)
            and status.get("updatedReplicas", 0) >= spec.get("replicas", 1))


# ---- joining the supervisor's topology ----------------------------------------------------------------

def apply_job_member(twin: Twin, kubeconfig: str, name: str, part: str) -> MemberSpec:
    return MemberSpec(
        name=f"{name}-1", index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.kube.workloads", "--kubeconfig", kubeconfig,
              "--twin", twin.name, "--net", str(twin.net), "--part", part],
        readiness={"type": "alive"}, labels={"app": name}, stop_grace=3.0)


def adopt(topology: Topology, twin: Twin, kubeconfig: str) -> None:
    """Move web, the indexer, the database, Kafka and search from supervisor members to Kubernetes
    objects: job ``kube-data`` applies the StatefulSets and waits for their pods (the bootstrap job
    now comes after it), job ``kube-workloads`` applies the web and indexer Deployments after the
    bootstrap job (and WordPress's install job ``wp-bootstrap``, which also waits for ``kube-data``:
    the database is a pod); ``kube-services`` feeds HAProxy."""
    from ..sandbox.members import lb
    for name in (*DEPLOYED, *STATEFUL):
        topology.workload(name).replicas = 0
    jobs = [w.name for w in topology.workloads if w.name in ("wp-bootstrap", "bootstrap")]
    for name in jobs:
        topology.workload(name).after.append("kube-data")
    data_job = apply_job_member(twin, kubeconfig, "kube-data", "data")
    apply_job = apply_job_member(twin, kubeconfig, "kube-workloads", "web")
    services = MemberSpec(
        name="kube-services-1", index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.kube.services", "--kubeconfig", kubeconfig, "--namespace", NAMESPACE,
              "--haproxy-socket", str(lb.socket_path(twin)), "--backend", "web=web"],
        readiness={"type": "alive", "min_seconds": 2}, labels={"app": "kube-services"}, stop_grace=3.0)
    topology.workloads += [
        Workload(name="kube-data", layer="jobs", kind="job", replicas=1, members=[data_job],
                 after=["node-agent", "toxiproxy"], labels={"layer": "kubernetes"}),
        Workload(name="kube-workloads", layer="jobs", kind="job", replicas=1, members=[apply_job],
                 after=["node-agent", *jobs, "toxiproxy"], labels={"layer": "kubernetes"}),
        Workload(name="kube-services", layer="kube", kind="service", replicas=1, members=[services],
                 after=["kube-apiserver", "lb"], labels={"layer": "kubernetes"}),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gameday.kube.workloads", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--twin", required=True, help="the twin's name")
    parser.add_argument("--net", type=int, required=True, help="the twin's loopback network (127.<net>.x.y)")
    parser.add_argument("--timeout", type=float, default=APPLY_TIMEOUT, help="seconds to wait for the workloads")
    parser.add_argument("--part", choices=("data", "web", "all"), default="all",
                        help="data: db, Kafka and search StatefulSets; web: the web and indexer Deployments; all: both")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..deadline import wait_until
    from ..errors import DeadlineExceeded

    twin = Twin.create(args.twin, net=args.net)
    api = config.new_client_from_config(config_file=args.kubeconfig)
    wanted = []
    applied = objects(twin, part=args.part)
    if args.part in ("data", "all"):  # after the Namespace, before the pods that read them
        applied[1:1] = credential_objects(twin)
    for obj in applied:
        apply(api, obj)
        log.info("applied %s %s", obj["kind"], obj["metadata"]["name"])  # never the Secret's data
        if obj["kind"] in ("Deployment", "StatefulSet"):
            wanted.append((obj["kind"], obj["metadata"]["name"]))
    apps = client.AppsV1Api(api)
    for kind, name in wanted:
        try:
            wait_until(lambda name=name, kind=kind: available(apps, name, kind), timeout=args.timeout, interval=1.0,
                       what=f"{kind} {name} to be available")
        except DeadlineExceeded as err:
            log.error("%s", err)
            return 1
        log.info("%s %s is available", kind, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
