"""A local HTTP server speaking the parts of the Compute Engine API v1 (REST, JSON) that gameday calls:
Cloud CDN's cache invalidation on a url map, and the global operation it starts.

Google Cloud cannot run here, so this is the protocol boundary: the official client
(``googleapiclient``'s ``compute`` v1, static discovery) talks to it over plain HTTP
(``GAMEDAY_COMPUTE_ENDPOINT`` or ``compute(endpoint)``). It keeps the rules of the real service our
code could break: resources under ``/compute/v1/projects/{project}/global/...``, Google's error body
(``{"error": {"code", "message", "errors": [...]}}``), a url map that must exist (404), a path that
must start with ``/`` (400), an operation that is ``PENDING``, ``RUNNING``, then ``DONE`` as
``globalOperations.get`` is polled. Every request is recorded::

    server = ComputeServer(url_maps=["k8s2-um-sps"]).start()
    server.script(never=True)                            # the next invalidation stays RUNNING for ever
    server.script(error="INTERNAL_ERROR")                # the next one ends DONE with an error
    server.fail("POST", "/invalidateCache", 429, "Rate Limit Exceeded")   # an HTTP error, once
    ... server.calls("POST") ... server.invalidations ... server.stop()
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

PREFIX = re.compile(r"^/compute/v1/projects/(?P<project>[^/]+)/global/(?P<rest>.+)$")


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str):
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


class ComputeServer:
    def __init__(self, *, project: str = "sps-production", url_maps: tuple[str, ...] = ("k8s2-um-sps",),
                 polls_to_done: int = 2):
        self.project, self.url_maps = project, set(url_maps)
        self.polls_to_done = polls_to_done  # operations.get calls that see it unfinished before DONE
        self.operations: dict[str, dict[str, Any]] = {}
        self.invalidations: list[dict[str, Any]] = []  # {"url_map", "path", "host"}: those that finished
        self.requests: list[dict[str, Any]] = []
        self._scripts: list[dict[str, Any]] = []
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.endpoint = ""

    def start(self) -> "ComputeServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
                return

            def do_GET(self) -> None:
                owner._serve(self, "GET")

            def do_POST(self) -> None:
                owner._serve(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/compute/v1/"  # as Google's base URL
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def script(self, *, never: bool = False, error: str | None = None) -> None:
        """The next invalidation stays RUNNING for ever (``never``), or ends DONE with ``error``."""
        self._scripts.append({"never": never, "error": error})

    def fail(self, method: str, path_suffix: str, code: int, message: str) -> None:
        """The next request whose path ends with ``path_suffix`` answers this HTTP error."""
        self._faults.append({"method": method, "suffix": path_suffix, "code": code, "message": message})

    def calls(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if (method is None or r["method"] == method) and contains in r["path"]]

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        record = {"method": method, "path": parts.path, "body": json.loads(raw) if raw else None,
                  "auth": handler.headers.get("Authorization")}
        with self._lock:
            self.requests.append(record)
            try:
                fault = next((f for f in self._faults if f["method"] == method and parts.path.endswith(f["suffix"])), None)
                if fault is not None:
                    self._faults.remove(fault)
                    raise ApiError(fault["code"], fault["message"], {403: "forbidden", 429: "rateLimitExceeded"}.get(
                        fault["code"], "backendError"))
                status, answer = 200, self._route(method, parts.path, record["body"])
            except ApiError as err:
                status = err.code
                answer = {"error": {"code": err.code, "message": err.message,
                                    "errors": [{"message": err.message, "domain": "global", "reason": err.reason}]}}
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, body: Any) -> dict[str, Any]:
        m = PREFIX.match(path)
        if not m or m["project"] != self.project:
            raise ApiError(404, f"The resource 'projects/{m['project'] if m else '?'}' was not found", "notFound")
        rest = m["rest"].split("/")
        if method == "POST" and len(rest) == 3 and rest[0] == "urlMaps" and rest[2] == "invalidateCache":
            return self._invalidate(rest[1], body or {})
        if method == "GET" and len(rest) == 2 and rest[0] == "operations":
            return self._operation(rest[1])
        raise ApiError(404, f"no such method here: {method} {path}", "notFound")

    def _invalidate(self, url_map: str, body: dict[str, Any]) -> dict[str, Any]:
        if url_map not in self.url_maps:
            raise ApiError(404, f"The resource 'projects/{self.project}/global/urlMaps/{url_map}' was not found",
                           "notFound")
        path = body.get("path")
        if not isinstance(path, str) or not path.startswith("/") or "*" in path[:-1]:
            raise ApiError(400, f"Invalid value for field 'resource.path': '{path}'. Must start with /, * only at "
                                "its end.", "invalid")
        name = f"operation-{len(self.operations) + 1:04d}-invalidate"
        script = self._scripts.pop(0) if self._scripts else {"never": False, "error": None}
        self.operations[name] = {
            "kind": "compute#operation", "name": name, "operationType": "invalidateCache", "status": "PENDING",
            "targetLink": f"https://www.googleapis.com/compute/v1/projects/{self.project}/global/urlMaps/{url_map}",
            "_polls": 0, "_script": script, "_what": {"url_map": url_map, "path": path, "host": body.get("host")}}
        return self._public(self.operations[name])

    def _operation(self, name: str) -> dict[str, Any]:
        op = self.operations.get(name)
        if op is None:
            raise ApiError(404, f"The resource 'projects/{self.project}/global/operations/{name}' was not found",
                           "notFound")
        if op["status"] != "DONE":
            op["_polls"] += 1
            op["status"] = "RUNNING"
            if not op["_script"]["never"] and op["_polls"] >= self.polls_to_done:
                op["status"] = "DONE"
                if op["_script"]["error"]:
                    op["error"] = {"errors": [{"code": op["_script"]["error"], "message": "the invalidation failed"}]}
                else:
                    self.invalidations.append(op["_what"])
        return self._public(op)

    @staticmethod
    def _public(op: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in op.items() if not k.startswith("_")}
