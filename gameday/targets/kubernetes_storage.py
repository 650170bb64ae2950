"""A broker's disk lost on a Kubernetes cluster, as Strimzi's documentation does it: the broker pod's
PersistentVolumeClaim deleted together with its pod.

A mixin of :class:`~gameday.targets.kubernetes.KubernetesTarget` (it uses ``_call``, ``core``,
``_pod``, ``_read_or_none``, ``_pods`` and ``_scope``)::

    target.check_storage_drill("kafka")    # refused, nothing touched, unless every broker pod has a claim
    target.lose_member_storage("kafka-2")  # its claim(s) deleted, then the pod (grace 0); back empty

The claim is deleted first: it stays (``Terminating``, held by its protection finalizer) while the
pod uses it, and goes when the pod does. The pod's controller (Strimzi's StrimziPodSet, or a
StatefulSet) makes the pod again, and, the claim being missing, a new claim from its template: the
broker starts on an empty disk, formatted on its start with the cluster id and its own node id
(Strimzi's start script; on the Kubernetes twin :mod:`gameday.kube.kafka_storage`), and re-replicates
its partitions from the others. Nothing is left for gameday to format: :meth:`lost_storage` is [] and
the undo only waits for the broker to be back.

Rights: ``delete`` and ``get`` on PersistentVolumeClaims in the Kafka namespace are opt-in
(``deploy/components/disk-loss-drill``; the calls are
:data:`gameday.targets.kubernetes_rbac.STORAGE_CALLS`). The whole search cluster lost on ECK (an ECK
snapshot restore into a new cluster) is not built here: refused, nothing touched.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.rest import ApiException

from ..deadline import wait_until
from ..errors import GamedayError, UsageError
from .kubernetes_pods import deleting, ordinal

DISK_LOST_TIMEOUT_S = 120.0  # the pod and its claim deleted (the claim waits for the pod's containers to stop)

NO_CLUSTER_LOSS = ("the search-cluster-loss drill is not built for Kubernetes yet (on ECK it is an ECK snapshot "
                   "restore into a new cluster); nothing was touched")


def claims_of(pod: dict[str, Any]) -> list[str]:
    """The PersistentVolumeClaims a pod mounts, by name (pure)."""
    return [v["persistentVolumeClaim"]["claimName"] for v in (pod.get("spec") or {}).get("volumes") or []
            if v.get("persistentVolumeClaim")]


class KubernetesStorage:
    """A broker's disk lost: its claim and its pod deleted (see the module's docstring)."""

    def check_storage_drill(self, layer: str) -> None:
        """Kafka: every broker pod mounts a PersistentVolumeClaim (its disk); else a clear refusal.
        Search (the whole cluster lost): not built, refused. Nothing is touched either way."""
        if layer == "search":
            raise GamedayError(f"{self.name}: {NO_CLUSTER_LOSS}",
                               hint="run the search-cluster-loss drill on the sandbox twin (kind: sandbox)")
        if layer != "kafka":
            raise GamedayError(f"{self.name}: the storage-loss drill is built for Kafka brokers only; nothing was touched")
        pods = [p for p in self._pods("kafka") if not deleting(p)]
        without = [p["metadata"]["name"] for p in pods if not claims_of(p)]
        if not pods or without:
            raise GamedayError(f"{self.name}: a broker's disk is lost by deleting its PersistentVolumeClaim with its pod, "
                               f"but {', '.join(without) or 'no broker pod'} mounts none; nothing was touched",
                               hint="on Strimzi, persistent-claim storage in the KafkaNodePool; ephemeral storage "
                                    "is lost by any pod deletion (the kill drills)")

    def lose_member_storage(self, member: str) -> dict[str, Any]:
        """Delete ``member``'s claims, then the pod (grace 0), and wait until both are gone (a pod and
        claims of the same names may already be back: new uids). Returns ``{"member", "node_id",
        "claims", "data_dir", "took_s"}``."""
        namespace, _ = self._scope("kafka")
        pod = self._pod(namespace, member)
        if pod is None or deleting(pod):
            raise UsageError(f"{self.name}: no live broker pod {namespace}/{member}; nothing was touched")
        claims = claims_of(pod)
        if not claims:
            raise UsageError(f"{self.name}: {member} mounts no PersistentVolumeClaim; nothing was touched")
        started = time.monotonic()
        uids = {("pod", member): pod["metadata"]["uid"]}
        for claim in claims:
            found = self._claim(namespace, claim)
            if found is not None:
                uids[("claim", claim)] = found["metadata"]["uid"]
            try:
                self._call(self.core.delete_namespaced_persistent_volume_claim, claim, namespace)
            except ApiException as err:
                if err.status != 404:
                    raise GamedayError(f"{self.name}: deleting claim {namespace}/{claim} failed: "
                                       f"{err.status} {err.reason}") from None
        try:
            self._call(self.core.delete_namespaced_pod, member, namespace, grace_period_seconds=0)
        except ApiException as err:
            if err.status != 404:
                raise GamedayError(f"{self.name}: deleting pod {namespace}/{member} failed: {err.status} {err.reason}") from None

        def gone() -> bool:
            for (kind, name), uid in uids.items():
                now = self._pod(namespace, name) if kind == "pod" else self._claim(namespace, name)
                if now is not None and now["metadata"]["uid"] == uid:
                    return False
            return True

        wait_until(gone, timeout=DISK_LOST_TIMEOUT_S, interval=0.3,
                   what=f"{member} and its claim{'s' if len(claims) > 1 else ''} {', '.join(claims)} to be deleted")
        return {"member": member, "node_id": ordinal(member), "claims": claims,
                "data_dir": f"claim {namespace}/{', '.join(claims)}", "took_s": round(time.monotonic() - started, 2)}

    def _claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read_or_none(self.core.read_namespaced_persistent_volume_claim, namespace, name)

    def lost_storage(self, layer: str) -> list[str]:
        """[]: a broker back on a new claim formats it as it starts; nothing is left to format."""
        return []

    def restore_member_storage(self, member: str) -> dict[str, Any]:
        """Nothing to do: the broker's start formats its new claim (the cluster id, its node id)."""
        return {"member": member, "node_id": ordinal(member), "formatted_by": "the broker's start, on its new claim"}
