"""A local HTTP server speaking the few Kubernetes API calls a region resize makes (core/v1 pods list,
apps/v1 Deployments and StatefulSets: list, get, patch) and a promotion's stop of Strimzi's mirror
(kafka.strimzi.io/v1beta2 KafkaMirrorMaker2: get, patch), for unit tests that need no cluster.

The official ``kubernetes`` client reaches it through a kubeconfig (:meth:`KubeApi.kubeconfig`) as it
would reach GKE. It keeps the rules our code could break: objects under
``/apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}``, a Status body for errors, a patch
applied as a JSON merge patch (``null`` deletes a key) that must be a JSON object, ``resourceVersion``
checked when a patch names one (409), ``metadata.generation`` raised by a spec change, the controller's
``status.observedGeneration`` following at the next read and ``status.readyReplicas`` only after
``reads_to_ready`` reads of the object (pods take time to start). A KafkaMirrorMaker2 keeps its CRD's
rule (each connector's ``state`` running, paused or stopped, else 422) and its operator's answer at
the next read (``status.observedGeneration``, and ``status.connectors`` in the states the spec asks)::

    api = KubeApi().start()
    api.add("Deployment", "wordpress", "wordpress", replicas=1, labels={"app": "wp"})
    api.add_mirror("kafka", "sps-mirror", spec={"connectCluster": "ew1", "clusters": [...], "mirrors": [...]})
    path = api.kubeconfig(tmp_path, context="gke_x")
    ... api.requests ... api.objects[("Deployment", "wordpress", "wordpress")] ... api.stop()
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

APPS = re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>deployments|statefulsets)(?:/(?P<name>[^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
STRIMZI = re.compile(r"^/apis/kafka\.strimzi\.io/v1beta2/namespaces/(?P<ns>[^/]+)/(?P<plural>kafkamirrormaker2s)"
                     r"/(?P<name>[^/]+)$")
KINDS = {"deployments": "Deployment", "statefulsets": "StatefulSet", "kafkamirrormaker2s": "KafkaMirrorMaker2"}
MIRROR = "KafkaMirrorMaker2"
CONNECTORS = {"sourceConnector": "MirrorSourceConnector", "checkpointConnector": "MirrorCheckpointConnector",
              "heartbeatConnector": "MirrorHeartbeatConnector"}
STATES = ("running", "paused", "stopped")


class Refused(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class KubeApi:
    def __init__(self, *, reads_to_ready: int = 2):
        self.reads_to_ready = reads_to_ready
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._reads: dict[tuple[str, str, str], int] = {}
        self._version = 100
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> "KubeApi":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                owner._serve(self, "GET")

            def do_PATCH(self) -> None:
                owner._serve(self, "PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, folder: Path, *, context: str) -> Path:
        """A kubeconfig file whose ``context`` reaches this server (a token no one checks)."""
        path = folder / f"kubeconfig-{context}"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "local-test-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}]}))
        return path

    # ---- state ---------------------------------------------------------------------------------
    def add(self, kind: str, namespace: str, name: str, *, replicas: int, labels: dict[str, str],
            owner: dict[str, Any] | None = None) -> dict[str, Any]:
        """A Deployment or StatefulSet whose pod template carries ``labels``, all replicas ready."""
        self._version += 1
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "generation": 1,
                                "resourceVersion": str(self._version), "uid": f"uid-{name}"}
        if owner is not None:
            meta["ownerReferences"] = [{**owner, "controller": True, "blockOwnerDeletion": True}]
        obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
               "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                        "template": {"metadata": {"labels": dict(labels)}}},
               "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                          "updatedReplicas": replicas}}
        self.objects[(kind, namespace, name)] = obj
        return obj

    def add_mirror(self, namespace: str, name: str, *, spec: dict[str, Any]) -> dict[str, Any]:
        """A Strimzi KafkaMirrorMaker2 whose connectors run as its ``spec`` says."""
        self._version += 1
        obj = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": MIRROR,
               "metadata": {"name": name, "namespace": namespace, "generation": 1,
                            "resourceVersion": str(self._version), "uid": f"uid-{name}"},
               "spec": json.loads(json.dumps(spec)), "status": {"observedGeneration": 1}}
        self.objects[(MIRROR, namespace, name)] = obj
        obj["status"]["connectors"] = _connector_status(obj["spec"])
        return obj

    def patches(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "PATCH"]

    # ---- protocol ------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        record = {"method": method, "path": parts.path, "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                  "content_type": handler.headers.get("Content-Type"), "body": json.loads(raw) if raw else None}
        with self._lock:
            self.requests.append(record)
            try:
                status, answer = 200, self._route(method, parts.path, record)
            except Refused as err:
                status = err.code
                answer = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": err.message,
                          "reason": err.reason, "code": err.code}
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, record: dict[str, Any]) -> dict[str, Any]:
        if method == "GET" and (m := PODS.match(path)):
            wanted = dict(t.split("=", 1) for t in (record["query"].get("labelSelector") or "").split(",") if t)
            items = [p for p in self.pods if p["metadata"]["namespace"] == m["ns"]
                     and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())]
            return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        m = APPS.match(path) or STRIMZI.match(path)
        if not m:
            raise Refused(404, "NotFound", f"the server could not find the requested resource ({path})")
        kind = KINDS[m["plural"]]
        if m["name"] is None:
            if method != "GET":
                raise Refused(405, "MethodNotAllowed", f"{method} on a list is not allowed")
            items = [self._read((k, ns, n)) for (k, ns, n) in sorted(self.objects) if k == kind and ns == m["ns"]]
            return {"kind": f"{kind}List", "apiVersion": "apps/v1", "metadata": {}, "items": items}
        key = (kind, m["ns"], m["name"])
        if key not in self.objects:
            group = "kafka.strimzi.io" if kind == MIRROR else "apps"
            raise Refused(404, "NotFound", f'{m["plural"]}.{group} "{m["name"]}" not found')
        if method == "GET":
            return self._read(key)
        return self._patch(key, record)

    def _read(self, key: tuple[str, str, str]) -> dict[str, Any]:
        """The object as the controller has it now: after ``reads_to_ready`` reads since its last
        spec change, its status follows the spec."""
        obj = self.objects[key]
        self._reads[key] = self._reads.get(key, 0) + 1
        if key[0] == MIRROR:  # the operator has reconciled it by now
            obj["status"].update(observedGeneration=obj["metadata"]["generation"],
                                 connectors=_connector_status(obj["spec"]))
            return json.loads(json.dumps(obj))
        want = int(obj["spec"].get("replicas", 1))
        status = obj["status"]
        status.update(observedGeneration=obj["metadata"]["generation"], replicas=want)  # seen at once
        if self._reads[key] >= self.reads_to_ready:  # ready only later
            status.update(readyReplicas=want, updatedReplicas=want)
        return json.loads(json.dumps(obj))

    def _patch(self, key: tuple[str, str, str], record: dict[str, Any]) -> dict[str, Any]:
        body = record["body"]
        if not isinstance(body, dict):
            raise Refused(422, "Invalid", "a merge patch must be a JSON object")
        if "json" not in (record["content_type"] or ""):
            raise Refused(415, "UnsupportedMediaType", f"the body of the request was in an unknown format "
                                                       f"({record['content_type']})")
        obj = self.objects[key]
        given = (body.get("metadata") or {}).get("resourceVersion")
        if given is not None and given != obj["metadata"]["resourceVersion"]:
            raise Refused(409, "Conflict", "the object has been modified; please apply your changes to the latest "
                                           "version and try again")
        replicas = (body.get("spec") or {}).get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
            raise Refused(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}: must be greater than or "
                                          "equal to 0")
        if key[0] == MIRROR:
            _check_mirror_spec(merge(obj, body)["spec"])
        new = merge(obj, {k: v for k, v in body.items() if k != "status"})
        self._version += 1
        new["metadata"]["resourceVersion"] = str(self._version)
        if new["spec"] != obj["spec"]:
            new["metadata"]["generation"] = obj["metadata"]["generation"] + 1
            self._reads[key] = 0
        self.objects[key] = new
        return json.loads(json.dumps(new))


def _check_mirror_spec(spec: dict[str, Any]) -> None:
    """What the KafkaMirrorMaker2 CRD's schema refuses of a connector: a state not in its enum."""
    mirrors = spec.get("mirrors")
    if not isinstance(mirrors, list):
        raise Refused(422, "Invalid", "spec.mirrors: Invalid value: must be an array")
    for i, mirror in enumerate(mirrors):
        for key in CONNECTORS:
            state = (mirror.get(key) or {}).get("state", "running")
            if state not in STATES:
                raise Refused(422, "Invalid", f'spec.mirrors[{i}].{key}.state: Unsupported value: "{state}": '
                                              f'supported values: {", ".join(repr(s) for s in STATES)}')


def _connector_status(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Connect's connector statuses as Strimzi copies them into ``status.connectors``."""
    out = []
    for mirror in spec.get("mirrors") or []:  # v1beta2: sourceCluster / targetCluster; v1: source.alias / spec.target.alias
        target = mirror.get("targetCluster") or (spec.get("target") or {}).get("alias") or spec.get("connectCluster")
        source = mirror.get("sourceCluster") or (mirror.get("source") or {}).get("alias")
        for key, suffix in CONNECTORS.items():
            if mirror.get(key) is not None:
                state = str(mirror[key].get("state", "running")).upper()
                out.append({"name": f"{source}->{target}.{suffix}", "type": "source",
                            "connector": {"state": state, "worker_id": "10.31.1.7:8083"},
                            "tasks": [] if state == "STOPPED" else [{"id": 0, "state": state}]})
    return out
