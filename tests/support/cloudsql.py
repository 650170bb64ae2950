"""A local HTTP server speaking the parts of the Cloud SQL Admin API v1 (REST, JSON) that gameday calls.

Google Cloud cannot run here, so this is the protocol boundary: the official client
(``googleapiclient.discovery.build("sqladmin", "v1")``) talks to it over plain HTTP
(``GAMEDAY_CLOUDSQL_ENDPOINT=http://127.0.0.1:PORT/``). It keeps the rules of the real service our
code could break: resources under ``/v1/projects/{project}/...``, Google's error body
(``{"error": {"code", "message", "errors": [...]}}``), a failover refused (412) unless its
``settingsVersion`` is the current one, a clone refused (409) when the destination exists, backup
runs listed newest-enqueued first in pages, a promotion refused (400) for an instance that is not a
read replica, a patch refused for a stale ``settingsVersion`` (412) or a database flag it does not
know or a value the flag does not take (400), and every change as an Operation that is PENDING, then
RUNNING, then DONE (its effect applied then) as ``operations.get`` is polled. ``flags.list``
(``GET /v1/flags?databaseVersion=...``) answers from :attr:`CloudSqlServer.flag_catalog`, each flag a
``sql#flag`` with its ``requiresRestart``: this server's catalog for the tests (a test sets what a flag
needs), not Google's. A patch that changes a flag which requires a restart restarts the instance within
its operation: nothing restarts while the operation is PENDING; once it is RUNNING the instance answers
``state: MAINTENANCE``; when it is DONE the instance is RUNNABLE again, :attr:`restarts` counts it and
only then do its replicas (``replicaNames``) restart, answering MAINTENANCE for ``restart_gets`` reads
each before RUNNABLE again. A client that waits for the replicas without first following the patch's
operation to DONE sees them RUNNABLE before the restart has begun. A patch whose operation ends with
errors restarts nothing and leaves the flags as they were. An instance may be given a real MariaDB
behind it (``database=``, :class:`tests.support.cloudsql_mariadb.SourceDatabase`): then an on-demand
backup is a real dump of it, and a clone at ``pointInTime`` is a real MariaDB holding its data as it
was then (the newest dump before, plus its binary log replayed up to the moment), made while the
clone's operation is RUNNING; the clone's instance resource gives that server's address. A clone's
operation is listed under its source (``operations.list?instance=``) with the new instance as its
``targetId``/``targetLink``, and the new instance exists from the request on (``PENDING_CREATE``,
RUNNABLE when the operation is DONE, FAILED when it ends with errors). Every
request is recorded::

    server = CloudSqlServer().start()
    server.add_instance("sps-db", availability="REGIONAL", settings_version="42")
    server.add_instance("sps-db-ew1", region="europe-west1", replica_of="sps-db")    # a cross-region replica
    server.script("failover", errors=[{"code": "INTERNAL_ERROR", "message": "..."}])   # the next failover fails
    server.script("clone", never=True)                                                # ... or never finishes
    server.fail("POST", "/failover", 403, "The client is not authorized")            # an HTTP error, once
    server.flag_catalog["read_only"]["requiresRestart"] = True                        # flags.list says so
    ... server.requests ... server.stop()
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = re.compile(r"^/v1/projects/(?P<project>[^/]+)/(?P<rest>.*)$")
MYSQL = ["MYSQL_5_7", "MYSQL_8_0"]
# The database flags this server knows, as flags.list describes them (``allowed``: the values a patch may
# give, None: any; not sent). The tests' catalog, not Google's: a test sets requiresRestart as it needs.
FLAG_CATALOG = {
    "read_only": {"type": "BOOLEAN", "appliesTo": MYSQL, "requiresRestart": False, "allowed": ("on", "off")},
    "max_connections": {"type": "INTEGER", "appliesTo": MYSQL, "requiresRestart": False, "minValue": "14",
                        "maxValue": "262143", "allowed": None},
    "slow_query_log": {"type": "BOOLEAN", "appliesTo": MYSQL, "requiresRestart": False, "allowed": ("on", "off")},
    "performance_schema": {"type": "BOOLEAN", "appliesTo": MYSQL, "requiresRestart": True, "allowed": ("on", "off")},
}


def stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str = "invalid"):
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


class CloudSqlServer:
    def __init__(self, *, project: str = "sps-staging", page_size: int = 100, polls_to_done: int = 2,
                 backup_context: bool = True, restart_gets: int = 2):
        self.project = project
        self.flag_catalog = copy.deepcopy(FLAG_CATALOG)
        self.restart_gets = restart_gets  # reads a replica answers MAINTENANCE after its primary restarted
        self.restarts: dict[str, int] = {}  # instance -> restarts a flag change caused
        self._restarting: dict[str, int] = {}
        self.backup_context = backup_context  # False: a backup operation does not name its run (found by description)
        self.page_size = page_size
        self.polls_to_done = polls_to_done
        self.instances: dict[str, dict[str, Any]] = {}
        self.backup_runs: dict[str, list[dict[str, Any]]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, list[dict[str, Any]]] = {}
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._count = 0
        self._server: ThreadingHTTPServer | None = None
        self.endpoint = ""
        self.databases: dict[str, Any] = {}  # instance -> its SourceDatabase (tests/support/cloudsql_mariadb.py)

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> "CloudSqlServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
                return

            def do_GET(self) -> None:
                owner._serve(self, "GET")

            def do_POST(self) -> None:
                owner._serve(self, "POST")

            def do_PATCH(self) -> None:
                owner._serve(self, "PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for op in self.operations.values():  # a clone still being made is waited for, then stopped with the rest
            if op.get("_thread") is not None:
                op["_thread"].join(timeout=120)
        for database in self.databases.values():
            database.stop()

    # ---- state ---------------------------------------------------------------------------------
    def add_instance(self, name: str, *, availability: str = "REGIONAL", settings_version: str = "7",
                     zone: str = "europe-west2-a", secondary: str = "europe-west2-b", ip: str = "10.20.0.5",
                     bin_log: bool = True, retention_days: int = 7, replica_of: str | None = None,
                     state: str = "RUNNABLE", region: str = "europe-west2", flags: dict[str, str] | None = None,
                     database_version: str = "MYSQL_8_0", database: Any = None) -> dict[str, Any]:
        if region != "europe-west2" and zone == "europe-west2-a":
            zone, secondary = f"{region}-b", f"{region}-c"
        inst = {"kind": "sql#instance", "name": name, "project": self.project, "state": state,
                "databaseVersion": database_version, "region": region, "gceZone": zone,
                "connectionName": f"{self.project}:{region}:{name}",
                "instanceType": "READ_REPLICA_INSTANCE" if replica_of else "CLOUD_SQL_INSTANCE",
                "ipAddresses": [{"type": "PRIVATE", "ipAddress": ip}],
                "settings": {"settingsVersion": settings_version, "availabilityType": availability,
                             "backupConfiguration": {"enabled": True, "binaryLogEnabled": bin_log,
                                                     "transactionLogRetentionDays": retention_days}}}
        if availability == "REGIONAL":
            inst["secondaryGceZone"] = secondary
        if flags:
            inst["settings"]["databaseFlags"] = [{"name": k, "value": v} for k, v in flags.items()]
        if replica_of:
            inst["masterInstanceName"] = replica_of
            inst["replicaConfiguration"] = {"kind": "sql#replicaConfiguration", "failoverTarget": False}
            inst["settings"]["databaseReplicationEnabled"] = True
            self.instances[replica_of].setdefault("replicaNames", []).append(name)
        self.instances[name] = inst
        if database is not None:
            self.databases[name] = database
        return inst

    def add_backup_run(self, instance: str, *, run_id: str, status: str, enqueued: datetime, took_s: float = 60,
                       type_: str = "AUTOMATED") -> dict[str, Any]:
        run = {"kind": "sql#backupRun", "id": run_id, "instance": instance, "status": status, "type": type_,
               "enqueuedTime": stamp(enqueued), "startTime": stamp(enqueued + timedelta(seconds=1)),
               "location": "eu"}
        if status in ("SUCCESSFUL", "FAILED"):
            run["endTime"] = stamp(enqueued + timedelta(seconds=1 + took_s))
        if status == "FAILED":
            run["error"] = {"kind": "sql#operationError", "code": "BACKUP_FAILED", "message": "disk quota"}
        self.backup_runs.setdefault(instance, []).append(run)
        return run

    def script(self, kind: str, *, errors: list[dict[str, str]] | None = None, never: bool = False) -> None:
        """The next operation of ``kind`` (backup, failover, promote, clone) ends with ``errors``, or never ends."""
        self._scripts.setdefault(kind, []).append({"errors": errors, "never": never})

    def fail(self, method: str, path_suffix: str, code: int, message: str) -> None:
        """The next request whose path ends with ``path_suffix`` answers this HTTP error."""
        self._faults.append({"method": method, "suffix": path_suffix, "code": code, "message": message})

    def calls(self, method: str | None = None, suffix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if (method is None or r["method"] == method) and r["path"].endswith(suffix)]

    def changes(self) -> list[dict[str, Any]]:
        """Every request that asked for a change (POST, PATCH)."""
        return [r for r in self.requests if r["method"] in ("POST", "PATCH")]

    # ---- protocol ------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        json_body = (handler.headers.get("Content-Type") or "").startswith("application/json")
        body = (json.loads(raw) if json_body else {"form_fields": sorted(parse_qs(raw.decode()))}) if raw else None
        record = {"method": method, "path": parts.path, "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                  "body": body, "at": time.time()}  # at: the order against what the caller wrote before it
        with self._lock:
            self.requests.append(record)
            try:
                fault = next((f for f in self._faults if f["method"] == method and parts.path.endswith(f["suffix"])), None)
                if fault is not None:
                    self._faults.remove(fault)
                    raise ApiError(fault["code"], fault["message"], "forbidden" if fault["code"] == 403 else "failed")
                status, answer = 200, self._route(method, parts.path, record["query"], body)
            except ApiError as err:
                status = err.code
                answer = {"error": {"code": err.code, "message": err.message,
                                    "errors": [{"message": err.message, "domain": "global", "reason": err.reason}]}}
                if parts.path == "/token":
                    answer = {"error": err.reason, "error_description": err.message}
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        if method == "POST" and path == "/token":  # an OAuth token endpoint that refuses every grant
            raise ApiError(400, "Invalid JWT Signature.", "invalid_grant")
        if method == "GET" and path == "/v1/flags":
            return self._flags(query.get("databaseVersion"))
        m = PREFIX.match(path)
        if not m or m["project"] != self.project:
            raise ApiError(404, "The project does not exist or you do not have access to it.", "notFound")
        rest = m["rest"].split("/")
        if method == "GET" and rest[0] == "operations" and len(rest) == 2:
            return self._poll(rest[1])
        if method == "GET" and rest == ["operations"]:  # operations.list?instance=: newest first, as the API lists
            ops = [self._public(o) for o in self.operations.values()
                   if query.get("instance") in (o["targetId"], o.get("_source"))]
            return {"kind": "sql#operationsList", "items": ops[::-1][:int(query.get("maxResults", 100))]}
        if rest[0] != "instances" or len(rest) < 2:
            raise ApiError(404, f"no route {method} {path}", "notFound")
        inst = self.instances.get(rest[1])
        if inst is None:
            raise ApiError(404, "The Cloud SQL instance does not exist.", "instanceDoesNotExist")
        tail = rest[2:]
        if method == "GET" and not tail:
            left = self._restarting.get(inst["name"])
            if left is not None:  # a replica restarting after its primary: MAINTENANCE for a few reads
                self._restarting[inst["name"]] = left - 1
                if left <= 0:
                    del self._restarting[inst["name"]]
                    inst["state"] = "RUNNABLE"
            return inst
        if method == "GET" and tail == ["backupRuns"]:
            runs = sorted(self.backup_runs.get(inst["name"], []), key=lambda r: r["enqueuedTime"], reverse=True)
            size = min(int(query.get("maxResults", self.page_size)), self.page_size)
            start = int(query.get("pageToken", "0"))
            page = {"kind": "sql#backupRunsList", "items": runs[start:start + size]}
            if start + size < len(runs):
                page["nextPageToken"] = str(start + size)
            return page
        if method == "GET" and len(tail) == 2 and tail[0] == "backupRuns":
            run = next((r for r in self.backup_runs.get(inst["name"], []) if r["id"] == tail[1]), None)
            if run is None:
                raise ApiError(404, "The backup run does not exist.", "backupRunDoesNotExist")
            return run
        if method == "POST" and tail == ["backupRuns"]:
            return self._operation("backup", inst, "BACKUP_VOLUME", body=body)
        if method == "POST" and tail == ["failover"]:
            given = ((body or {}).get("failoverContext") or {}).get("settingsVersion")
            if given != inst["settings"]["settingsVersion"]:
                raise ApiError(412, "Precondition check failed.", "staleData")
            return self._operation("failover", inst, "FAILOVER")
        if method == "POST" and tail == ["promoteReplica"]:
            if inst["instanceType"] != "READ_REPLICA_INSTANCE":
                raise ApiError(400, "The requested operation is not valid for a non-replica instance.",
                               "invalidOperation")
            return self._operation("promote", inst, "PROMOTE_REPLICA")
        if method == "PATCH" and not tail:
            self._check_patch(inst, body or {})
            return self._operation("patch", inst, "UPDATE", body=body)
        if method == "POST" and tail == ["clone"]:
            ctx = (body or {}).get("cloneContext") or {}
            if ctx.get("destinationInstanceName") in self.instances:
                raise ApiError(409, "The Cloud SQL instance already exists.", "instanceAlreadyExists")
            return self._operation("clone", inst, "CLONE", body=body)
        raise ApiError(404, f"no route {method} {path}", "notFound")

    def _flags(self, version: str | None) -> dict[str, Any]:
        """flags.list: every flag of ``version`` (all flags without one), as the API describes them."""
        items = [{"kind": "sql#flag", "name": name, **{k: v for k, v in f.items() if k != "allowed"}}
                 for name, f in self.flag_catalog.items() if version is None or version in f["appliesTo"]]
        return {"kind": "sql#flagsList", "items": items}

    def _check_patch(self, inst: dict[str, Any], body: dict[str, Any]) -> None:
        """What the real API refuses in ``instances.patch`` before starting an operation."""
        settings = body.get("settings") or {}
        given = settings.get("settingsVersion")
        if given is not None and str(given) != inst["settings"]["settingsVersion"]:
            raise ApiError(412, "Precondition check failed.", "staleData")
        for flag in settings.get("databaseFlags") or []:
            name, value = flag.get("name"), flag.get("value")
            known = self.flag_catalog.get(name)
            if known is None or inst["databaseVersion"] not in known["appliesTo"]:
                raise ApiError(400, f"Invalid flag for instance: {name}.", "invalidFlagName")
            allowed = known["allowed"]
            if allowed is not None and value not in allowed:
                raise ApiError(400, f"Invalid value for flag {name}: {value}.", "invalidFlagValue")

    def _operation(self, kind: str, inst: dict[str, Any], op_type: str, body: Any = None) -> dict[str, Any]:
        self._count += 1
        name = f"op-{kind}-{self._count}"
        script = (self._scripts.get(kind) or [{}]).pop(0) if self._scripts.get(kind) else {}
        op = {"kind": "sql#operation", "name": name, "operationType": op_type, "status": "PENDING",
              "targetId": inst["name"], "targetProject": self.project,
              "insertTime": stamp(datetime.now(timezone.utc)),
              "_kind": kind, "_body": body, "_polls": 0, "_script": script}
        if kind == "patch":  # whether it restarts the instance: a flag that changes and requires it
            settings = (body or {}).get("settings") or {}
            before = {f["name"]: f.get("value") for f in inst["settings"].get("databaseFlags") or []}
            after = {f["name"]: f.get("value") for f in settings.get("databaseFlags") or []}
            changed = {n for n in set(before) | set(after) if before.get(n) != after.get(n)}
            op["_restart"] = "databaseFlags" in settings and any(
                self.flag_catalog.get(n, {}).get("requiresRestart") for n in changed)
        if kind == "backup":
            run = self.add_backup_run(inst["name"], run_id=str(1000 + self._count), status="RUNNING",
                                      enqueued=datetime.now(timezone.utc), type_="ON_DEMAND")
            run["description"] = (body or {}).get("description")
            op["_run"] = run["id"]
            if inst["name"] in self.databases and not script.get("errors"):  # a real dump of the data behind it
                try:
                    self.databases[inst["name"]].backup()
                except Exception as err:  # noqa: BLE001 - any failure is the operation's error, as Google reports it
                    script = op["_script"] = {"errors": [{"code": "BACKUP_FAILED", "message": str(err)}]}
            if self.backup_context:
                op["backupContext"] = {"kind": "sql#backupContext", "backupId": run["id"]}
        if kind == "clone":  # listed under the source, its target the new instance (made at once, PENDING_CREATE)
            destination = body["cloneContext"]["destinationInstanceName"]
            op.update(targetId=destination, _source=inst["name"],
                      targetLink=f"https://sqladmin.googleapis.com/v1/projects/{self.project}/instances/{destination}")
            made = self.add_instance(destination, availability=inst["settings"]["availabilityType"], state="PENDING_CREATE")
            made["ipAddresses"] = []
            if inst["name"] in self.databases and not script:
                self._start_clone(op, inst, body)
        self.operations[name] = op
        return self._public(op)

    def _start_clone(self, op: dict[str, Any], inst: dict[str, Any], body: dict[str, Any]) -> None:
        """Make the clone's data in a thread while the operation runs: a MariaDB holding the source's
        data as at ``pointInTime``; its address, or the error, is kept for :meth:`_finish`."""
        ctx = body["cloneContext"]
        moment = datetime.fromisoformat(ctx["pointInTime"].replace("Z", "+00:00")).timestamp()
        source = self.databases[inst["name"]]

        def make() -> None:
            try:
                op["_clone_ip"] = source.clone_at(ctx["destinationInstanceName"], moment)
                op["_clone_ca"] = source.server_ca(op["_clone_ip"])
            except Exception as err:  # noqa: BLE001 - any failure is the operation's error, as Google reports it
                op["_script"] = {"errors": [{"code": "INTERNAL_ERROR", "message": f"the clone failed: {err}"}]}

        op["_thread"] = threading.Thread(target=make, daemon=True)
        op["_thread"].start()

    def _poll(self, name: str) -> dict[str, Any]:
        op = self.operations.get(name)
        if op is None:
            raise ApiError(404, "The operation does not exist.", "operationDoesNotExist")
        if op["status"] != "DONE":
            op["_polls"] += 1
            making = op.get("_thread") is not None and op["_thread"].is_alive()
            if op["_script"].get("never") or op["_polls"] < self.polls_to_done or making:
                self._running(op)
            else:
                self._finish(op)
        return self._public(op)

    def _running(self, op: dict[str, Any]) -> None:
        op["status"] = "RUNNING"
        if op.get("_restart"):  # the instance restarts while its patch's operation runs
            self.instances[op["targetId"]]["state"] = "MAINTENANCE"

    def _finish(self, op: dict[str, Any]) -> None:
        op["status"] = "DONE"
        op["endTime"] = stamp(datetime.now(timezone.utc))
        errors = op["_script"].get("errors")
        inst = self.instances[op.get("_source") or op["targetId"]]
        if op["_kind"] == "backup":
            run = next(r for r in self.backup_runs[inst["name"]] if r["id"] == op["_run"])
            run["status"] = "FAILED" if errors else "SUCCESSFUL"
            run["endTime"] = op["endTime"]
        if op.get("_restart"):
            inst["state"] = "RUNNABLE"  # back from the restart (or from the failed attempt)
        if errors:
            op["error"] = {"kind": "sql#operationErrors",
                           "errors": [{"kind": "sql#operationError", **e} for e in errors]}
            if op["_kind"] == "clone":
                self.instances[op["targetId"]]["state"] = "FAILED"
            return
        if op["_kind"] == "failover":
            inst["gceZone"], inst["secondaryGceZone"] = inst["secondaryGceZone"], inst["gceZone"]
        elif op["_kind"] == "promote":
            primary = self.instances.get(inst.pop("masterInstanceName", ""))
            if primary is not None:
                primary["replicaNames"] = [n for n in primary.get("replicaNames", []) if n != inst["name"]]
            inst["instanceType"] = "CLOUD_SQL_INSTANCE"
            inst.pop("replicaConfiguration", None)
            inst["settings"].pop("databaseReplicationEnabled", None)
        elif op["_kind"] == "patch":
            settings = (op["_body"] or {}).get("settings") or {}
            if op.get("_restart"):
                self.restarts[inst["name"]] = self.restarts.get(inst["name"], 0) + 1  # done within the operation
                for replica in inst.get("replicaNames") or []:  # a restarted primary restarts its replicas
                    self.instances[replica]["state"] = "MAINTENANCE"
                    self._restarting[replica] = self.restart_gets
            inst["settings"].update({k: v for k, v in settings.items() if k != "settingsVersion"})
            inst["settings"]["settingsVersion"] = str(int(inst["settings"]["settingsVersion"]) + 1)
        elif op["_kind"] == "clone":
            made = self.instances[op["targetId"]]
            made["state"] = "RUNNABLE"
            made["ipAddresses"] = [{"type": "PRIVATE",
                                    "ipAddress": op.get("_clone_ip") or f"10.20.0.{50 + len(self.instances)}"}]
            if op.get("_clone_ca"):  # a new instance has a server CA of its own
                made["serverCaCert"] = {"kind": "sql#sslCert", "cert": op["_clone_ca"]}

    @staticmethod
    def _public(op: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in op.items() if not k.startswith("_")}
