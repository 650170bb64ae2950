"""Cloud SQL through Google's official Cloud SQL Admin client (``google-api-python-client``, API
``sqladmin`` v1, its discovery document shipped inside the package: nothing is fetched to build it).

Credentials are taken by reference only, as for Cloud Monitoring (:mod:`gameday.gcp.client`):
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
application-default login``, or Workload Identity in GKE), scope ``sqlservice.admin``. Or
``GAMEDAY_CLOUDSQL_ENDPOINT=http://127.0.0.1:PORT/``: a plaintext Cloud SQL Admin REST server on
loopback (the test suite's local server), reached with anonymous credentials.

Usage::

    sql = CloudSql("sps-staging", "sps-staging-db")               # or CloudSql(..., service=sqladmin(url))
    sql.last_backup()                  # newest SUCCESSFUL backup run, or None
    sql.take_backup("gameday drill")   # backupRuns.insert, then its operation waited for
    sql.failover()                     # HA failover to the standby (settingsVersion read first)
    sql.promote_replica("sps-staging-db-replica")
    sql.clone_at("sps-staging-db-pitr", moment)                   # point-in-time restore into a new instance
    sql.set_flags({"read_only": "on"})  # instances.patch of settings.databaseFlags (the others kept);
                                       # whether it restarts the instance is read from flags.list first
    sql.flag_restarts({"read_only": "on"}, "MYSQL_8_0")   # {"required", "flags": {name: bool}, "source"}

Every call that starts an operation waits for it (``operations.get`` every ``poll_s`` seconds) until
it is DONE, within ``timeout_s``: an operation that ends with errors raises :class:`OperationFailed`
naming each error; one still running at the deadline raises ``DeadlineExceeded`` naming it and how to
follow it (``gcloud sql operations describe``); it goes on at Google either way. API errors become
one :class:`CloudSqlError` line naming the fix (:func:`translated`).
"""

from __future__ import annotations

import contextlib
import socket
import time
from datetime import datetime, timezone
from typing import Any, Iterator

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from .client import CREDENTIALS_HINT, discovery_service

ENDPOINT_ENV = "GAMEDAY_CLOUDSQL_ENDPOINT"
SCOPES = ["https://www.googleapis.com/auth/sqlservice.admin"]
READ_RETRIES = 2  # googleapiclient retries 5xx / 429 / a dropped connection with back-off; reads only
MAX_BACKUP_PAGES = 20


class CloudSqlError(GamedayError):
    """The Cloud SQL Admin API refused or could not answer; the message names the fix."""


class OperationFailed(CloudSqlError):
    """A Cloud SQL operation finished with errors (each one is named)."""


# ---- the client ----------------------------------------------------------------------------------

def sqladmin(endpoint: str | None = None, *, timeout_s: float = 30.0, credentials: Any = None) -> Any:
    """The Cloud SQL Admin v1 service (a ``googleapiclient`` Resource): plain HTTP to ``endpoint``
    (or ``$GAMEDAY_CLOUDSQL_ENDPOINT``) with anonymous credentials when given, else Google Cloud with
    Application Default Credentials; ``credentials`` overrides either (tests: a service account whose
    token endpoint is local). Each HTTP request gives up after ``timeout_s`` seconds."""
    return discovery_service("sqladmin", "v1", endpoint_env=ENDPOINT_ENV, endpoint=endpoint, scopes=SCOPES,
                             service="Cloud SQL", timeout_s=timeout_s, credentials=credentials)


@contextlib.contextmanager
def translated(what: str, where: str) -> Iterator[None]:
    """Turn an error of the Cloud SQL Admin client raised inside the block into one CloudSqlError
    (or UsageError, for what the user must fix) naming ``what`` was tried on ``where`` and the fix."""
    import httplib2
    from google.auth import exceptions as auth_errors
    from googleapiclient.errors import HttpError

    try:
        yield
    except HttpError as err:
        raise _http_message(what, where, err) from None
    except auth_errors.RefreshError as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UsageError(f"Google refused a token for Cloud SQL while trying to {what} on {where} ({first})",
                         hint=CREDENTIALS_HINT + "; under Workload Identity, bind the Kubernetes ServiceAccount to a "
                                                 "Google service account (iam.gke.io/gcp-service-account)") from None
    except auth_errors.TransportError as err:
        raise CloudSqlError(f"Google's token service did not answer while trying to {what} on {where} "
                            f"({type(err).__name__})",
                            hint="check the network path to oauth2.googleapis.com (or the GKE metadata server)") from None
    except (httplib2.HttpLib2Error, socket.timeout, OSError) as err:
        raise CloudSqlError(f"the Cloud SQL Admin API did not answer while trying to {what} on {where} "
                            f"({type(err).__name__}: {err})",
                            hint="check the network path to sqladmin.googleapis.com and try again in a minute") from None


def _http_message(what: str, where: str, err: Any) -> GamedayError:
    status = int(getattr(err.resp, "status", 0) or 0)
    detail = (getattr(err, "reason", None) or "").strip() or f"HTTP {status}"
    head = f"Cloud SQL ({where})"
    if status == 401:
        return UsageError(f"{head} rejected the credentials while trying to {what} ({detail})", hint=CREDENTIALS_HINT)
    if status == 403:
        return CloudSqlError(f"{head} denied permission to {what} ({detail})",
                             hint="grant the caller's service account roles/cloudsql.admin (roles/cloudsql.viewer to "
                                  "read backups only) on the project, or check the project id")
    if status == 404:
        return UsageError(f"{head} has no such instance or operation: could not {what} ({detail})",
                          hint="check kubernetes.db.cloud_sql.project and its instance names "
                               "(gcloud sql instances list --project PROJECT)")
    if status == 409:
        return CloudSqlError(f"{head} refused to {what} because of a conflict ({detail})",
                             hint="another operation may be running on the instance (gcloud sql operations list "
                                  "--instance INSTANCE); wait for it, then try again")
    if status == 412:
        return CloudSqlError(f"{head} refused to {what}: its settings changed meanwhile ({detail})",
                             hint="the instance's settingsVersion moved on; read it again and retry")
    if status == 429:
        return CloudSqlError(f"{head} quota exhausted: could not {what} ({detail})",
                             hint="wait a minute and retry, or raise the Cloud SQL Admin API quota")
    if status >= 500 or status == 0:
        return CloudSqlError(f"{head} is unavailable: could not {what} ({detail})",
                             hint="try again in a minute; https://status.cloud.google.com shows Cloud SQL incidents")
    return CloudSqlError(f"{head} rejected the request to {what} ({status}: {detail})",
                         hint="check the instance's state and settings (gcloud sql instances describe INSTANCE)")


# ---- times ---------------------------------------------------------------------------------------

def rfc3339(moment: float) -> str:
    """``2026-12-03T20:41:05.123Z`` for epoch seconds (what the API takes as a timestamp)."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp from the API (``Z`` or an offset; any fraction), or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise CloudSqlError(f"the Cloud SQL Admin API sent a time gameday cannot read: {text!r}") from None


# ---- one instance --------------------------------------------------------------------------------

class CloudSql:
    """One project's Cloud SQL instance, as the recovery drills use it. Reads are retried a little
    (transient 5xx); calls that change something are sent once and their operation waited for."""

    def __init__(self, project: str, instance: str, *, service: Any = None, timeout_s: float = 3600.0,
                 poll_s: float = 5.0, request_timeout_s: float = 30.0):
        self.project = project
        self.instance = instance
        self.service = service if service is not None else sqladmin(timeout_s=request_timeout_s)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._flags: dict[str, dict[str, dict[str, Any]]] = {}  # database version -> flags.list by name

    def where(self, instance: str | None = None) -> str:
        return f"project {self.project}, instance {instance or self.instance}"

    # ---- reads ---------------------------------------------------------------------------------
    def get(self, instance: str | None = None) -> dict[str, Any]:
        """``instances.get``: the instance resource (state, settings.settingsVersion, gceZone, ...)."""
        name = instance or self.instance
        with translated("read the instance", self.where(name)):
            return self.service.instances().get(project=self.project, instance=name).execute(num_retries=READ_RETRIES)

    def exists(self, instance: str) -> bool:
        """Whether ``instance`` exists in the project (``instances.get`` answering 404 means no)."""
        from googleapiclient.errors import HttpError

        with translated("read the instance", self.where(instance)):
            try:
                self.service.instances().get(project=self.project, instance=instance).execute(num_retries=READ_RETRIES)
            except HttpError as err:
                if int(getattr(err.resp, "status", 0) or 0) == 404:
                    return False
                raise
        return True

    def backup_pages(self, *, max_pages: int = MAX_BACKUP_PAGES) -> Iterator[list[dict[str, Any]]]:
        """``backupRuns.list``, page after page (newest enqueued first), at most ``max_pages`` pages."""
        token = None
        for _page in range(max_pages):
            with translated("list the backup runs", self.where()):
                page = self.service.backupRuns().list(project=self.project, instance=self.instance, maxResults=100,
                                                      pageToken=token).execute(num_retries=READ_RETRIES)
            yield page.get("items") or []
            token = page.get("nextPageToken")
            if not token:
                return

    def last_backup(self) -> dict[str, Any] | None:
        """The SUCCESSFUL backup run that ended last, or None when the instance has none. Runs come
        newest-enqueued first, so pages are read only until one holds a successful run (the one that
        ended last on it: a long run enqueued earlier may end after a short later one)."""
        for runs in self.backup_pages():
            done = [r for r in runs if r.get("status") == "SUCCESSFUL" and r.get("endTime")]
            if done:
                return max(done, key=lambda r: epoch(r["endTime"]) or 0.0)
        return None

    def _described(self, description: str) -> dict[str, Any] | None:
        """The backup run carrying ``description`` (an operation that does not name its backup)."""
        for runs in self.backup_pages(max_pages=2):
            for run in runs:
                if run.get("description") == description:
                    return run
        return None

    def backup_run(self, run_id: str) -> dict[str, Any]:
        with translated(f"read backup run {run_id}", self.where()):
            return self.service.backupRuns().get(project=self.project, instance=self.instance, id=run_id).execute(
                num_retries=READ_RETRIES)

    # ---- operations ----------------------------------------------------------------------------
    def wait(self, operation: dict[str, Any], what: str) -> dict[str, Any]:
        """Poll ``operations.get`` until the operation is DONE (within ``timeout_s``); its final
        resource. Raises OperationFailed naming each error, or DeadlineExceeded naming the operation."""
        name = operation.get("name")
        if not name:
            raise CloudSqlError(f"Cloud SQL ({self.where()}) started {what} but sent no operation name to follow")
        last = {"op": operation}

        def done() -> dict[str, Any] | None:
            if last["op"].get("status") == "DONE":
                return last["op"]
            with translated(f"follow operation {name} ({what})", self.where()):
                last["op"] = self.service.operations().get(project=self.project, operation=name).execute(
                    num_retries=READ_RETRIES)
            return last["op"] if last["op"].get("status") == "DONE" else None

        try:
            finished = wait_until(done, timeout=self.timeout_s, interval=self.poll_s,
                                  what=f"Cloud SQL operation {name} ({what}) on {self.where()} to finish")
        except DeadlineExceeded as err:
            raise DeadlineExceeded(f"{err.message} (last status {last['op'].get('status') or 'unknown'})",
                                   hint=f"it goes on at Google: gcloud sql operations describe {name} --project "
                                        f"{self.project}; raise kubernetes.db.cloud_sql.operation_timeout_s if it is "
                                        "only slow") from None
        errors = (finished.get("error") or {}).get("errors") or []
        if errors:
            text = "; ".join(f"{e.get('code') or 'ERROR'}: {e.get('message') or 'no message'}" for e in errors)
            raise OperationFailed(f"Cloud SQL operation {name} ({what}) on {self.where()} failed: {text}",
                                  hint=f"gcloud sql operations describe {name} --project {self.project}")
        return finished

    def _start(self, request: Any, what: str, instance: str | None = None) -> tuple[dict[str, Any], float]:
        """Send a request that starts an operation (once: no retry), wait for it; (operation, seconds)."""
        started = time.monotonic()
        with translated(what, self.where(instance)):
            operation = request.execute(num_retries=0)
        return self.wait(operation, what), round(time.monotonic() - started, 3)

    # ---- changes -------------------------------------------------------------------------------
    def take_backup(self, description: str) -> dict[str, Any]:
        """``backupRuns.insert`` (an on-demand backup), waited for; the backup run it made."""
        request = self.service.backupRuns().insert(project=self.project, instance=self.instance,
                                                   body={"description": description})
        operation, took = self._start(request, "take an on-demand backup")
        run_id = (operation.get("backupContext") or {}).get("backupId")
        run = self.backup_run(str(run_id)) if run_id else self._described(description)
        if run is None or run.get("status") != "SUCCESSFUL":
            state = run.get("status") if run else "no backup run found"
            raise OperationFailed(f"Cloud SQL ({self.where()}): the on-demand backup finished but is not usable ({state})",
                                  hint=f"gcloud sql backups list --instance {self.instance} --project {self.project}")
        return {"run": run, "operation": operation.get("name"), "took_s": took}

    def failover(self) -> dict[str, Any]:
        """Manual failover of a high-availability (REGIONAL) primary to its standby, with the
        settingsVersion just read (the API refuses a stale one). The instance keeps its name and
        addresses. Refused before anything is sent unless the instance is REGIONAL and RUNNABLE."""
        before = self.get()
        settings = before.get("settings") or {}
        if settings.get("availabilityType") != "REGIONAL":
            raise UsageError(f"Cloud SQL ({self.where()}) is not highly available (availabilityType "
                             f"{settings.get('availabilityType') or 'unknown'}): it has no standby to fail over to; "
                             "nothing was touched",
                             hint="enable high availability (gcloud sql instances patch INSTANCE --availability-type "
                                  "REGIONAL), or name a read replica with failover: replica")
        self._runnable(before)
        body = {"failoverContext": {"kind": "sql#failoverContext", "settingsVersion": str(settings.get("settingsVersion"))}}
        request = self.service.instances().failover(project=self.project, instance=self.instance, body=body)
        operation, took = self._start(request, "fail over to the standby")
        after = self.get()
        return {"operation": operation.get("name"), "took_s": took, "zone_before": before.get("gceZone"),
                "zone_after": after.get("gceZone"), "settings_version": body["failoverContext"]["settingsVersion"],
                "addresses": addresses(after)}

    def promote_replica(self, replica: str) -> dict[str, Any]:
        """``instances.promoteReplica`` of a read replica of this instance: it becomes a primary of its
        own, with its own addresses. Refused before anything is sent unless ``replica`` is a read
        replica whose primary is this instance."""
        found = self.get(replica)
        if found.get("instanceType") != "READ_REPLICA_INSTANCE" or found.get("masterInstanceName") not in (
                self.instance, f"{self.project}:{self.instance}"):
            raise UsageError(f"Cloud SQL ({self.where(replica)}) is not a read replica of {self.instance} "
                             f"(instanceType {found.get('instanceType') or 'unknown'}, primary "
                             f"{found.get('masterInstanceName') or 'none'}); nothing was touched",
                             hint="name a read replica of the instance in kubernetes.db.cloud_sql.replica "
                                  f"(gcloud sql instances list --project {self.project})")
        self._runnable(found, replica)
        request = self.service.instances().promoteReplica(project=self.project, instance=replica)
        operation, took = self._start(request, f"promote read replica {replica}", replica)
        return {"operation": operation.get("name"), "took_s": took, "addresses": addresses(self.get(replica))}

    def clone_at(self, destination: str, moment: float, *, resume: bool = False) -> dict[str, Any]:
        """Point-in-time restore: ``instances.clone`` of this instance as it was at ``moment`` (epoch
        seconds) into a new instance ``destination``. Refused before anything is sent when point-in-time
        recovery is off, the moment is in the future or past the log retention, or ``destination``
        already exists. ``resume`` (an undo that may follow a crash or a failed check): when
        ``destination`` exists and a clone of this instance into it was started at or after ``moment``
        (:meth:`clone_operation`), that clone is waited for (``timeout_s``) or, done, taken as the
        result (``"resumed"``: its operation) instead of cloning again; refused, nothing sent, only when
        no such clone made it."""
        point = rfc3339(moment)
        if resume and self.exists(destination):
            found = self.clone_operation(destination, since=moment)
            if found is not None:
                started = time.monotonic()
                finished = self.wait(found, f"clone to {destination} (started {found.get('insertTime')})")
                return {"operation": finished.get("name"), "took_s": round(time.monotonic() - started, 3),
                        "point_in_time": point, **reachable(self.get(destination)), "resumed": finished.get("name")}
            raise UsageError(f"Cloud SQL ({self.where(destination)}) already exists and no clone of {self.instance} "
                             f"into it was started since {point} (operations.list), so it is not this restore's and a "
                             "point-in-time restore cannot clone into it; nothing was touched",
                             hint=f"delete it if it is an old restore (gcloud sql instances delete {destination} "
                                  f"--project {self.project}), or name another kubernetes.db.cloud_sql.restore_instance")
        self.check_clone(destination, moment)
        body = {"cloneContext": {"kind": "sql#cloneContext", "destinationInstanceName": destination, "pointInTime": point}}
        request = self.service.instances().clone(project=self.project, instance=self.instance, body=body)
        operation, took = self._start(request, f"clone to {destination} at {point}")
        return {"operation": operation.get("name"), "took_s": took, "point_in_time": point,
                **reachable(self.get(destination))}

    def check_clone(self, destination: str, moment: float) -> None:
        """What :meth:`clone_at` checks before it sends anything (reads only): a UsageError when
        point-in-time recovery is off, ``moment`` is in the future or past the log retention, or
        ``destination`` already exists."""
        source = self.get()
        backup = (source.get("settings") or {}).get("backupConfiguration") or {}
        if not (backup.get("binaryLogEnabled") or backup.get("pointInTimeRecoveryEnabled")):
            raise UsageError(f"Cloud SQL ({self.where()}) has point-in-time recovery off (no binary log); nothing was touched",
                             hint="enable it: gcloud sql instances patch INSTANCE --enable-bin-log "
                                  "(PostgreSQL: --enable-point-in-time-recovery)")
        now = time.time()
        if moment > now:
            raise UsageError(f"cannot restore Cloud SQL ({self.where()}) to {rfc3339(moment)}: that is in the future; "
                             "nothing was touched")
        days = int(backup.get("transactionLogRetentionDays") or 7)
        if moment < now - days * 86400:
            raise UsageError(f"cannot restore Cloud SQL ({self.where()}) to {rfc3339(moment)}: its logs are kept "
                             f"{days} days (transactionLogRetentionDays); nothing was touched",
                             hint="restore the newest backup before that moment instead")
        if self.exists(destination):
            raise UsageError(f"Cloud SQL ({self.where(destination)}) already exists, so a point-in-time restore cannot "
                             "clone into it; nothing was touched",
                             hint=f"delete it if it is an old restore (gcloud sql instances delete {destination} "
                                  f"--project {self.project}), or name another kubernetes.db.cloud_sql.restore_instance")

    def flag_catalog(self, database_version: str) -> dict[str, dict[str, Any]]:
        """``flags.list`` for ``database_version`` (``MYSQL_8_0``): every database flag Cloud SQL offers
        for it, by name, as the API describes it (``type``, ``allowedStringValues``, ``requiresRestart``,
        ...). Read once per version by this client."""
        if database_version not in self._flags:
            with translated(f"list the database flags of {database_version}", self.where()):
                listed = self.service.flags().list(databaseVersion=database_version).execute(num_retries=READ_RETRIES)
            self._flags[database_version] = {str(f.get("name")): f for f in listed.get("items") or [] if f.get("name")}
        return self._flags[database_version]

    def flag_restarts(self, flags: dict[str, str], database_version: str) -> dict[str, Any]:
        """Whether changing ``flags`` restarts an instance of ``database_version``, as ``flags.list``
        says for each (``requiresRestart``): ``{"required", "flags": {name: bool}, "source"}``. A flag
        the list does not offer for that version is refused (UsageError): nothing is assumed about it."""
        catalog = self.flag_catalog(database_version)
        unknown = sorted(n for n in flags if n not in catalog)
        if unknown:
            raise UsageError(f"Cloud SQL offers no database flag {', '.join(unknown)} for {database_version} "
                             f"(flags.list); nothing was touched",
                             hint=f"gcloud sql flags list --database-version={database_version} lists them")
        needs = {n: bool(catalog[n].get("requiresRestart")) for n in flags}
        return {"required": any(needs.values()), "flags": needs, "source": f"flags.list ({database_version})"}

    def wait_runnable(self, instances: list[str], what: str) -> float:
        """Seconds until every one of ``instances`` answers ``state: RUNNABLE`` (``instances.get``),
        within ``timeout_s``; DeadlineExceeded names the ones that did not."""
        started = time.monotonic()
        left = list(instances)

        def runnable() -> bool:
            left[:] = [name for name in left if self.get(name).get("state") != "RUNNABLE"]
            return not left

        try:
            wait_until(runnable, timeout=self.timeout_s, interval=self.poll_s,
                       what=f"Cloud SQL {', '.join(instances)} to be RUNNABLE again after {what}")
        except DeadlineExceeded as err:
            raise DeadlineExceeded(f"{err.message} (still not RUNNABLE: {', '.join(left)})",
                                   hint=f"gcloud sql instances describe {left[0] if left else ''} --project "
                                        f"{self.project}") from None
        return round(time.monotonic() - started, 3)

    def database_flags(self, instance: str | None = None) -> dict[str, str]:
        """The instance's database flags as ``{name: value}`` (``settings.databaseFlags``; a flag
        without a value, such as ``skip_show_database``, has the value "")."""
        found = self.get(instance)
        return {str(f.get("name")): str(f.get("value", "")) for f in (found.get("settings") or {}).get("databaseFlags") or []}

    def set_flags(self, flags: dict[str, str], instance: str | None = None) -> dict[str, Any]:
        """Set database flags with ``instances.patch``, keeping every other flag (the API replaces the
        whole ``databaseFlags`` list) and sending the ``settingsVersion`` just read (a concurrent
        change makes the API refuse rather than be overwritten); waited for. Idempotent: when every
        flag already has its value nothing is sent (``{"changed": False}``). Refused before anything
        is sent unless the instance is RUNNABLE, or when a flag is not in ``flags.list`` for its
        database version.

        Restart: Google's flag page says changing a flag may restart the instance, and a restarted
        primary restarts its replicas. Which flags do is read from ``flags.list`` (each flag's
        ``requiresRestart``, :meth:`flag_restarts`) before the patch, and said in ``restart``
        (``{"required", "flags", "source"}``). When one does, the patch's operation is the restart;
        then every replica the instance names (``replicaNames``) is waited for until RUNNABLE
        (``restart["replicas"]``, ``restart["replicas_runnable_s"]``)."""
        name = instance or self.instance
        found = self.get(name)
        settings = found.get("settings") or {}
        current = {str(f.get("name")): f for f in settings.get("databaseFlags") or []}
        changing = {n: v for n, v in flags.items() if not (n in current and str(current[n].get("value", "")) == v)}
        if not changing:
            return {"changed": False, "operation": None, "took_s": 0.0, "flags": self.database_flags(name),
                    "restart": {"required": False, "flags": {}, "source": "nothing was sent: every flag had its value"}}
        self._runnable(found, name)
        restart = self.flag_restarts(changing, str(found.get("databaseVersion") or "SQL_DATABASE_VERSION_UNSPECIFIED"))
        merged = {**{n: dict(f) for n, f in current.items()}, **{n: {"name": n, "value": v} for n, v in flags.items()}}
        body = {"settings": {"settingsVersion": str(settings.get("settingsVersion")),
                             "databaseFlags": list(merged.values())}}
        what = "set database flags " + ", ".join(f"{n}={v}" for n, v in flags.items())
        request = self.service.instances().patch(project=self.project, instance=name, body=body)
        operation, took = self._start(request, what, name)
        if restart["required"]:  # the operation restarted the instance; its replicas restart after it
            replicas = [str(r) for r in found.get("replicaNames") or []]
            restart.update(replicas=replicas, replicas_runnable_s=self.wait_runnable(replicas, what) if replicas else 0.0)
        return {"changed": True, "operation": operation.get("name"), "took_s": took, "flags": self.database_flags(name),
                "restart": restart}

    def clone_operation(self, destination: str, *, since: float) -> dict[str, Any] | None:
        """The newest ``CLONE`` operation of this instance (``operations.list`` filtered to it, newest
        first, at most 5 pages of 100) whose target is ``destination`` (``targetId``, or the end of
        ``targetLink``) and that was inserted at or after ``since`` (epoch seconds); None when there is
        none."""
        token = None
        for _page in range(5):
            with translated("list the operations", self.where()):
                page = self.service.operations().list(project=self.project, instance=self.instance, maxResults=100,
                                                      pageToken=token).execute(num_retries=READ_RETRIES)
            for op in page.get("items") or []:
                target_link = str(op.get("targetLink") or "")
                aimed = op.get("targetId") == destination or target_link.endswith(f"/instances/{destination}")
                if op.get("operationType") == "CLONE" and aimed and (epoch(op.get("insertTime")) or 0.0) >= since:
                    return op
            token = page.get("nextPageToken")
            if not token:
                return None
        return None

    def operations_in_progress(self, instance: str | None = None) -> list[dict[str, Any]]:
        """``operations.list`` of ``instance`` (newest first, one page of 20): those not DONE, as the
        API describes them (``name``, ``operationType``, ``status``, ``targetId``). The failover drill's
        playbook reads a failover or a stop still in progress here."""
        name = instance or self.instance
        with translated("list the operations", self.where(name)):
            page = self.service.operations().list(project=self.project, instance=name, maxResults=20).execute(
                num_retries=READ_RETRIES)
        return [op for op in page.get("items") or [] if op.get("status") != "DONE"]

    def set_activation_policy(self, policy: str, instance: str | None = None) -> dict[str, Any]:
        """Start (``ALWAYS``) or stop (``NEVER``: Google's "stop an instance"; not for a read replica)
        an instance with ``instances.patch`` of ``settings.activationPolicy`` and the settingsVersion
        just read, waited for. Refused before anything is sent unless it is RUNNABLE."""
        name = instance or self.instance
        found = self.get(name)
        self._runnable(found, name)
        body = {"settings": {"settingsVersion": str((found.get("settings") or {}).get("settingsVersion")),
                             "activationPolicy": policy}}
        request = self.service.instances().patch(project=self.project, instance=name, body=body)
        operation, took = self._start(request, f"set the activation policy to {policy}", name)
        return {"operation": operation.get("name"), "took_s": took, "activation_policy": policy}

    def _runnable(self, found: dict[str, Any], instance: str | None = None) -> None:
        if found.get("state") != "RUNNABLE":
            raise CloudSqlError(f"Cloud SQL ({self.where(instance)}) is {found.get('state') or 'in an unknown state'}, "
                                "not RUNNABLE; nothing was touched",
                                hint="wait until it is RUNNABLE (gcloud sql instances describe), then try again")


def reachable(instance: dict[str, Any]) -> dict[str, Any]:
    """How a client reaches an instance: ``{"addresses": addresses(instance), "server_ca": PEM or None}``
    (``serverCaCert.cert``: the CA of the instance's own server certificate, which a new instance such as
    a clone has its own of; :mod:`gameday.db_client` verifies the clone with it)."""
    return {"addresses": addresses(instance), "server_ca": (instance.get("serverCaCert") or {}).get("cert") or None}


def addresses(instance: dict[str, Any]) -> list[dict[str, str]]:
    """``[{"type": "PRIVATE", "ip": "10.20.0.7"}, ...]`` of an instance resource."""
    return [{"type": str(a.get("type") or ""), "ip": str(a.get("ipAddress") or "")}
            for a in instance.get("ipAddresses") or [] if a.get("ipAddress")]
