"""The twin's dynamic volume provisioner: a default StorageClass whose claims get ``local``
PersistentVolumes on this machine's disk, as a cluster's CSI driver gives them disks.

Runs in the node agent (:mod:`.agent`), which owns the nodes the volumes are reachable from::

    provisioner = Provisioner(api, root=Path(".../data/persistent-volumes"), nodes=["t-node-1", "t-node-2"])
    provisioner.ensure_storage_class()   # StorageClass gameday-local, the cluster's default
    provisioner.reconcile()              # Pending claims -> PVs; Released PVs of ours -> deleted with their data

How it meets the control plane: the DefaultStorageClass admission plugin gives a claim without a class
``gameday-local``; kube-controller-manager's PV controller sees an external provisioner and annotates
the claim ``volume.kubernetes.io/storage-provisioner: sandbox.gameday.io/local-path``; this makes a
directory ``<root>/<namespace>_<claim>_<uid>`` and a PV (``local`` path, node affinity to the agent's
nodes, ``claimRef`` to the claim, the class's reclaim policy ``Delete``), and the PV controller binds
the two. Binding is ``Immediate``: the claim is bound before the scheduler places its pod. When the
claim is deleted the PV is ``Released``: it is deleted here, and its directory with it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from .nodes import raw

log = logging.getLogger("gameday.kube.provisioner")

STORAGE_CLASS = "gameday-local"
PROVISIONER = "sandbox.gameday.io/local-path"
PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def storage_class() -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}


def wants_volume(claim: dict[str, Any]) -> bool:
    """A Pending claim, not yet bound, that the PV controller handed to this provisioner."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    annotations = meta.get("annotations") or {}
    return ((claim.get("status") or {}).get("phase", "Pending") == "Pending" and not spec.get("volumeName")
            and not meta.get("deletionTimestamp")
            and any(annotations.get(key) == PROVISIONER for key in PROVISIONER_ANNOTATIONS))


def volume_name(claim: dict[str, Any]) -> str:
    return f"pvc-{claim['metadata']['uid']}"


def volume_for(claim: dict[str, Any], path: Path, nodes: list[str]) -> dict[str, Any]:
    """The PersistentVolume for ``claim`` at ``path``: its size, access modes and class; bound to it."""
    meta, spec = claim["metadata"], claim["spec"]
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": volume_name(claim), "annotations": {PROVISIONED_BY: PROVISIONER},
                     "labels": {"app.kubernetes.io/managed-by": "gameday-twin"}},
        "spec": {"capacity": {"storage": size}, "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": spec.get("storageClassName"),
                 "volumeMode": spec.get("volumeMode") or "Filesystem",
                 "local": {"path": str(path)},
                 "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                              "name": meta["name"], "uid": meta["uid"]},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": sorted(nodes)}]}]}}},
    }


class Provisioner:
    def __init__(self, api: client.ApiClient, *, root: Path, nodes: list[str]):
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.root, self.nodes = root, nodes

    def ensure_storage_class(self) -> None:
        try:
            raw(self.storage.create_storage_class, storage_class())
            log.info("StorageClass %s (default) made for provisioner %s", STORAGE_CLASS, PROVISIONER)
        except ApiException as err:
            if err.status != 409:
                raise

    def reconcile(self) -> None:
        for claim in raw(self.core.list_persistent_volume_claim_for_all_namespaces).get("items") or []:
            if wants_volume(claim):
                self.provision(claim)
        for volume in raw(self.core.list_persistent_volume).get("items") or []:
            annotations = volume["metadata"].get("annotations") or {}
            if (annotations.get(PROVISIONED_BY) == PROVISIONER and (volume.get("status") or {}).get("phase") == "Released"
                    and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
                self.delete(volume)

    def provision(self, claim: dict[str, Any]) -> None:
        meta = claim["metadata"]
        path = self.root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
        try:
            raw(self.core.create_persistent_volume, volume_for(claim, path, self.nodes))
            log.info("claim %s/%s: volume %s at %s", meta["namespace"], meta["name"], volume_name(claim), path)
        except ApiException as err:
            if err.status != 409:
                raise

    def delete(self, volume: dict[str, Any]) -> None:
        path = Path(volume["spec"]["local"]["path"])
        if self.root in path.parents:
            shutil.rmtree(path, ignore_errors=True)
        try:
            raw(self.core.delete_persistent_volume, volume["metadata"]["name"])
            log.info("volume %s released and deleted with its data", volume["metadata"]["name"])
        except ApiException as err:
            if err.status != 404:
                raise
