"""Cloud CDN's cached pages invalidated through Google's official Compute Engine client
(``google-api-python-client``, API ``compute`` v1, its discovery document shipped inside the package:
nothing is fetched to build it). The GKE side of the playbooks' ``flush-site-caches`` step: after a
point-in-time restore, a database failover or a region promotion, Cloud CDN may still serve what the
old database said (an environment's ``cloud_cdn`` block; :mod:`gameday.schema.environment`).

Credentials are taken by reference only, as for the other Google clients (:mod:`gameday.gcp.client`):
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
application-default login``, or Workload Identity in GKE), scope ``compute``. Or
``GAMEDAY_COMPUTE_ENDPOINT=http://127.0.0.1:PORT/compute/v1/``: a plaintext Compute Engine REST server on loopback
(its base URL, as Google's is https://compute.googleapis.com/compute/v1/)
(the test suite's local server), reached with anonymous credentials.

Usage::

    cdn = CloudCdn.from_settings(env.cloud_cdn, env.cloud_monitoring)   # project, url_map, path, host
    cdn.invalidate()
    # {"kind": "cloud-cdn", "url_map": ..., "path": "/*", "host": None, "operation": "operation-...",
    #  "invalidated": True, "seconds": 41.2}

``invalidate`` sends ``urlMaps.invalidateCache`` once (no retry: it is not idempotent in cost, and
Google rate-limits invalidations), then polls the global operation until it is DONE, within
``timeout_s`` (default 240 s, at most 600; invalidations usually finish within a minute or two; a
playbook step's time left bounds it too); one still running
at the deadline raises ``DeadlineExceeded`` naming it (it goes on at Google). API errors become one
:class:`CdnError` line (or UsageError, for what the user must fix) naming the url map and the fix.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any, Iterator

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from .client import CREDENTIALS_HINT, discovery_service

ENDPOINT_ENV = "GAMEDAY_COMPUTE_ENDPOINT"
SCOPES = ["https://www.googleapis.com/auth/compute"]
DEFAULT_PATH = "/*"
DEFAULT_TIMEOUT_S = 240.0
READ_RETRIES = 2  # googleapiclient retries 5xx / 429 / a dropped connection with back-off; reads only


class CdnError(GamedayError):
    """Cloud CDN (the Compute Engine API) refused or could not answer; the message names the fix."""


def compute(endpoint: str | None = None, *, timeout_s: float = 30.0, credentials: Any = None) -> Any:
    """The Compute Engine v1 service (a ``googleapiclient`` Resource): plain HTTP to ``endpoint`` (or
    ``$GAMEDAY_COMPUTE_ENDPOINT``) with anonymous credentials when given, else Google Cloud with
    Application Default Credentials. Each HTTP request gives up after ``timeout_s`` seconds."""
    return discovery_service("compute", "v1", endpoint_env=ENDPOINT_ENV, endpoint=endpoint, scopes=SCOPES,
                             service="Cloud CDN", timeout_s=timeout_s, credentials=credentials)


@contextlib.contextmanager
def translated(what: str, url_map: str) -> Iterator[None]:
    """Turn an error of the client raised inside the block into one CdnError (or UsageError, for what
    the user must fix) naming ``what`` was tried on ``url_map`` and the fix."""
    import httplib2
    from google.auth import exceptions as auth_errors
    from googleapiclient.errors import HttpError

    head = f"Cloud CDN (url map {url_map})"
    try:
        yield
    except HttpError as err:
        raise _http_message(head, what, err) from None
    except auth_errors.RefreshError as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UsageError(f"Google refused a token for {head} while trying to {what} ({first})",
                         hint=CREDENTIALS_HINT) from None
    except auth_errors.TransportError as err:
        raise CdnError(f"Google's token service did not answer while trying to {what} on {head} ({type(err).__name__})",
                       hint="check the network path to oauth2.googleapis.com (or the GKE metadata server)") from None
    except (httplib2.HttpLib2Error, socket.timeout, OSError) as err:
        raise CdnError(f"the Compute Engine API did not answer while trying to {what} on {head} "
                       f"({type(err).__name__}: {err})",
                       hint="check the network path to compute.googleapis.com and try again in a minute") from None


def _http_message(head: str, what: str, err: Any) -> GamedayError:
    status = int(getattr(err.resp, "status", 0) or 0)
    detail = (getattr(err, "reason", None) or "").strip() or f"HTTP {status}"
    if status == 401:
        return UsageError(f"{head} rejected the credentials while trying to {what} ({detail})", hint=CREDENTIALS_HINT)
    if status == 403:
        return CdnError(f"{head} denied permission to {what} ({detail})",
                        hint="grant the caller's service account compute.urlMaps.invalidateCache and "
                             "compute.globalOperations.get (roles/compute.loadBalancerAdmin has both), or check the "
                             "project id")
    if status == 404:
        return UsageError(f"{head}: no such url map or operation: could not {what} ({detail})",
                          hint="check cloud_cdn.url_map and its project in the environment file (gcloud compute "
                               "url-maps list --project PROJECT); following an operation, it may have expired")
    if status == 429:
        return CdnError(f"{head}: invalidations are rate-limited: could not {what} ({detail})",
                        hint="wait a minute and run the step again (gameday playbook ... --apply)")
    if status >= 500 or status == 0:
        return CdnError(f"{head}: the Compute Engine API is unavailable: could not {what} ({detail})",
                        hint="try again in a minute; https://status.cloud.google.com shows incidents")
    return CdnError(f"{head} rejected the request to {what} ({status}: {detail})",
                    hint="check cloud_cdn.path (a path starting with /, * only at its end) and cloud_cdn.host")


@dataclass(frozen=True)
class CloudCdn:
    """One load balancer's Cloud CDN: its url map, what to invalidate, how long to wait."""

    project: str
    url_map: str
    path: str = DEFAULT_PATH
    host: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    poll_s: float = 2.0

    @classmethod
    def from_settings(cls, cloud_cdn: dict[str, Any], cloud_monitoring: dict[str, Any] | None = None) -> "CloudCdn":
        """From an environment's ``cloud_cdn`` block; its project and url map default to the
        ``cloud_monitoring`` block's (the same load balancer)."""
        mon = cloud_monitoring or {}
        project, url_map = cloud_cdn.get("project") or mon.get("project"), cloud_cdn.get("url_map") or mon.get("url_map")
        missing = [k for k, v in (("project", project), ("url_map", url_map)) if not v]
        if missing:
            raise UsageError(f"cloud_cdn: {' and '.join(missing)} not given (nor in cloud_monitoring)",
                             hint="name the load balancer's url map: gcloud compute url-maps list --project PROJECT")
        return cls(project=str(project), url_map=str(url_map), path=str(cloud_cdn.get("path") or DEFAULT_PATH),
                   host=cloud_cdn.get("host"), timeout_s=float(cloud_cdn.get("timeout_s") or DEFAULT_TIMEOUT_S))

    def describe(self) -> str:
        """What :meth:`invalidate` would clear, in words (a dry run's plan)."""
        on = f" on host {self.host}" if self.host else ""
        return f"Cloud CDN's cached {self.path}{on} (url map {self.url_map}, project {self.project})"

    def invalidate(self, *, service: Any = None, timeout_s: float | None = None) -> dict[str, Any]:
        """Invalidate :attr:`path` (and :attr:`host`) and wait until Google says it is done, up to
        :attr:`timeout_s` or ``timeout_s`` (a playbook step's time left), the shorter; what was done."""
        service = service or compute()
        body: dict[str, Any] = {"path": self.path}
        if self.host:
            body["host"] = self.host
        started = time.monotonic()
        with translated(f"invalidate {self.path}", self.url_map):
            operation = service.urlMaps().invalidateCache(project=self.project, urlMap=self.url_map,
                                                          body=body).execute(num_retries=0)
        wait_s = self.timeout_s if timeout_s is None else max(0.0, min(self.timeout_s, timeout_s))
        finished = self._wait(service, operation, wait_s)
        return {"kind": "cloud-cdn", "url_map": self.url_map, "project": self.project, "path": self.path,
                "host": self.host, "operation": finished.get("name"), "invalidated": True,
                "seconds": round(time.monotonic() - started, 3)}

    def _wait(self, service: Any, operation: dict[str, Any], wait_s: float) -> dict[str, Any]:
        name = operation.get("name")
        if not name:
            raise CdnError(f"Cloud CDN (url map {self.url_map}) started an invalidation but sent no operation to follow")
        last = {"op": operation}

        def done() -> dict[str, Any] | None:
            if last["op"].get("status") == "DONE":
                return last["op"]
            with translated(f"follow the invalidation {name}", self.url_map):
                last["op"] = service.globalOperations().get(project=self.project, operation=name).execute(
                    num_retries=READ_RETRIES)
            return last["op"] if last["op"].get("status") == "DONE" else None

        try:
            finished = wait_until(done, timeout=wait_s, interval=self.poll_s,
                                  what=f"Cloud CDN invalidation {name} of {self.path} (url map {self.url_map}) to finish")
        except DeadlineExceeded as err:
            raise DeadlineExceeded(f"{err.message} (last status {last['op'].get('status') or 'unknown'}); readers may "
                                   "still be served cached pages until it does",
                                   hint=f"it goes on at Google: gcloud compute operations describe {name} --global "
                                        f"--project {self.project}; raise cloud_cdn.timeout_s (at most 600) if it is "
                                        "only slow") from None
        errors = (finished.get("error") or {}).get("errors") or []
        if errors:
            text = "; ".join(f"{e.get('code') or 'ERROR'}: {e.get('message') or 'no message'}" for e in errors)
            raise CdnError(f"Cloud CDN invalidation {name} of {self.path} (url map {self.url_map}) failed: {text}",
                           hint=f"gcloud compute operations describe {name} --global --project {self.project}")
        return finished
