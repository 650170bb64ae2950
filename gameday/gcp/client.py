"""The one Cloud Monitoring client factory, and the one place API errors become actionable messages.

Credentials are taken by reference only, never from a file of ours:

- Application Default Credentials (``google.auth.default``): ``GOOGLE_APPLICATION_CREDENTIALS``
  pointing at a key file, ``gcloud auth application-default login`` on a workstation, or the
  GKE metadata server under Workload Identity (the in-cluster CronJob).
- ``GAMEDAY_MONITORING_ENDPOINT=127.0.0.1:PORT`` instead: a plaintext gRPC MetricService on
  loopback (the test suite's local server). No credentials are used then.

Usage::

    mon = Monitoring("sps-staging")                 # or Monitoring(project, client=metric_client(addr))
    series = mon.list_time_series(filter_, start, end, aggregation={...})
    mon.create_time_series(batch)                   # errors come back as GcpError with a hint
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..errors import GamedayError, UsageError

ENDPOINT_ENV = "GAMEDAY_MONITORING_ENDPOINT"
SCOPES = ["https://www.googleapis.com/auth/monitoring"]
CREDENTIALS_HINT = ("set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, run "
                    "`gcloud auth application-default login`, or run in GKE with Workload Identity")


class GcpError(GamedayError):
    """Cloud Monitoring refused or could not answer; the message names the fix."""


def _check_loopback(endpoint: str) -> None:
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or ":" not in endpoint:
        raise UsageError(f"{ENDPOINT_ENV}={endpoint!r}: a plaintext endpoint must be a loopback host:port",
                         hint="it is for local test servers (127.0.0.1:PORT); unset it to reach Google Cloud")


def default_credentials(scopes: list[str] = SCOPES, *, service: str = "") -> Any:
    """Application Default Credentials for ``scopes``, or a UsageError saying how to provide them
    (naming ``service``, e.g. "Cloud SQL", when given)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _project = google.auth.default(scopes=scopes)
    except DefaultCredentialsError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "none found"
        what = f" for {service}" if service else ""
        raise UsageError(f"no usable Google credentials{what} ({first})", hint=CREDENTIALS_HINT) from None
    return credentials


def check_loopback_url(env_var: str, endpoint: str, *, path: str = "") -> None:
    """A UsageError unless ``endpoint`` (from ``env_var``) is ``http://<loopback address>:PORT<path>``:
    the plain-HTTP endpoints of the REST clients (Cloud SQL, Cloud DNS) are for local test servers only."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
        loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        parts, port, loopback = urlsplit(""), None, False
    if parts.scheme != "http" or not loopback or not port:
        raise UsageError(f"{env_var}={endpoint!r}: a plaintext endpoint must be http://<loopback address>:PORT{path}",
                         hint=f"it is for local test servers (http://127.0.0.1:PORT{path}); unset it to reach Google Cloud")


def discovery_service(api: str, version: str, *, endpoint_env: str, endpoint: str | None, scopes: list[str],
                      service: str, timeout_s: float = 30.0, credentials: Any = None) -> Any:
    """A ``googleapiclient`` Resource for ``api`` ``version`` from the discovery document shipped in the
    package: plain HTTP to ``endpoint`` (or ``$<endpoint_env>``, loopback only) with anonymous credentials
    when given, else Google Cloud with Application Default Credentials for ``scopes`` (``service`` names it
    in the error when there are none); ``credentials`` overrides either. Each HTTP request gives up after
    ``timeout_s`` seconds. Used by :func:`gameday.gcp.cloudsql.sqladmin` and :func:`gameday.gcp.cdn.compute`."""
    import google_auth_httplib2
    import httplib2
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    endpoint = endpoint or os.environ.get(endpoint_env)
    options: dict[str, Any] = {}
    if endpoint:
        check_loopback_url(endpoint_env, endpoint, path="/")
        options["api_endpoint"] = endpoint if endpoint.endswith("/") else endpoint + "/"
    if credentials is None:
        credentials = AnonymousCredentials() if endpoint else default_credentials(scopes, service=service)
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout_s))
    return build(api, version, http=http, client_options=options or None, static_discovery=True,
                 cache_discovery=False)


def metric_client(endpoint: str | None = None) -> Any:
    """A ``MetricServiceClient``: plaintext to ``endpoint`` (or ``$GAMEDAY_MONITORING_ENDPOINT``) when
    given, else Google Cloud with Application Default Credentials."""
    import grpc
    from google.cloud.monitoring_v3 import MetricServiceClient
    from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

    endpoint = endpoint or os.environ.get(ENDPOINT_ENV)
    if endpoint:
        _check_loopback(endpoint)
        return MetricServiceClient(transport=MetricServiceGrpcTransport(channel=grpc.insecure_channel(endpoint)))
    return MetricServiceClient(credentials=default_credentials())


@contextlib.contextmanager
def translated(what: str, project: str) -> Iterator[None]:
    """Turn a Google API error raised inside the block into one GcpError line naming the fix."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except gexc.RetryError as err:
        cause = err.cause if isinstance(err.cause, gexc.GoogleAPICallError) else None
        raise _message(what, project, cause) from None
    except gexc.GoogleAPICallError as err:
        raise _message(what, project, err) from None


def _message(what: str, project: str, err: Any) -> GamedayError:
    from google.api_core import exceptions as gexc

    detail = getattr(err, "message", None) or "no answer"
    where = f"Cloud Monitoring (project {project})"
    if err is None or isinstance(err, (gexc.ServiceUnavailable, gexc.DeadlineExceeded)):
        return GcpError(f"{where} is unavailable: could not {what} ({detail})",
                        hint="check the network path to monitoring.googleapis.com and try again in a minute")
    if isinstance(err, gexc.PermissionDenied):
        role = "roles/monitoring.metricWriter" if what.startswith(("write", "create")) else "roles/monitoring.viewer"
        return GcpError(f"{where} denied permission to {what} ({detail})",
                        hint=f"grant the caller's service account {role} on project {project}, or check the project id")
    if isinstance(err, gexc.Unauthenticated):
        return UsageError(f"{where} rejected the credentials while trying to {what} ({detail})", hint=CREDENTIALS_HINT)
    if isinstance(err, gexc.ResourceExhausted):
        return GcpError(f"{where} quota exhausted: could not {what} ({detail})",
                        hint="wait a minute and retry, poll less often (poll_s), or raise the Monitoring API quota "
                             "for the project")
    if isinstance(err, gexc.NotFound):
        return UsageError(f"{where} has no such resource: could not {what} ({detail})",
                          hint="check the project id (gcloud projects list) and the names in the environment file")
    if isinstance(err, gexc.InvalidArgument) and "written in order" in detail:
        return GcpError(f"{where} already holds newer or equal points: could not {what} ({detail})",
                        hint="this report (or a later one) was exported already; export each game day once")
    if isinstance(err, gexc.InvalidArgument):
        return GcpError(f"{where} rejected the request: could not {what} ({detail})",
                        hint="this is a bug in gameday's request; report it with this message")
    return GcpError(f"{where} failed: could not {what} ({type(err).__name__}: {detail})")


class Monitoring:
    """One project's MetricService, with bounded retries for reads and errors translated.

    ``retry_s`` bounds how long reads retry an unavailable service; writes are not retried (a
    retried half-written batch would collide with its own points)."""

    def __init__(self, project: str, client: Any = None, *, retry_s: float = 30.0, timeout_s: float = 30.0):
        if not project or not isinstance(project, str):
            raise UsageError("a Google Cloud project id is needed", hint="pass --project or set cloud_monitoring.project")
        self.project = project
        self.client = client if client is not None else metric_client()
        self.retry_s = retry_s
        self.timeout_s = timeout_s

    @property
    def name(self) -> str:
        return f"projects/{self.project}"

    def _read_retry(self) -> Any:
        from google.api_core import exceptions as gexc
        from google.api_core import retry as retries

        return retries.Retry(initial=0.2, maximum=5.0, multiplier=2.0, timeout=self.retry_s,
                             predicate=retries.if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded))

    def list_time_series(self, filter_: str, start: float, end: float,
                         aggregation: dict[str, Any] | None = None) -> list[Any]:
        """Every time series (with its points) matching ``filter_`` whose points end in [start, end]."""
        from google.cloud.monitoring_v3 import ListTimeSeriesRequest

        request = {"name": self.name, "filter": filter_, "interval": {"start_time": _ts(start), "end_time": _ts(end)},
                   "view": ListTimeSeriesRequest.TimeSeriesView.FULL}
        if aggregation:
            request["aggregation"] = aggregation
        with translated("read time series", self.project):
            return list(self.client.list_time_series(request=request, retry=self._read_retry(), timeout=self.timeout_s))

    def metric_types(self, prefix: str) -> set[str]:
        """The metric descriptor types that start with ``prefix``."""
        request = {"name": self.name, "filter": f'metric.type = starts_with("{prefix}")'}
        with translated("list metric descriptors", self.project):
            return {d.type for d in self.client.list_metric_descriptors(
                request=request, retry=self._read_retry(), timeout=self.timeout_s)}

    def create_metric_descriptor(self, descriptor: Any) -> None:
        with translated(f"create metric descriptor {descriptor.type}", self.project):
            self.client.create_metric_descriptor(name=self.name, metric_descriptor=descriptor, retry=None,
                                                 timeout=self.timeout_s)

    def create_time_series(self, series: list[Any]) -> None:
        with translated(f"write {len(series)} time series", self.project):
            self.client.create_time_series(name=self.name, time_series=series, retry=None, timeout=self.timeout_s)


def _ts(t: float) -> dict[str, int]:
    seconds = int(t)
    return {"seconds": seconds, "nanos": int(round((t - seconds) * 1e9)) % 1_000_000_000}
