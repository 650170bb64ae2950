"""A local HTTP server speaking the parts of the Cloud DNS API v1 (REST, JSON) that gameday calls.

Google Cloud cannot run here, so this is the protocol boundary: the official client
(``google.cloud.dns.Client``) talks to it over plain HTTP (``client_options={"api_endpoint":
server.endpoint}`` or ``GAMEDAY_CLOUDDNS_ENDPOINT``). It keeps the rules of the real service our code
could break: resources under ``/dns/v1/projects/{project}/managedZones/{zone}/...``, Google's error
body (``{"error": {"code", "message", "errors": [...]}}``), record sets listed in pages and filtered by
``name`` (and ``type``), a change applied whole or not at all: each deletion must match a record set
exactly (name, type, ttl, data: else 412 conditionNotMet, or 404 when there is none), an addition
must not collide with one left standing (409 alreadyExists); a change is ``pending``, then ``done``
(its effect applied then) as ``changes.get`` is polled. Every request is recorded::

    server = CloudDnsServer().start()
    server.add_record("www.sps.example.nhs.uk.", "A", ["203.0.113.10"], ttl=60)
    server.script(never=True)                                        # the next change stays pending
    server.fail("POST", "/changes", 403, "Forbidden")                # an HTTP error, once
    ... server.requests ... server.record("www.sps.example.nhs.uk.", "A") ... server.stop()
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = re.compile(r"^/dns/v1/projects/(?P<project>[^/]+)/managedZones/(?P<zone>[^/]+)(?P<rest>/.*)?$")


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str):
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


class CloudDnsServer:
    def __init__(self, *, project: str = "sps-production", zone: str = "sps-example-nhs-uk",
                 dns_name: str = "sps.example.nhs.uk.", page_size: int = 100, polls_to_done: int = 2):
        self.project, self.zone, self.dns_name = project, zone, dns_name
        self.page_size = page_size
        self.polls_to_done = polls_to_done  # changes.get calls that see "pending" before "done"
        self.rrsets: list[dict[str, Any]] = [
            {"kind": "dns#resourceRecordSet", "name": dns_name, "type": "SOA", "ttl": 21600,
             "rrdatas": ["ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"]},
            {"kind": "dns#resourceRecordSet", "name": dns_name, "type": "NS", "ttl": 21600,
             "rrdatas": ["ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com."]}]
        self.changes: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._scripts: list[dict[str, Any]] = []
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.endpoint = ""

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> "CloudDnsServer":
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
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- state ---------------------------------------------------------------------------------
    def add_record(self, name: str, type_: str, rrdatas: list[str], *, ttl: int = 60) -> dict[str, Any]:
        rs = {"kind": "dns#resourceRecordSet", "name": name, "type": type_, "ttl": ttl, "rrdatas": list(rrdatas)}
        self.rrsets.append(rs)
        return rs

    def record(self, name: str, type_: str) -> dict[str, Any] | None:
        return next((r for r in self.rrsets if r["name"] == name and r["type"] == type_), None)

    def script(self, *, never: bool = False) -> None:
        """The next change stays ``pending`` for ever (``never``)."""
        self._scripts.append({"never": never})

    def fail(self, method: str, path_suffix: str, code: int, message: str) -> None:
        """The next request whose path ends with ``path_suffix`` answers this HTTP error."""
        self._faults.append({"method": method, "suffix": path_suffix, "code": code, "message": message})

    def calls(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if (method is None or r["method"] == method) and contains in r["path"]]

    # ---- protocol ------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        record = {"method": method, "path": parts.path, "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                  "body": json.loads(raw) if raw else None, "auth": handler.headers.get("Authorization")}
        with self._lock:
            self.requests.append(record)
            try:
                fault = next((f for f in self._faults if f["method"] == method and parts.path.endswith(f["suffix"])), None)
                if fault is not None:
                    self._faults.remove(fault)
                    raise ApiError(fault["code"], fault["message"], "forbidden" if fault["code"] == 403 else "failed")
                status, answer = 200, self._route(method, parts.path, record["query"], record["body"])
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

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        m = PREFIX.match(path)
        if not m or m["project"] != self.project:
            raise ApiError(404, f"The 'parameters.project' resource named '{m['project'] if m else '?'}' does not "
                                "exist.", "notFound")
        if m["zone"] != self.zone:
            raise ApiError(404, f"The 'parameters.managedZone' resource named '{m['zone']}' does not exist.", "notFound")
        rest = (m["rest"] or "").strip("/").split("/") if m["rest"] else []
        if method == "GET" and not rest:
            return {"kind": "dns#managedZone", "name": self.zone, "dnsName": self.dns_name, "id": "1234"}
        if method == "GET" and rest == ["rrsets"]:
            return self._list(query)
        if method == "POST" and rest == ["changes"]:
            return self._create(body or {})
        if method == "GET" and len(rest) == 2 and rest[0] == "changes":
            return self._poll(rest[1])
        raise ApiError(404, f"no route {method} {path}", "notFound")

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        if "type" in query and "name" not in query:
            raise ApiError(400, "Invalid value for 'parameters.type': type requires name", "invalid")
        found = [r for r in self.rrsets if query.get("name") in (None, r["name"]) and query.get("type") in (None, r["type"])]
        size = min(int(query.get("maxResults", self.page_size)), self.page_size)
        start = int(query.get("pageToken", "0"))
        page: dict[str, Any] = {"kind": "dns#resourceRecordSetsListResponse", "rrsets": found[start:start + size]}
        if start + size < len(found):
            page["nextPageToken"] = str(start + size)
        return page

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        deletions = [self._normal(r, f"deletions[{i}]") for i, r in enumerate(body.get("deletions") or [])]
        additions = [self._normal(r, f"additions[{i}]") for i, r in enumerate(body.get("additions") or [])]
        if not deletions and not additions:
            raise ApiError(400, "The 'entity.change' parameter is required but was missing.", "required")
        for i, d in enumerate(deletions):
            there = self.record(d["name"], d["type"])
            if there is None:
                raise ApiError(404, f"The 'entity.change.deletions[{i}]' resource named '{d['name']} ({d['type']})' "
                                    "does not exist.", "notFound")
            if there["ttl"] != d["ttl"] or sorted(there["rrdatas"]) != sorted(d["rrdatas"]):
                raise ApiError(412, f"Precondition not met for 'entity.change.deletions[{i}]'", "conditionNotMet")
        gone = {(d["name"], d["type"]) for d in deletions}
        for i, a in enumerate(additions):
            if self.record(a["name"], a["type"]) is not None and (a["name"], a["type"]) not in gone:
                raise ApiError(409, f"The resource 'entity.change.additions[{i}]' named '{a['name']} ({a['type']})' "
                                    "already exists", "alreadyExists")
        change_id = str(len(self.changes) + 1)
        script = self._scripts.pop(0) if self._scripts else {}
        self.changes[change_id] = {"kind": "dns#change", "id": change_id, "status": "pending",
                                   "startTime": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                                   "additions": additions, "deletions": deletions,
                                   "_polls": 0, "_never": bool(script.get("never"))}
        return self._public(self.changes[change_id])

    def _poll(self, change_id: str) -> dict[str, Any]:
        change = self.changes.get(change_id)
        if change is None:
            raise ApiError(404, f"The 'parameters.changeId' resource named '{change_id}' does not exist.", "notFound")
        if change["status"] != "done" and not change["_never"]:
            change["_polls"] += 1
            if change["_polls"] >= self.polls_to_done:
                for d in change["deletions"]:
                    self.rrsets.remove(self.record(d["name"], d["type"]))
                self.rrsets += [dict(a) for a in change["additions"]]
                change["status"] = "done"
        return self._public(change)

    @staticmethod
    def _normal(rs: Any, where: str) -> dict[str, Any]:
        """A record set of a change as the service keeps it (ttl as a number, as the API answers it)."""
        try:
            return {"kind": "dns#resourceRecordSet", "name": str(rs["name"]), "type": str(rs["type"]),
                    "ttl": int(rs["ttl"]), "rrdatas": [str(x) for x in rs["rrdatas"]]}
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, f"Invalid value for 'entity.change.{where}'", "invalid") from None

    @staticmethod
    def _public(change: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in change.items() if not k.startswith("_")}
