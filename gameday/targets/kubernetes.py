"""The Kubernetes target: nodes are pods, found by namespace and label selector per layer.

Any cluster reached by a kubeconfig context (GKE in production, the sandbox's own control plane in
CI) or from inside a pod (``in_cluster: true``). What each layer is comes from the environment's
``kubernetes:`` block (see :mod:`gameday.targets.kubernetes_config`)::

    target = for_environment(load("rehearsal"), i_mean_production=True)
    target.nodes("web")                    # the web pods, not being deleted, in name order
    target.kill(target.nodes("web")[0])    # chaosk8s terminate_pods, grace 0, after the PDB check
    target.wait_ready(node, timeout=60)    # the pod (or its replacement) is Ready

- **kill** deletes the pod with grace period 0 through ``chaosk8s.pod.actions.terminate_pods`` (its
  controller makes a replacement). PodDisruptionBudgets are respected by default: a budget that
  selects the pod and allows no disruption now refuses the kill, nothing touched. A deletion is not
  an eviction, so the API server does not check budgets for us; we read ``status.disruptionsAllowed``
  and recount the budget's healthy pods live (the disruption controller's figure lags a deletion by
  a moment, so two kills in a row would otherwise both pass). ``pod_disruption_budgets: ignore`` in
  the environment, or ``kill(node, respect_pdb=False)``, overrides.
- **stop / start** keep a pod away until it is started again:

  - a Deployment's pod: the pod gets ``controller.kubernetes.io/pod-deletion-cost`` far below the
    others, then the Deployment is scaled down by one (the ReplicaSet removes the cheapest pod; a pod
    that is not ready would go first, as Kubernetes always does). ``start`` scales it up by one again.
  - a StatefulSet's pod: only the highest ordinal can be stopped (scaling down removes the highest
    ordinal; stopping ``kafka-0`` of three would really stop ``kafka-2``). Any other ordinal is
    refused with a clear error: kill it instead (it comes back with the same identity and volume).
    ``start`` scales the StatefulSet back up to include that ordinal.
  - a pod of any other owner (Strimzi's StrimziPodSet, a bare pod) cannot be stopped: its operator
    would put it back. Kill it instead.

  What was stopped is recorded on the workload in the annotation ``gameday.io/stopped-pods``, so a
  ``start`` from another process (a rollback, ``gameday cleanup``) knows what to undo; starting a pod
  that was not stopped does nothing.
- **view / scale / member controls** (the playbooks): :meth:`KubernetesTarget.view` lists a layer's
  members from its Deployments and StatefulSets (spec vs ready replicas; a pod gameday stopped is
  *held*), ``scale`` sets a workload's replicas, ``start_member`` / ``stop_member`` /
  ``replace_member`` are start, stop and kill by member name, the last two without the budget check.
- **endpoints** (site URL, Kafka bootstrap, search URL, database) come from the environment file,
  for chaos and playbooks alike: the names gameday reaches the cluster by from where it runs. Pod
  addresses are not used: from outside a cluster they are not routable, and a TLS endpoint's
  certificate names the service, not the pod.

The pure parts live beside it: :mod:`.kubernetes_pods` (a pod's readiness, ordinal, node-id),
:mod:`.kubernetes_selectors`, :mod:`.kubernetes_budgets` (PodDisruptionBudgets counted live) and
:mod:`.kubernetes_workloads` (the stopped-pods record, StatefulSet ordinals, rollouts, owners, members).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from .. import kafka_client, zones
from ..content import ContentSchema, schema_named
from ..db_client import DEFAULT_MODE, DbTls
from ..kafka_client import DEFAULT_MODE as KAFKA_PLAIN
from ..deadline import wait_until
from ..errors import GamedayError, NotRunning, Refused, UsageError
from . import kubernetes_config, trust
from .base import Node, Target
from .environment import Environment
from .kubernetes_budgets import blocking_budgets, budgets_exceeded
from .kubernetes_pods import deleting, finished, name_order, node_labels, pod_ready
from .kubernetes_regions import KubernetesRegions
from .kubernetes_storage import KubernetesStorage
from .kubernetes_zones import KubernetesZones
from .kubernetes_selectors import template_labels, text_selector_matches
from .kubernetes_workloads import (SCALABLE, STOPPED_ANNOTATION, group_by_owner, ordinals_start, rolled_out,
                                   statefulset_start_replicas, statefulset_stop_replicas, stopped_list,
                                   workload_members)
from .members import LayerView

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
STOP_COST = "-1000000"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
# layer -> (block of the kubernetes: section, key of its pod selector)
LAYER_PODS = {"web": ("web", "selector"), "kafka": ("kafka", "brokers"),
              "kafka-controllers": ("kafka", "controllers"), "search": ("search", "nodes"),
              "db": ("db", "selector"), "indexer": ("indexer", "selector")}
# layers that may have no pods on a cluster: nodes() lists none rather than refusing (the relay and the object
# cache have no pod selector here: outside the cluster, as the Kubernetes twin runs them and Memorystore is)
OUTSIDE = ("db", "lb", "toxiproxy", "indexer", "events", "cache")
_CHAOSK8S_LOCK = threading.Lock()  # chaosk8s reads $KUBECONFIG: one call at a time in this process


def bearer_token(value: str) -> str:
    """The token of an ``Authorization`` value: ``"Bearer <t>"`` (a kubeconfig), ``"bearer <t>"`` (the
    in-cluster loader) or the bare token all give ``<t>`` (chaosk8s adds its own ``Bearer``)."""
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value.strip()


class DisruptionRefused(UsageError):
    """A PodDisruptionBudget allows no disruption of this pod now (nothing was touched)."""


# ---- configuration -------------------------------------------------------------------------------

def layer_scope(block: dict[str, Any], layer: str) -> tuple[str, str] | None:
    """``(namespace, label selector)`` of a layer's pods, or None for a layer with no pods here: one
    the environment declares ``outside`` (``kubernetes.layers``), or one with no selector."""
    if (block.get("layers") or {}).get(layer) == "outside":
        return None
    where = LAYER_PODS.get(layer)
    if where is None or not isinstance(block.get(where[0]), dict) or not block[where[0]].get(where[1]):
        return None  # e.g. a database outside the cluster (Cloud SQL): no selector, no pods
    section = block[where[0]]
    return section["namespace"], str(section[where[1]])


# ---- the target ------------------------------------------------------------------------------------

class KubernetesTarget(KubernetesStorage, KubernetesZones, KubernetesRegions, Target):
    """A cluster reached by kubeconfig context or in-cluster credentials; nothing is contacted until
    the first call that needs the API server. Its region methods (Cloud SQL across regions) are
    :class:`~gameday.targets.kubernetes_regions.KubernetesRegions`', its zone methods (the nodes'
    zone labels, a zone lost) :class:`~gameday.targets.kubernetes_zones.KubernetesZones`', its storage
    methods (a broker's disk lost, the whole search cluster lost, the snapshot repository)
    :class:`~gameday.targets.kubernetes_storage.KubernetesStorage`'."""

    def __init__(self, env: Environment):
        super().__init__(env)
        self.block = dict(env.kubernetes)
        self._api: client.ApiClient | None = None
        self._search_auth: tuple[str, str] | None = None
        self._publisher_auth: tuple[str, str] | None = None
        self._db_credentials: tuple[str, str, str] | None = None
        self._trusted = False
        self._workload_kinds: dict[str, tuple[str, str]] = {}  # workload -> (kind, namespace), as last seen
        self._member_layers: dict[str, str] = {}  # member -> layer, from the last views
        self._cloud_sql: Any = None  # the database as a Cloud SQL instance (kubernetes_cloudsql), at first use

    # ---- API access --------------------------------------------------------------------------------
    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            if self.block.get("in_cluster"):
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                self._api = client.ApiClient(configuration)
            else:
                path = kubernetes_config.kubeconfig_path(self.block)
                try:
                    self._api = config.new_client_from_config(config_file=str(path), context=self.block["context"])
                except (config.ConfigException, OSError) as err:
                    raise UsageError(f"{self.name}: kubeconfig {path} (context {self.block['context']!r}) "
                                     f"is not usable: {err}") from None
        return self._api

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def _call(self, fn, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One API call, the answer as plain JSON; unreachable or refused becomes a one-line error."""
        try:
            resp = fn(*args, _preload_content=False, _request_timeout=20, **kwargs)
        except ApiException as err:
            if err.status in (401, 403):
                raise Refused(f"{self.name}: the Kubernetes API refused {fn.__name__} ({err.status} {err.reason})",
                                   hint="check the credentials of the kubeconfig context (and RBAC: deploy/)") from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise NotRunning(f"{self.name}: cannot reach the Kubernetes API server at {self.api.configuration.host} "
                             f"({type(err).__name__})",
                             hint=self._reach_hint()) from None
        return json.loads(resp.data) if resp.data else {}

    def _reach_hint(self) -> str:
        if self.block.get("in_cluster"):
            return "is the API server reachable from this pod (NetworkPolicy egress, KUBERNETES_SERVICE_HOST)?"
        return (f"is the cluster up, and is {self.block.get('context')!r} the right context? "
                f"try: kubectl --context {self.block.get('context')} get nodes")

    def _has_pods(self, layer: str) -> bool:
        return layer_scope(self.block, layer) is not None

    def pod_layers(self) -> list[str]:
        """The layers that have pods on this target (the environment gives their selectors)."""
        return [layer for layer in LAYER_PODS if self._has_pods(layer)]

    def _scope(self, layer: str) -> tuple[str, str]:
        scope = layer_scope(self.block, layer)
        if scope is None and layer == "db" and (self.block.get("db") or {}).get("cloud_sql"):
            raise UsageError(f"{self.name}: the database is Cloud SQL here (kubernetes.db.cloud_sql): it has no pods "
                             "to kill, stop or start through the Kubernetes API; nothing was touched",
                             hint="its server-loss drill is experiments/db/lose-primary.yaml (a failover through the "
                                  "Cloud SQL Admin API), its data-loss drill experiments/db/destroy-content.yaml")
        if scope is None:
            known = ", ".join(k for k in LAYER_PODS if layer_scope(self.block, k)) or "none"
            raise UsageError(f"{self.name}: layer {layer!r} has no pods on this Kubernetes target",
                             hint=f"layers with pods here: {known} (see kubernetes: in {self.env.source or 'the environment file'})")
        return scope

    def _pods(self, layer: str) -> list[dict[str, Any]]:
        namespace, selector = self._scope(layer)
        items = self._call(self.core.list_namespaced_pod, namespace, label_selector=selector).get("items") or []
        return sorted(items, key=lambda p: name_order(p["metadata"]["name"]))

    def _read_or_none(self, read, namespace: str, name: str) -> dict[str, Any] | None:
        """``read(name, namespace)`` through :meth:`_call`, or None when the object does not exist (404)."""
        try:
            return self._call(read, name, namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def _pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read_or_none(self.core.read_namespaced_pod, namespace, name)

    # ---- inventory ---------------------------------------------------------------------------------
    def check_layers(self) -> None:
        """Every layer the environment gives pods for has some: a pod in its namespace matching its
        selector, or a Deployment/StatefulSet there whose pod template matches (a layer gameday has
        scaled to zero still counts). A wrong namespace or selector is one clear error, before any
        fault. Reads only what the fault path reads (pods, deployments, statefulsets)."""
        for layer, (section, key) in LAYER_PODS.items():
            scope = layer_scope(self.block, layer)
            if scope is None:
                continue
            namespace, selector = scope
            if self._call(self.core.list_namespaced_pod, namespace, label_selector=selector, limit=1).get("items"):
                continue
            owners = [o for lister in (self.apps.list_namespaced_deployment, self.apps.list_namespaced_stateful_set)
                      for o in self._call(lister, namespace).get("items") or []
                      if text_selector_matches(selector, template_labels(o))]
            if not owners:
                raise UsageError(
                    f"{self.name}: no pod in namespace {namespace!r} matches the {layer} selector {selector!r}, "
                    "and no Deployment or StatefulSet there would make one; nothing was touched",
                    hint=f"check kubernetes.{section}.namespace and .{key} in {self.env.source or 'the environment file'} "
                         f"(kubectl get pods -n {namespace} --show-labels)")

    def nodes(self, layer: str) -> list[Node]:
        """The layer's pods that are not being deleted, in name (ordinal) order, then one placeholder
        (``<layer>-pending-N``, not ready, not running) per replica its Deployments/StatefulSets want
        but have no pod for yet: "every web pod is ready" stays false until a replacement is."""
        if layer in OUTSIDE and layer_scope(self.block, layer) is None:
            # not pods here (the cloud load balancer, ...); Cloud SQL's members as the Admin API describes them
            return self._cloud_sql_nodes() if layer == "db" else []
        live = [p for p in self._pods(layer) if not deleting(p) and not finished(p)]
        out = []
        for pod in live:
            status = pod.get("status") or {}
            labels = node_labels(pod, layer)
            zone = self.pod_zone(pod, strict=False)
            if zone:
                labels[zones.LABEL] = zone
            out.append(Node(name=pod["metadata"]["name"], layer=layer, labels=labels,
                            address=status.get("podIP"), ready=pod_ready(pod), running=status.get("phase") == "Running"))
        missing = (self._desired(layer, live) or 0) - len(out)
        out += [Node(name=f"{layer}-pending-{i}", layer=layer) for i in range(1, missing + 1)]
        return out

    def view(self, layer: str) -> LayerView:
        """The playbooks' view of a layer with pods here: its workloads (:meth:`_workloads`), their
        replicas now and baseline (replicas plus the pods gameday stopped on them), and every member
        of the baseline: a StatefulSet's ordinals, a Deployment's pods and placeholders, an operator's
        pods (:func:`~gameday.targets.kubernetes_workloads.workload_members`). A layer the environment
        declares ``outside`` (Cloud SQL, the cloud load balancer; on the twin, HAProxy and toxiproxy)
        has no members: its playbook checks it through its endpoints only."""
        if layer_scope(self.block, layer) is None:
            return LayerView(layer=layer, replicas={}, baseline={}, members=())
        now = time.time()
        replicas, baseline, members = {}, {}, []
        for kind, obj, pods in self._workloads(layer):
            name = obj["metadata"]["name"]
            replicas[name], baseline[name], found = workload_members(kind, obj, pods, layer, now)
            members += found
        self._member_layers.update((m.name, layer) for m in members)
        return LayerView(layer=layer, replicas=replicas, baseline=baseline, members=tuple(members))

    # ---- member controls (playbooks) ------------------------------------------------------------------
    def scale(self, workload: str, replicas: int) -> None:
        """Set a Deployment's or StatefulSet's replicas (one a :meth:`view` has shown); the pods gameday
        had stopped on it are no longer held. An operator's workload is refused: its operator owns
        the count."""
        if workload not in self._workload_kinds:
            raise UsageError(f"{self.name}: no Deployment or StatefulSet {workload!r} seen",
                             hint="a playbook scales the workloads of a layer it has just viewed")
        kind, namespace = self._workload_kinds[workload]
        if kind not in SCALABLE:
            raise UsageError(f"{self.name}: {workload} is a {kind}; its operator owns the replica count",
                             hint="change the operator's resource (Strimzi KafkaNodePool, ECK Elasticsearch) instead")
        patch = self.apps.patch_namespaced_deployment if kind == "Deployment" else self.apps.patch_namespaced_stateful_set
        self._call(patch, workload, namespace, {"metadata": {"annotations": {STOPPED_ANNOTATION: None}},
                                                "spec": {"replicas": int(replicas)}})

    def _member_node(self, member: str) -> Node:
        """The node of a member a view has shown (each layer with pods is viewed once if none has)."""
        if member not in self._member_layers:
            for layer in LAYER_PODS:
                if layer_scope(self.block, layer) is not None and member not in self._member_layers:
                    self.view(layer)
        layer = self._member_layers.get(member)
        if layer is None:
            raise UsageError(f"{self.name}: {member} is not a member of any layer here")
        return Node(name=member, layer=layer)

    def start_member(self, member: str) -> None:
        """:meth:`start`: scale its workload back up to include it."""
        self.start(self._member_node(member))

    def stop_member(self, member: str) -> None:
        """:meth:`stop`, without the PodDisruptionBudget check (a playbook pausing a member means it)."""
        self.stop(self._member_node(member), respect_pdb=False)

    def replace_member(self, member: str) -> None:
        """:meth:`kill` (delete the pod, grace 0; its controller makes a fresh one), without the
        PodDisruptionBudget check: a stuck pod costs a budget nothing anyway."""
        self.kill(self._member_node(member), respect_pdb=False)

    # ---- disruption budgets ------------------------------------------------------------------------
    def respects_pdbs(self) -> bool:
        return self.block.get("pod_disruption_budgets", "respect") == "respect"

    def check_budgets(self, pod: dict[str, Any]) -> None:
        """Refuse (DisruptionRefused) when a PodDisruptionBudget allows no disruption of ``pod`` now."""
        namespace = pod["metadata"]["namespace"]
        pdbs = self._call(client.PolicyV1Api(self.api).list_namespaced_pod_disruption_budget, namespace).get("items") or []
        if not pdbs:
            return
        everyone = self._call(self.core.list_namespaced_pod, namespace).get("items") or []
        blocked = blocking_budgets(pod, pdbs, everyone)
        if blocked:
            raise DisruptionRefused(
                f"{self.name}: PodDisruptionBudget {', '.join(blocked)} allows no disruption of "
                f"{namespace}/{pod['metadata']['name']} now; nothing was touched",
                hint="wait until its pods are ready again, or set kubernetes.pod_disruption_budgets: ignore "
                     "in the environment file if you mean to break the budget")

    def check_disruption(self, nodes: list[Node]) -> None:
        """Refuse (DisruptionRefused) before any pod is touched when taking all of ``nodes`` at once
        would break a PodDisruptionBudget (e.g. half the web pods against ``maxUnavailable: 1``)."""
        if not nodes or not self.respects_pdbs():
            return
        namespace, _ = self._scope(nodes[0].layer)
        pdbs = self._call(client.PolicyV1Api(self.api).list_namespaced_pod_disruption_budget, namespace).get("items") or []
        if not pdbs:
            return
        everyone = self._call(self.core.list_namespaced_pod, namespace).get("items") or []
        names = {n.name for n in nodes}
        broken = budgets_exceeded([p for p in everyone if p["metadata"]["name"] in names], pdbs, everyone)
        if broken:
            raise DisruptionRefused(
                f"{self.name}: taking {len(nodes)} {nodes[0].layer} pods at once would break "
                f"{'; '.join(broken)}; nothing was touched",
                hint="ask for fewer pods, or set kubernetes.pod_disruption_budgets: ignore in the environment "
                     "file if you mean to break the budget")

    # ---- faults ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _chaosk8s(self) -> Iterator[dict[str, str]]:
        """Secrets that make chaosk8s reach this target exactly as our own client does.

        chaosk8s builds its client from ``$KUBECONFIG`` (read when the kubernetes package was
        imported, so it cannot be redirected) unless no kubeconfig file is found, in which case it
        takes the API host and credentials from its secrets. So for the call, ``$KUBECONFIG`` names no
        file and the secrets carry our configuration's host, CA and client certificate (or token).
        """
        cfg = self.api.configuration
        if getattr(cfg, "refresh_api_key_hook", None):
            cfg.refresh_api_key_hook(cfg)  # an expiring token (exec plugins, in-cluster): a fresh one
        secrets = {"KUBERNETES_HOST": cfg.host}
        if cfg.verify_ssl:
            secrets["KUBERNETES_VERIFY_SSL"] = "true"
        if cfg.ssl_ca_cert:
            secrets["KUBERNETES_CA_CERT_FILE"] = cfg.ssl_ca_cert
        token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
        if cfg.cert_file and cfg.key_file:
            secrets.update(KUBERNETES_CERT_FILE=cfg.cert_file, KUBERNETES_KEY_FILE=cfg.key_file)
        elif token:
            secrets["KUBERNETES_API_KEY"] = bearer_token(token)
        with _CHAOSK8S_LOCK:
            saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "CHAOSTOOLKIT_IN_POD")}
            try:
                os.environ["KUBECONFIG"] = "/nonexistent/gameday-passes-credentials-as-secrets"
                os.environ.pop("CHAOSTOOLKIT_IN_POD", None)
                yield secrets
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def kill(self, node: Node, *, respect_pdb: bool | None = None) -> float:
        """Delete the pod with grace period 0 (chaosk8s ``terminate_pods``) after the budget check."""
        from chaosk8s.pod.actions import terminate_pods

        namespace, selector = self._scope(node.layer)
        pods = self._call(self.core.list_namespaced_pod, namespace, label_selector=selector).get("items") or []
        pod = next((p for p in pods if p["metadata"]["name"] == node.name and not deleting(p)), None)
        if pod is None:
            raise UsageError(f"{self.name}: no {node.layer} pod {namespace}/{node.name} to kill (already gone?)")
        if self.respects_pdbs() if respect_pdb is None else respect_pdb:
            self.check_budgets(pod)
        with self._chaosk8s() as secrets:
            try:
                deleted = terminate_pods(label_selector=selector, name_pattern=f"^{re.escape(node.name)}$", qty=1,
                                         grace_period=0, ns=namespace, secrets=secrets)
            except ApiException as err:
                if err.status == 404:
                    raise UsageError(f"{self.name}: pod {namespace}/{node.name} vanished before the kill") from None
                raise GamedayError(f"{self.name}: deleting pod {namespace}/{node.name} failed: {err.status} {err.reason}") from None
        fault_at = time.time()
        if deleted != [node.name]:
            raise GamedayError(f"{self.name}: chaosk8s deleted {deleted or 'nothing'}, expected {node.name}")
        return fault_at

    # ---- the database's backups and recovery: Cloud SQL (kubernetes.db.cloud_sql) -------------------
    def _cloud_sql_db(self) -> Any:
        """The environment's Cloud SQL database (:mod:`.kubernetes_cloudsql`), or a GamedayError saying
        that an in-cluster database's backups and failover are not built here."""
        from .kubernetes_cloudsql import CloudSqlDatabase, not_built

        if self._cloud_sql is None:
            self._cloud_sql = CloudSqlDatabase.of(self.env)
            if self._cloud_sql is None:
                raise not_built(self.env)
        return self._cloud_sql

    def last_db_backup(self) -> dict[str, Any] | None:
        """The Cloud SQL instance's newest SUCCESSFUL backup run (``{"id", "at", "kind": "cloud-sql",
        "type", ...}``), or None. Read-only."""
        return self._cloud_sql_db().last_backup()

    def take_db_backup(self) -> dict[str, Any]:
        """An on-demand Cloud SQL backup, waited for (production: with consent)."""
        return self._cloud_sql_db().take_backup()

    def restore_db_to(self, moment: float, *, skip: list[str] | None = None) -> dict[str, Any]:
        """A Cloud SQL point-in-time clone into ``kubernetes.db.cloud_sql.restore_instance``; pointing
        the site at it is the operator's step (``next_step``). ``skip`` is refused: Cloud SQL replays
        nothing after the moment."""
        return self._cloud_sql_db().restore_to(moment, skip)

    def check_db_restore_drill(self) -> dict[str, Any]:
        """The destroy-content drill on Cloud SQL (``gameday.chaos.db.actions.destroy_content`` calls it
        first; refused, nothing touched, when the restore could not be made: no Cloud SQL instance, no
        ``restore_instance``, point-in-time recovery off, the clone's name taken, production without
        consent). ``{"restore": "clone"}``: the fault records the table's figures just before it (the
        restore's clone is compared with them) and the moment, which the playbook restores to."""
        db = self._cloud_sql_or_none()
        if db is None:
            raise GamedayError(f"{self.name}: the backup and point-in-time restore drill is not built for targets of kind "
                               "'kubernetes' whose database is not Cloud SQL (an in-cluster MariaDB's backups are not "
                               "built here); nothing was touched",
                               hint="name the instance in kubernetes.db.cloud_sql with restore_instance, or run the "
                                    "drill on the sandbox twin")
        db.check_restore()
        return {"restore": "clone"}

    def verify_db_clone(self, restored: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        """Query the point-in-time clone ``restored`` (what :meth:`restore_db_to` returned) as the
        site's own user: its content (:meth:`content_schema`) against ``before``, and the writes after
        the moment it lacks (:func:`.kubernetes_cloudsql.query_clone`)."""
        from .kubernetes_cloudsql import query_clone

        return query_clone(restored, self.content_schema(), before, credentials=self.db_credentials(),
                           live=self.db_address(), tls=self.db_tls())

    def promote_db_replica(self, member: str | None = None) -> dict[str, Any]:
        """Cloud SQL failover (``failover: ha``, the site's endpoint unchanged) or promotion of the
        named read replica (``failover: replica``, the site to be repointed: ``next_step``). ``member``
        (the Target interface's): None, or the member :meth:`db_roles` names as the replica."""
        db = self._cloud_sql_db()
        if member is not None:
            roles = db.roles()
            if member == roles["primary"]:
                return {"how": "none", "old_primary": member, "new_primary": member, "site_endpoint": "unchanged",
                        "next_step": None, "why": f"{member} is the primary already"}
            if member not in roles["replicas"]:
                raise UsageError(f"{self.name}: {member} is not a replica of the Cloud SQL database (replicas: "
                                 f"{', '.join(roles['replicas']) or 'none'}); nothing was touched")
        return db.promote_replica()

    # the failover drill on Cloud SQL (gameday.chaos.db.actions.lose_primary; kubernetes_cloudsql)
    def flush_site_caches(self, *, timeout_s: float | None = None) -> dict[str, Any]:
        """The object cache emptied when the environment names it (``kubernetes.object_cache``, e.g.
        Memorystore: ``FLUSHALL`` after ``AUTH`` with ``credentials.object_cache``, over TLS verified with
        ``trust:``; :mod:`gameday.object_cache`), then Cloud CDN invalidated when it declares it
        (``cloud_cdn``: :mod:`gameday.gcp.cdn`), waited for up to ``cloud_cdn.timeout_s`` or ``timeout_s``,
        the shorter; ``None`` for one it names none of."""
        done = super().flush_site_caches()
        cache = self.block.get("object_cache")
        if cache:
            from .. import object_cache
            self.trust()
            ref = self.env.credentials.get("object_cache")
            password = None
            if ref:
                from .credentials import resolve
                password = resolve(ref, "object_cache", self._secret_data)
            name = str(cache.get("name") or cache["host"])
            server = object_cache.Server(host=str(cache["host"]), port=int(cache.get("port", 6379)),
                                         tls=bool(cache.get("tls")), name=name)
            done["object_cache"] = {"members": {name: object_cache.flush(
                server, password=password, username=(ref or {}).get("username"))}}
        if self.env.cloud_cdn:
            from ..gcp.cdn import CloudCdn
            done["cdn"] = CloudCdn.from_settings(self.env.cloud_cdn, self.env.cloud_monitoring).invalidate(
                timeout_s=timeout_s)
        return done

    def site_caches(self) -> dict[str, list[str] | None]:
        """The object cache and Cloud CDN the environment names (nothing is contacted)."""
        cache = self.block.get("object_cache")
        cdn = None
        if self.env.cloud_cdn:
            from ..gcp.cdn import CloudCdn
            cdn = [CloudCdn.from_settings(self.env.cloud_cdn, self.env.cloud_monitoring).describe()]
        name = cache and f"{cache.get('name') or cache['host']} ({cache['host']}:{cache.get('port', 6379)})"
        return {"object_cache": [name] if name else None, "cdn": cdn}

    def _cloud_sql_or_none(self) -> Any:
        from .kubernetes_cloudsql import CloudSqlDatabase

        if self._cloud_sql is None:
            self._cloud_sql = CloudSqlDatabase.of(self.env)
        return self._cloud_sql

    def db_roles(self) -> dict[str, Any] | None:
        """A Cloud SQL database's roles (:meth:`.kubernetes_cloudsql.CloudSqlDatabase.roles`); None for
        an in-cluster database (its failover is not built here)."""
        db = self._cloud_sql_or_none()
        return None if db is None else db.roles()

    def db_replication(self) -> dict[str, Any]:
        return self._cloud_sql_db().replication()

    def db_failover_state(self) -> dict[str, Any] | None:
        """What the db playbook reports of a Cloud SQL instance (state, zones, operations in progress)."""
        db = self._cloud_sql_or_none()
        return None if db is None else db.state()

    def wait_db_failover(self, timeout_s: float) -> dict[str, Any]:
        """Wait until the Cloud SQL failover in progress is done and the primary serves (deadline)."""
        return self._cloud_sql_db().wait_settled(timeout_s)

    def lose_db_primary(self) -> dict[str, Any]:
        """The failover drill's fault on Cloud SQL: a manual failover (ha) or the primary stopped (replica)."""
        return self._cloud_sql_db().lose_primary()

    def repoint_db_endpoint(self) -> dict[str, Any]:
        return self._cloud_sql_db().repoint()

    def _cloud_sql_nodes(self) -> list[Node]:
        """A Cloud SQL database's members as nodes of the db layer (zone label: the instance's zone)."""
        db = self._cloud_sql_or_none()
        if db is None:
            return []
        return [Node(name=m["name"], layer="db", labels={zones.LABEL: str(m["zone"]), "role": m["role"]},
                     address=m["ip"] or None, ready=bool(m["ready"]), running=bool(m["ready"])) for m in db.members()]

    # ---- workloads: the one owner resolution ---------------------------------------------------------
    def _workloads(self, layer: str, pods: list[dict[str, Any]] | None = None
                   ) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
        """(kind, workload, its pods) of a layer: the namespace's Deployments and StatefulSets whose pod
        template the layer's selector matches (the environment's web Deployment in any case; one
        scaled to zero too), each with the layer's pods it selects, then the pods none of them owns
        grouped by their controller (:func:`~gameday.targets.kubernetes_workloads.group_by_owner`).
        Stop, start, restart, the replicas wanted and :meth:`view` all resolve owners here. ``pods``:
        the layer's pods when the caller has them (default: listed now)."""
        namespace, selector = self._scope(layer)
        if pods is None:
            pods = self._pods(layer)
        named = str((self.block.get("web") or {}).get("deployment") or "") if layer == "web" else ""
        found = []
        for kind, lister in (("Deployment", self.apps.list_namespaced_deployment),
                             ("StatefulSet", self.apps.list_namespaced_stateful_set)):
            for obj in self._call(lister, namespace).get("items") or []:
                if text_selector_matches(selector, template_labels(obj)) or (
                        kind == "Deployment" and obj["metadata"]["name"] == named):
                    found.append((kind, obj))
        owned = group_by_owner(found, pods)
        for kind, obj, _pods in owned:
            self._workload_kinds[obj["metadata"]["name"]] = (kind, namespace)
        return owned

    def _owner_of(self, layer: str, pod_name: str) -> tuple[str, str]:
        """(kind, name) of the workload that owns the layer's pod ``pod_name``: Deployment, StatefulSet,
        an operator's kind, or ``Pod`` (a bare pod: itself)."""
        for kind, obj, pods in self._workloads(layer):
            if any(p["metadata"]["name"] == pod_name for p in pods):
                return kind, obj["metadata"]["name"]
        return "Pod", pod_name

    def _patch_workload(self, kind: str, obj: dict[str, Any], replicas: int, stopped: list[str]) -> None:
        """Set replicas and the stopped-pods record in one patch, guarded by resourceVersion."""
        meta = obj["metadata"]
        body = {"metadata": {"resourceVersion": meta["resourceVersion"],
                             "annotations": {STOPPED_ANNOTATION: json.dumps(stopped) if stopped else None}},
                "spec": {"replicas": replicas}}
        patch = self.apps.patch_namespaced_deployment if kind == "Deployment" else self.apps.patch_namespaced_stateful_set
        self._call(patch, meta["name"], meta["namespace"], body)

    def _retry_conflicts(self, fn) -> Any:
        for attempt in range(5):
            try:
                return fn()
            except ApiException as err:
                if err.status != 409 or attempt == 4:
                    raise GamedayError(f"{self.name}: updating a workload failed: {err.status} {err.reason}") from None
                time.sleep(0.2)

    def stop(self, node: Node, *, respect_pdb: bool | None = None) -> float:
        namespace, _ = self._scope(node.layer)
        pod = self._pod(namespace, node.name)
        if pod is None or deleting(pod):
            raise UsageError(f"{self.name}: no {node.layer} pod {namespace}/{node.name} to stop")
        kind, owner = self._owner_of(node.layer, node.name)
        if kind not in SCALABLE:
            raise UsageError(f"{self.name}: {node.name} belongs to {kind} {owner}, which would put it back; "
                             "only Deployment and StatefulSet pods can be stopped here", hint=f"kill {node.name} instead")
        if self.respects_pdbs() if respect_pdb is None else respect_pdb:
            self.check_budgets(pod)
        if kind == "Deployment":
            self._call(self.core.patch_namespaced_pod, node.name, namespace,
                       {"metadata": {"annotations": {DELETION_COST: STOP_COST}}})

        def scale_down() -> None:
            obj = self._read_owner(kind, owner, namespace)
            replicas = int(obj["spec"].get("replicas", 1))
            target = replicas - 1 if kind == "Deployment" else statefulset_stop_replicas(node.name, replicas, ordinals_start(obj))
            stopped = stopped_list(obj)
            if node.name in stopped:
                return
            self._patch_workload(kind, obj, max(0, target), stopped + [node.name])

        self._retry_conflicts(scale_down)
        return time.time()

    def start(self, node: Node) -> float:
        """Undo :meth:`stop` (idempotent: a pod that was not stopped is left alone)."""

        def scale_up() -> None:
            found = next(((kind, obj) for kind, obj, _ in self._workloads(node.layer, pods=[])
                          if kind in SCALABLE and node.name in stopped_list(obj)), None)
            if found is None:
                return
            kind, obj = found
            replicas = int(obj["spec"].get("replicas", 0))
            target = replicas + 1 if kind == "Deployment" else statefulset_start_replicas(node.name, replicas, ordinals_start(obj))
            self._patch_workload(kind, obj, target, [n for n in stopped_list(obj) if n != node.name])

        self._retry_conflicts(scale_up)
        return time.time()

    def _desired(self, layer: str, pods: list[dict[str, Any]]) -> int | None:
        """Replicas the layer's Deployments and StatefulSets want, or None when it has none (an
        operator's pods: the operator decides)."""
        owned = [obj for kind, obj, _ in self._workloads(layer, pods) if kind in SCALABLE]
        return sum(int(obj["spec"].get("replicas", 1)) for obj in owned) if owned else None

    def restart(self, layer: str, *, timeout: float = 300.0) -> list[str]:
        """``kubectl rollout restart`` of the layer's Deployments and StatefulSets (their pod
        template gets ``kubectl.kubernetes.io/restartedAt``; each controller replaces its pods in
        its own order and pace, within its update strategy), then waits until each has rolled
        out: every replica updated and ready, no old pod left. Returns ``Kind/name`` of each."""
        namespace, _ = self._scope(layer)
        owners = [(kind, obj["metadata"]["name"]) for kind, obj, _ in self._workloads(layer) if kind in SCALABLE]
        if not owners:
            raise UsageError(f"{self.name}: no Deployment or StatefulSet owns the {layer} pods; "
                             "an operator's pods are restarted by their operator")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        for kind, name in owners:
            fn = self.apps.patch_namespaced_deployment if kind == "Deployment" else self.apps.patch_namespaced_stateful_set
            self._call(fn, name, namespace, patch)
        for kind, name in owners:
            wait_until(lambda kind=kind, name=name: rolled_out(kind, self._read_owner(kind, name, namespace)),
                       timeout=timeout, interval=0.5,
                       what=f"{kind} {namespace}/{name} to finish its rolling restart on {self.name}")
        return [f"{kind}/{name}" for kind, name in owners]

    def _read_owner(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        read = self.apps.read_namespaced_deployment if kind == "Deployment" else self.apps.read_namespaced_stateful_set
        return self._call(read, name, namespace)

    def wait_ready(self, node: Node, timeout: float) -> float:
        """Until the pod of that name is Ready, or, once it is gone, until the layer has as many
        ready pods as its Deployments/StatefulSets want (the replacement of a Deployment's pod has
        another name)."""
        started = time.monotonic()

        def settled() -> bool:
            pods = self._pods(node.layer)
            live = [p for p in pods if not deleting(p)]
            same = next((p for p in live if p["metadata"]["name"] == node.name), None)
            if same is not None:
                return pod_ready(same)
            desired = self._desired(node.layer, live)
            return desired is not None and sum(1 for p in live if pod_ready(p)) >= desired

        wait_until(settled, timeout=timeout, interval=0.25,
                   what=f"{node.layer} pod {node.name} (or its replacement) to be ready on {self.name}")
        return time.monotonic() - started

    # ---- endpoints ---------------------------------------------------------------------------------
    def trust(self) -> None:
        """Trust the environment's CAs (``trust:``) in this process and its children, once, before
        the first HTTPS request (:mod:`gameday.targets.trust`)."""
        if not self._trusted:
            trust.install(self.env.trust, self._secret_data, self.env.source or "the environment file")
            self._trusted = True

    def site_url(self) -> str:
        self.trust()
        return str(self.env.site_url)

    def kafka_bootstrap(self) -> str:
        """``kubernetes.kafka.bootstrap``, registered for gameday's Kafka clients with how it is reached
        (``kubernetes.kafka.tls``, verified against the environment's trusted CAs: :mod:`gameday.kafka_client`)."""
        kafka = self.block["kafka"]
        return kafka_client.register(str(kafka["bootstrap"]), str(kafka.get("tls") or KAFKA_PLAIN), self._trusted_bundle)

    def _trusted_bundle(self) -> str | None:
        """The bundle of the environment's trusted CAs (installed on first use), None for the system's roots."""
        self.trust()
        verify = trust.verify()
        return verify if isinstance(verify, str) else None

    def search_urls(self) -> list[str]:
        self.trust()
        return [str(self.block["search"]["url"]).rstrip("/")]

    def search_auth(self) -> tuple[str, str] | None:
        """(username, password) from ``credentials.search`` (ECK: the ``<cluster>-es-elastic-user``
        secret, key ``elastic``), read at the moment of use; None when the environment names none."""
        ref = self.env.credentials.get("search")
        if not ref:
            return None
        if self._search_auth is None:
            from .credentials import resolve
            self._search_auth = (str(ref.get("username", "elastic")), resolve(ref, "search", self._secret_data))
        return self._search_auth

    def publisher_auth(self) -> tuple[str, str] | None:
        """(username, password) of the site's publisher from ``credentials.publisher`` (a Kubernetes
        secret or an environment variable, with its ``username``; the environment schema requires
        both), read at the moment of use; None when the environment names none (the site asks for
        no credential to publish: nothing is sent)."""
        ref = self.env.credentials.get("publisher")
        if not ref:
            return None
        if self._publisher_auth is None:
            from .credentials import register_basic, resolve
            self._publisher_auth = (str(ref["username"]), resolve(ref, "publisher", self._secret_data))
            register_basic(*self._publisher_auth)
        return self._publisher_auth

    def db_credentials(self) -> tuple[str, str, str]:
        """(user, password, database) of the site's database from ``credentials.db`` (a Kubernetes
        secret or an environment variable, read at the moment of use) and ``kubernetes.db.database``."""
        if self._db_credentials is None:
            ref = self.env.credentials.get("db")
            database = (self.block.get("db") or {}).get("database")
            source = self.env.source or "the environment file"
            if not ref or not ref.get("username") or not database:
                raise UsageError(f"{self.name}: the database credentials are not named",
                                 hint=f"add credentials.db ({{secret: namespace/name, key: KEY, username: USER}} or "
                                      f"{{env: VARIABLE, username: USER}}) and kubernetes.db.database to {source}")
            from .credentials import resolve
            self._db_credentials = (str(ref["username"]), resolve(ref, "db", self._secret_data), str(database))
        return self._db_credentials

    def secrets(self) -> list[str]:
        """Every ``credentials:`` value kept in a Kubernetes secret, read now, and the publisher's
        basic-auth header token (its password in another form)."""
        from .credentials import basic_token, resolve
        values = [resolve(ref, name, self._secret_data) for name, ref in self.env.credentials.items() if "secret" in ref]
        publisher = self.publisher_auth()
        return values + ([basic_token(*publisher)] if publisher else [])

    def _secret_data(self, namespace: str, name: str) -> dict[str, str]:
        try:
            secret = self._call(self.core.read_namespaced_secret, name, namespace)
        except ApiException as err:
            if err.status == 404:
                raise UsageError(f"{self.name}: secret {namespace}/{name} (named in credentials or trust) does not exist",
                                 hint=f"kubectl get secrets -n {namespace}; fix the reference in "
                                      f"{self.env.source or 'the environment file'}") from None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def db_address(self) -> tuple[str, int]:
        db = self.block.get("db")
        if not db:
            raise UsageError(f"{self.name}: no database address (kubernetes.db: host, port) in "
                             f"{self.env.source or 'the environment file'}")
        return str(db["host"]), int(db["port"])

    def db_tls(self) -> DbTls:
        """TLS to the database as ``kubernetes.db.tls`` says (:mod:`gameday.db_client`; verify-identity
        when unset), verified against the environment's trusted CAs (``trust:``) and the system's roots."""
        self.trust()
        verify = trust.verify()
        mode = str((self.block.get("db") or {}).get("tls") or DEFAULT_MODE)
        return DbTls(mode=mode, ca_file=verify if isinstance(verify, str) else None,
                     where=f"kubernetes.db.tls in {self.env.source or 'the environment file'}")

    def content_schema(self) -> ContentSchema:
        """The site's content schema as ``kubernetes.db.content`` names it: ``wordpress`` (the default:
        the platform's ``wp_posts`` and ``wp_postmeta``, queried directly; gameday makes nothing in the
        database) or ``articles-table`` (the twin's Python site's ``articles`` table, and the Cloud SQL
        drill fixtures')."""
        return schema_named(str((self.block.get("db") or {}).get("content") or "wordpress"))

    def toxiproxy_api(self) -> str | None:
        """Where network faults are made: ``kubernetes.toxiproxy_api`` (a toxiproxy the web tier talks
        to its dependencies through), else None (network actions then refuse with a clear error)."""
        if self.block.get("toxiproxy_api"):
            return str(self.block["toxiproxy_api"]).rstrip("/")
        return None


def kubeconfig_of(env: Environment) -> Path:
    """Where the target's kubeconfig is (for messages and tests)."""
    return kubernetes_config.kubeconfig_path(dict(env.kubernetes))
