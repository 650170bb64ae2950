"""gameday's own state in a Kubernetes target's cluster: the target's Lease and its undo records.

Any process with the environment (a laptop, the CronJob's pod, a second terminal) sees the same lock
and the same pending undos, so a pod killed mid-fault (deadline, OOM, preemption) loses nothing::

    state = KubernetesState(target)                 # namespace: kubernetes.state_namespace (default gameday)
    state.read_lease("gameday-lock-staging")        # the Lease as JSON, or None
    state.create_lease(name, spec) / replace_lease(name, body) / delete_lease(name, resource_version)
    state.create_record(name, labels, data)         # one ConfigMap per undo record
    state.list_records(selector) / delete_record(name)

Each method is one API call (the calls deploy/ grants in the state namespace: see
:mod:`gameday.targets.kubernetes_rbac`). A 409 on create or replace raises :class:`Conflict`, so a
caller can tell "someone else was first" from a failure.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kubernetes import client
from kubernetes.client.rest import ApiException

if TYPE_CHECKING:
    from .kubernetes import KubernetesTarget

DEFAULT_NAMESPACE = "gameday"  # where deploy/ puts gameday's ServiceAccount and CronJob


class Conflict(Exception):
    """The object exists already (create) or changed since it was read (replace, delete)."""


def dns_name(*parts: str) -> str:
    """A DNS-1123 object name from ``parts``: lower case, ``[a-z0-9-]``, at most 253 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:253].rstrip("-")


def label_value(text: str) -> str:
    """A label value (at most 63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return value.strip("-_.") or "x"


class KubernetesState:
    def __init__(self, target: "KubernetesTarget"):
        self.target = target
        self.namespace = str(target.block.get("state_namespace") or DEFAULT_NAMESPACE)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.target.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.target.api)

    def _call(self, fn, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return self.target._call(fn, *args, **kwargs)
        except ApiException as err:
            if err.status == 409:
                raise Conflict(f"{fn.__name__}: {err.reason}") from None
            raise

    # ---- the Lease ---------------------------------------------------------------------------------
    def read_lease(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call(self.coordination.read_namespaced_lease, name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def create_lease(self, name: str, spec: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": self.namespace, "annotations": annotations,
                             "labels": {"app.kubernetes.io/part-of": "gameday"}},
                "spec": spec}
        return self._call(self.coordination.create_namespaced_lease, self.namespace, body)

    def replace_lease(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace with ``body`` (which carries the resourceVersion read): a Conflict if it changed."""
        return self._call(self.coordination.replace_namespaced_lease, name, self.namespace, body)

    def delete_lease(self, name: str, resource_version: str) -> bool:
        """Delete only the version read (a precondition): False when it was gone, Conflict if changed."""
        try:
            self._call(self.coordination.delete_namespaced_lease, name, self.namespace,
                       body={"preconditions": {"resourceVersion": resource_version}})
            return True
        except ApiException as err:
            if err.status == 404:
                return False
            raise

    # ---- undo records ------------------------------------------------------------------------------
    def create_record(self, name: str, labels: dict[str, str], data: dict[str, str]) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": self.namespace,
                             "labels": {"app.kubernetes.io/part-of": "gameday", **labels}},
                "data": data}
        self._call(self.core.create_namespaced_config_map, self.namespace, body)

    def list_records(self, selector: str) -> list[dict[str, Any]]:
        return self._call(self.core.list_namespaced_config_map, self.namespace,
                          label_selector=selector).get("items") or []

    def delete_record(self, name: str) -> bool:
        """Delete one record; False when it was already gone (another process undid it)."""
        try:
            self._call(self.core.delete_namespaced_config_map, name, self.namespace)
            return True
        except ApiException as err:
            if err.status == 404:
                return False
            raise
