"""Storage lost on a Kubernetes cluster: a Kafka broker's disk (as Strimzi's documentation does it: the
broker pod's PersistentVolumeClaim deleted together with its pod), or the whole search cluster (ECK:
every Elasticsearch pod's claims and pods deleted together, so the nodes come back on empty disks and
form a new cluster, restored from the snapshot repository by the search playbook).

A mixin of :class:`~gameday.targets.kubernetes.KubernetesTarget` (it uses ``_call``, ``core``,
``_pod``, ``_read_or_none``, ``_pods``, ``_scope`` and ``block``)::

    target.check_storage_drill("kafka")     # refused, nothing touched, unless every pod of the layer has a claim
    target.lose_member_storage("kafka-2")   # its claim(s) deleted, then the pod (grace 0); back empty
    target.lose_layer_storage("search", ["search-1", "search-2", "search-3"])   # every claim, then every pod
    target.search_snapshot_repository()     # kubernetes.search.snapshot_repository, for PUT _snapshot/<name>

A claim is deleted first: it stays (``Terminating``, held by its protection finalizer) while its pod
uses it, and goes when the pod does. The pod's controller (Strimzi's StrimziPodSet, ECK's StatefulSet,
or the twin's StatefulSets) makes the pod again and, the claim being missing, a new claim from its
template: the member starts on an empty disk. A Kafka broker formats it on its start with the cluster
id and its own node id (Strimzi's start script; on the Kubernetes twin :mod:`gameday.kube.kafka_storage`)
and re-replicates. Search nodes on empty disks bootstrap a new cluster (a new cluster UUID) only if
none of the old nodes is left for them to join: so the whole cluster is lost at once
(:meth:`lose_layer_storage`): every claim first, then every pod in one burst, then a wait until all of
them are gone; deleting the pods one at a time would let a fresh node join the survivors (and take
their cluster UUID with it). Nothing is left for gameday to format: :meth:`lost_storage` is [] and the
undo only waits (Kafka: the broker back; search: the search playbook, which finds the new cluster
without its snapshot repository and its index, and registers, restores, replays and matches).

Not consulted: PodDisruptionBudgets (a lost disk or cluster is not an eviction; the environment's
``limits.kafka_max_brokers`` / ``limits.search_max_nodes`` are the cap, and the search drill needs the
whole node count). Rights: ``delete`` and ``get`` on PersistentVolumeClaims, in the Kafka and the search
namespaces only, are opt-in (``deploy/components/disk-loss-drill`` and
``deploy/components/search-cluster-loss-drill``; the calls are
:data:`gameday.targets.kubernetes_rbac.STORAGE_CALLS`).
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.rest import ApiException

from ..deadline import wait_until
from ..errors import GamedayError, UsageError
from .kubernetes_pods import deleting, ordinal

DISK_LOST_TIMEOUT_S = 120.0  # the pods and their claims deleted (a claim waits for its pod's containers to stop)
STORAGE_LAYERS = ("kafka", "search")
HOW = {"kafka": "its PersistentVolumeClaim deleted, then its pod (grace 0); the controller makes both again, empty",
       "search": "every node's PersistentVolumeClaims deleted, then every pod at once (grace 0); the controller "
                 "makes them again on empty claims, and the nodes form a new cluster; snapshots kept"}
REFUSALS = {
    "kafka": ("a broker's disk is lost by deleting its PersistentVolumeClaim with its pod",
              "on Strimzi, persistent-claim storage in the KafkaNodePool; ephemeral storage is lost by any pod "
              "deletion (the kill drills)"),
    "search": ("the whole search cluster is lost by deleting every node's PersistentVolumeClaims with its pod",
               "on ECK, volumeClaimTemplates (elasticsearch-data) in the Elasticsearch nodeSets; an emptyDir data "
               "volume is lost by any pod deletion (search/kill-data-node)"),
}


def claims_of(pod: dict[str, Any]) -> list[str]:
    """The PersistentVolumeClaims a pod mounts, by name (pure)."""
    return [v["persistentVolumeClaim"]["claimName"] for v in (pod.get("spec") or {}).get("volumes") or []
            if v.get("persistentVolumeClaim")]


def without_claims(pods: list[dict[str, Any]]) -> list[str]:
    """The live pods (not being deleted) that mount no claim, by name; ``["(no pod)"]`` when no pod is
    live at all (pure): what :meth:`KubernetesStorage.check_storage_drill` refuses."""
    live = [p for p in pods if not deleting(p)]
    if not live:
        return ["(no pod)"]
    return [p["metadata"]["name"] for p in live if not claims_of(p)]


class KubernetesStorage:
    """Storage lost: claims and pods deleted (see the module's docstring)."""

    def check_storage_drill(self, layer: str) -> None:
        """Every pod of ``layer`` (Kafka brokers; search nodes) mounts a PersistentVolumeClaim (its disk);
        else a clear refusal. Reads pods only: nothing is touched either way."""
        if layer not in STORAGE_LAYERS:
            raise GamedayError(f"{self.name}: the storage-loss drills are built for Kafka brokers and search nodes "
                               f"only, not {layer!r}; nothing was touched")
        without = without_claims(self._pods(layer))
        if without:
            what, hint = REFUSALS[layer]
            raise GamedayError(f"{self.name}: {what}, but {', '.join(without)} mounts none; nothing was touched",
                               hint=hint)

    def lose_member_storage(self, member: str) -> dict[str, Any]:
        """A Kafka broker's disk lost: :meth:`lose_layer_storage` of ``member`` alone."""
        return self.lose_layer_storage("kafka", [member])[0]

    def lose_layer_storage(self, layer: str, members: list[str]) -> list[dict[str, Any]]:
        """Delete every claim of ``members`` (pods of ``layer``), then every one of the pods (grace 0,
        one request after the other, no wait between), and wait until all of them are gone (pods and
        claims of the same names may already be back: new uids). Refuses before touching anything when
        a pod is missing, being deleted, or mounts no claim. Returns, per member, ``{"member", "node_id",
        "claims", "data_dir", "how", "took_s"}``."""
        namespace, _ = self._scope(layer)
        pods: dict[str, dict[str, Any]] = {}
        for member in members:
            pod = self._pod(namespace, member)
            if pod is None or deleting(pod):
                raise UsageError(f"{self.name}: no live {layer} pod {namespace}/{member}; nothing was touched")
            if not claims_of(pod):
                raise UsageError(f"{self.name}: {member} mounts no PersistentVolumeClaim; nothing was touched")
            pods[member] = pod
        started = time.monotonic()
        uids = {("pod", member): pod["metadata"]["uid"] for member, pod in pods.items()}
        claims = [claim for pod in pods.values() for claim in claims_of(pod)]
        for claim in claims:
            found = self._claim(namespace, claim)
            if found is not None:
                uids[("claim", claim)] = found["metadata"]["uid"]
        for claim in claims:  # every claim first: each is held (Terminating) while its pod runs
            self._delete(self.core.delete_namespaced_persistent_volume_claim, "claim", namespace, claim)
        for member in pods:  # then every pod in one burst: no fresh pod can find an old one left
            self._delete(self.core.delete_namespaced_pod, "pod", namespace, member, grace_period_seconds=0)

        def gone() -> bool:
            for (kind, name), uid in uids.items():
                now = self._pod(namespace, name) if kind == "pod" else self._claim(namespace, name)
                if now is not None and now["metadata"]["uid"] == uid:
                    return False
            return True

        wait_until(gone, timeout=DISK_LOST_TIMEOUT_S, interval=0.3,
                   what=f"{', '.join(pods)} and {'its claim' if len(claims) == 1 else 'their claims'} "
                        f"{', '.join(claims)} to be deleted")
        took = round(time.monotonic() - started, 2)
        return [{"member": member, "node_id": ordinal(member), "claims": claims_of(pod),
                 "data_dir": f"claim {namespace}/{', '.join(claims_of(pod))}", "how": HOW.get(layer, HOW["kafka"]),
                 "took_s": took} for member, pod in pods.items()]

    def _delete(self, delete, kind: str, namespace: str, name: str, **kwargs: Any) -> None:
        try:
            self._call(delete, name, namespace, **kwargs)
        except ApiException as err:
            if err.status != 404:
                raise GamedayError(f"{self.name}: deleting {kind} {namespace}/{name} failed: "
                                   f"{err.status} {err.reason}") from None

    def _claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read_or_none(self.core.read_namespaced_persistent_volume_claim, namespace, name)

    def lost_storage(self, layer: str) -> list[str]:
        """[]: a member back on a new claim needs nothing from gameday (a broker formats it as it
        starts; search nodes on empty claims form a new cluster, which the search playbook diagnoses
        from the cluster itself: no snapshot repository, no index)."""
        return []

    def restore_member_storage(self, member: str) -> dict[str, Any]:
        """Nothing to do: the member's start uses its new claim (a broker formats it with the cluster id
        and its node id)."""
        return {"member": member, "node_id": ordinal(member), "formatted_by": "the broker's start, on its new claim"}

    def search_snapshot_repository(self) -> dict[str, Any]:
        """``kubernetes.search.snapshot_repository`` of the environment (``{"type", "settings"}``: GCS on
        GKE; a shared filesystem in every node's ``path.repo`` on the twin), as ``PUT _snapshot/<name>``
        takes it. Not given: a GamedayError naming the key."""
        repository = (self.block.get("search") or {}).get("snapshot_repository")
        if not repository:
            raise GamedayError(f"{self.name}: where the search snapshots live is not in the environment",
                               hint=f"set kubernetes.search.snapshot_repository in {self.env.source or 'its file'} "
                                    "(e.g. {type: gcs, settings: {bucket: ..., base_path: ...}}), or register the "
                                    "repository by hand and re-run the playbook")
        return {"type": repository["type"], "settings": dict(repository.get("settings") or {})}
