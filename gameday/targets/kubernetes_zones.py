"""A zone lost on a Kubernetes cluster: the nodes' zone labels, a taint that keeps pods out of the
zone, and the platform's pods there deleted at once.

A mixin of :class:`~gameday.targets.kubernetes.KubernetesTarget` (it uses ``_call``, ``core``,
``_pod``, ``_pods`` and ``pod_layers``). A zone is what the nodes' well-known label
``topology.kubernetes.io/zone`` says: on GKE the Compute Engine zone (``europe-west2-a``), on the
Kubernetes twin ``zone-a`` .. ``zone-c`` (one node each)::

    target.zones()                   # ("zone-a", "zone-b", "zone-c"): every zone a node is labelled with
    target.zone_members("zone-b")    # {"web": ["web-5f..-x2"], "kafka": ["kafka-2"], "search": ["search-2"]}
    target.lose_zone("zone-b")       # taint its nodes, delete those pods (grace 0), wait until they are gone
    target.restore_zone("zone-b", members)   # the taint removed: Pending pods schedule there again

What losing a zone does here: every node labelled with the zone gets the taint
``gameday.io/zone-lost=<zone>:NoSchedule`` (recorded as undone by removing it, from any process),
then every pod of the environment's layers on those nodes is deleted with grace period 0, as
processes on machines that lose power. A Deployment's replacement is scheduled in the zones left; a
StatefulSet pod whose workload spreads over zones with ``whenUnsatisfiable: DoNotSchedule`` stays
Pending until the zone is back (its disk is zonal). The blast radius is the environment's layers
only: other pods on the zone's nodes (kube-system, gameday's own runner) keep running, and the
nodes themselves are not stopped (that would need the cloud's API, not the cluster's).

Rights: ``list`` and ``patch`` on nodes (a ClusterRole: ``deploy/base/rbac-nodes.yaml``; the calls
are :data:`gameday.targets.kubernetes_rbac.NODE_CALLS`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kubernetes.client.rest import ApiException

from ..deadline import Deadline, wait_until
from ..errors import GamedayError, Refused, UsageError
from .kubernetes_pods import deleting, finished

log = logging.getLogger("gameday.targets.kubernetes")

ZONE_KEY = "topology.kubernetes.io/zone"
TAINT_KEY = "gameday.io/zone-lost"
TAINT_EFFECT = "NoSchedule"
NODE_ZONES_TTL_S = 30.0  # nodes change zones never; new nodes appear now and then
ZONE_STOP_TIMEOUT = 60.0


def zone_taints(taints: list[dict[str, Any]] | None, zone: str, *, lost: bool) -> list[dict[str, Any]]:
    """A node's taints with gameday's zone-lost taint for ``zone`` added (``lost``) or removed; every
    other taint kept as it was, in order (pure: unit-tested)."""
    kept = [t for t in taints or [] if t.get("key") != TAINT_KEY]
    return kept + [{"key": TAINT_KEY, "value": zone, "effect": TAINT_EFFECT}] if lost else kept


class KubernetesZones:
    """Zones of a Kubernetes target (see the module's docstring)."""

    _node_zone_map: dict[str, str] | None = None
    _node_zone_read_at = 0.0

    # ---- reading zones -------------------------------------------------------------------------------
    def _node_zones(self, *, fresh: bool = False) -> dict[str, str]:
        """Node name -> its zone label (nodes without one are left out), read at most every
        NODE_ZONES_TTL_S seconds unless ``fresh``."""
        now = time.monotonic()
        if fresh or self._node_zone_map is None or now - self._node_zone_read_at > NODE_ZONES_TTL_S:
            items = self._call(self.core.list_node).get("items") or []
            self._node_zone_map = {n["metadata"]["name"]: (n["metadata"].get("labels") or {})[ZONE_KEY]
                                   for n in items if (n["metadata"].get("labels") or {}).get(ZONE_KEY)}
            self._node_zone_read_at = now
        return self._node_zone_map

    def pod_zone(self, pod: dict[str, Any], *, strict: bool = True) -> str | None:
        """The zone of the node ``pod`` is bound to (None: not scheduled, or its node has no zone).
        Not ``strict`` (the layer views' labels): nodes that may not be read (no ClusterRole: the
        zone drill's rights are opt-in) give no zone, with one warning, instead of an error."""
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return None
        try:
            return self._node_zones().get(node)
        except Refused as err:
            if strict:
                raise
            if self._node_zone_map is None:
                log.warning("%s; members get no zone label (deploy/components/zone-drill grants the nodes' rights)", err)
            self._node_zone_map, self._node_zone_read_at = {}, time.monotonic()
            return None

    def zones(self) -> tuple[str, ...]:
        """Every zone some node is labelled with, sorted."""
        return tuple(sorted(set(self._node_zones(fresh=True).values())))

    def check_zone_drill(self) -> None:
        """Nodes in at least two zones (one zone lost must leave another), else a clear refusal."""
        found = self.zones()
        if len(found) < 2:
            raise UsageError(f"{self.name}: losing a zone needs nodes in at least two zones, but the nodes' "
                             f"{ZONE_KEY} labels name {', '.join(found) or 'none'}; nothing was touched",
                             hint="a regional GKE cluster labels its nodes with their zones "
                                  f"(kubectl get nodes -L {ZONE_KEY})")

    def _layer_pods_in(self, zone: str) -> dict[str, list[dict[str, Any]]]:
        """Layer -> its live pods on nodes of ``zone``; a pod two layers select (Kafka brokers that are
        also its controllers) counts for the first only."""
        out: dict[str, list[dict[str, Any]]] = {}
        seen: set[tuple[str, str]] = set()
        for layer in self.pod_layers():
            for pod in self._pods(layer):
                key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
                if key in seen or deleting(pod) or finished(pod) or self.pod_zone(pod) != zone:
                    continue
                seen.add(key)
                out.setdefault(layer, []).append(pod)
        return out

    def zone_members(self, zone: str) -> dict[str, list[str]]:
        """Layer -> the names of its pods running (or starting) on the nodes of ``zone``."""
        return {layer: [p["metadata"]["name"] for p in pods] for layer, pods in self._layer_pods_in(zone).items()}

    # ---- the fault and its undo -------------------------------------------------------------------------
    def _set_zone_taint(self, node: str, zone: str, *, lost: bool) -> bool:
        """Add (``lost``) or remove gameday's taint on ``node``, guarded by the node's resourceVersion
        (retried on a conflict). True when the node's taints changed."""
        for attempt in range(5):
            current = self._call(self.core.read_node, node)
            before = (current.get("spec") or {}).get("taints") or []
            after = zone_taints(before, zone, lost=lost)
            if after == before:
                return False
            patch = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                     "spec": {"taints": after}}
            try:
                self._call(self.core.patch_node, node, patch)
                return True
            except ApiException as err:
                if err.status != 409 or attempt == 4:
                    raise GamedayError(f"{self.name}: tainting node {node} failed: {err.status} {err.reason}") from None
                time.sleep(0.2)
        return False

    def _zone_nodes(self, zone: str) -> list[str]:
        return sorted(n for n, z in self._node_zones(fresh=True).items() if z == zone)

    def lose_zone(self, zone: str) -> dict[str, Any]:
        """Taint every node of ``zone`` (new pods stay out), then delete every pod of the environment's
        layers on them at once (grace 0), and wait until each is gone from the API (a StatefulSet's
        pod comes back under the same name, a new pod: its old uid is what must be gone)."""
        nodes = self._zone_nodes(zone)
        if not nodes:
            raise UsageError(f"{self.name}: no node is labelled {ZONE_KEY}={zone}; nothing was touched",
                             hint=f"zones here: {', '.join(self.zones()) or 'none'}")
        by_pods = self._layer_pods_in(zone)
        if not by_pods:
            raise UsageError(f"{self.name}: no pod of the platform runs in zone {zone}; nothing was touched")
        started = time.monotonic()
        for node in nodes:
            self._set_zone_taint(node, zone, lost=True)
        uids: dict[tuple[str, str], str] = {}
        for pods in by_pods.values():
            for pod in pods:
                namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
                uids[(namespace, name)] = pod["metadata"]["uid"]
                try:
                    self._call(self.core.delete_namespaced_pod, name, namespace, grace_period_seconds=0)
                except ApiException as err:
                    if err.status != 404:  # already gone: nothing left to delete
                        raise

        def gone() -> bool:
            return all((self._pod(ns, name) or {}).get("metadata", {}).get("uid") != uid
                       for (ns, name), uid in uids.items())

        deadline = Deadline(ZONE_STOP_TIMEOUT)
        wait_until(gone, timeout=max(1.0, deadline.remaining()), interval=0.2,
                   what=f"the pods of zone {zone} to be deleted")
        by_layer = {layer: [p["metadata"]["name"] for p in pods] for layer, pods in by_pods.items()}
        log.info("zone %s lost: nodes %s tainted, pods %s deleted", zone, ", ".join(nodes),
                 ", ".join(n for names in by_layer.values() for n in names))
        return {"zone": zone, "members": [n for names in by_layer.values() for n in names], "by_layer": by_layer,
                "nodes": nodes, "db_primary_lost": None, "all_stopped_s": round(time.monotonic() - started, 2)}

    def restore_zone(self, zone: str, members: list[str]) -> dict[str, Any]:
        """Undo of :meth:`lose_zone`: gameday's taint removed from every node of ``zone`` (harmless
        when none has it); the pods kept out schedule there again. ``existed``: some node had it."""
        changed = [node for node in self._zone_nodes(zone) if self._set_zone_taint(node, zone, lost=False)]
        return {"zone": zone, "started": list(members), "untainted": changed, "existed": bool(changed)}
