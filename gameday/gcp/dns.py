"""The regions' front on Cloud DNS, through Google's official client (``google-cloud-dns``): one
record set whose data says which region readers are sent to (an environment's ``regions.front``
with ``kind: cloud-dns``; :mod:`gameday.schema.regions`).

Credentials are taken by reference only, as for the other Google clients (:mod:`gameday.gcp.client`):
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
application-default login``, or Workload Identity in GKE), scope ``ndev.clouddns.readwrite``. Or
``GAMEDAY_CLOUDDNS_ENDPOINT=http://127.0.0.1:PORT``: a plaintext Cloud DNS v1 REST server on loopback
(the test suite's local server), reached with anonymous credentials.

Usage::

    front = env.regions["front"]          # {kind: cloud-dns, project, managed_zone, record, type, ttl, targets}
    current(front)                        # {"record", "type", "rrdatas", "region": "europe-west2" (or None)}
    switch(front, "europe-west1")         # {"from": "europe-west2", "to": "europe-west1", "change_id", "seconds"}

``switch`` sends one Change (the record set as it is now deleted, the region's added: Cloud DNS
applies both or neither, and refuses the change if the record moved meanwhile), then polls the
change until its status is ``done``, within ``front.timeout_s`` (default 300 s; each request is also
bounded by the client's own 60 s). API errors become one :class:`DnsError` (or UsageError, for what
the user must fix) naming the project, zone and record and the fix.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Iterator

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from .client import CREDENTIALS_HINT, check_loopback_url, default_credentials

ENDPOINT_ENV = "GAMEDAY_CLOUDDNS_ENDPOINT"
SCOPES = ["https://www.googleapis.com/auth/ndev.clouddns.readwrite"]
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_POLL_S = 1.0
MAX_PAGES = 20  # the record sets listed are filtered by name: one page, unless the zone misbehaves


class DnsError(GamedayError):
    """Cloud DNS refused or could not answer; the message names the fix."""


# ---- the client ----------------------------------------------------------------------------------

def dns_client(project: str, endpoint: str | None = None, *, credentials: Any = None) -> Any:
    """A ``google.cloud.dns.Client`` for ``project``: plain HTTP to ``endpoint`` (or
    ``$GAMEDAY_CLOUDDNS_ENDPOINT``) with anonymous credentials when given, else Google Cloud with
    Application Default Credentials; ``credentials`` overrides either."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import dns

    endpoint = endpoint or os.environ.get(ENDPOINT_ENV)
    options = None
    if endpoint:
        check_loopback_url(ENDPOINT_ENV, endpoint)
        options = {"api_endpoint": endpoint.rstrip("/")}
    if credentials is None:
        credentials = AnonymousCredentials() if endpoint else default_credentials(SCOPES, service="Cloud DNS")
    return dns.Client(project=project, credentials=credentials, client_options=options)


def where(front: dict[str, Any]) -> str:
    return f"project {front.get('project')}, zone {front.get('managed_zone')}, record {front.get('record')} " \
           f"({front.get('type')})"


@contextlib.contextmanager
def translated(what: str, front: dict[str, Any]) -> Iterator[None]:
    """Turn an error of the Cloud DNS client raised inside the block into one DnsError (or
    UsageError) naming ``what`` was tried on the front's record and the fix."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_errors

    try:
        yield
    except gexc.GoogleAPICallError as err:
        raise _api_message(what, front, err) from None
    except auth_errors.RefreshError as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UsageError(f"Google refused a token for Cloud DNS while trying to {what} on {where(front)} ({first})",
                         hint=CREDENTIALS_HINT) from None
    except auth_errors.TransportError as err:
        raise DnsError(f"Google's token service did not answer while trying to {what} on {where(front)} "
                       f"({type(err).__name__})",
                       hint="check the network path to oauth2.googleapis.com (or the GKE metadata server)") from None
    except (requests.RequestException, OSError) as err:
        raise DnsError(f"Cloud DNS did not answer while trying to {what} on {where(front)} ({type(err).__name__})",
                       hint="check the network path to dns.googleapis.com and try again in a minute") from None


def _api_message(what: str, front: dict[str, Any], err: Any) -> GamedayError:
    status = int(getattr(err, "code", 0) or 0)
    detail = (getattr(err, "message", None) or "").strip()[:300] or f"HTTP {status}"
    head = f"Cloud DNS ({where(front)})"
    zone, project = front.get("managed_zone"), front.get("project")
    if status == 401:
        return UsageError(f"{head} rejected the credentials while trying to {what} ({detail})", hint=CREDENTIALS_HINT)
    if status == 403:
        return DnsError(f"{head} denied permission to {what} ({detail})",
                        hint=f"grant the caller's service account roles/dns.admin on project {project} (roles/dns.reader "
                             "to read only), or check the project id")
    if status == 404:
        return UsageError(f"{head} has no such zone, record or change: could not {what} ({detail})",
                          hint=f"check regions.front.project and .managed_zone (gcloud dns managed-zones list "
                               f"--project {project}) and the record (gcloud dns record-sets list --zone {zone})")
    if status in (409, 412):
        return DnsError(f"{head} refused to {what}: the record changed meanwhile ({detail})",
                        hint=f"someone else changed it; look (gcloud dns record-sets list --zone {zone} --project "
                             f"{project}), then switch again")
    if status == 429:
        return DnsError(f"{head} quota exhausted: could not {what} ({detail})",
                        hint="wait a minute and retry, or raise the Cloud DNS API quota")
    if status >= 500 or status == 0:
        return DnsError(f"{head} is unavailable: could not {what} ({detail})",
                        hint="try again in a minute; https://status.cloud.google.com shows Cloud DNS incidents")
    return DnsError(f"{head} rejected the request to {what} ({status}: {detail})",
                    hint="check regions.front in the environment file against the zone (gcloud dns record-sets list)")


# ---- the record ----------------------------------------------------------------------------------

def _same(a: list[str], b: list[str]) -> bool:
    return sorted(a) == sorted(b)


def region_of(front: dict[str, Any], rrdatas: list[str]) -> str | None:
    """The region whose ``targets`` data is ``rrdatas`` (in any order), or None."""
    return next((r for r, data in (front.get("targets") or {}).items() if _same(list(data), rrdatas)), None)


def _record_set(front: dict[str, Any], client: Any) -> Any:
    """The front's record set (``ResourceRecordSet``) as Cloud DNS holds it, or a UsageError saying
    how to create it (naming the types the name has instead, if any)."""
    zone = client.zone(front["managed_zone"])
    found = []
    with translated("read the record", front):
        pages = zone.list_resource_record_sets()
        pages.extra_params = {"name": front["record"]}  # the API's own filter: only this name's record sets
        for number, page in enumerate(pages.pages):
            if number >= MAX_PAGES:
                break
            found += [rs for rs in page if rs.name == front["record"]]
    match = [rs for rs in found if rs.record_type == front["type"]]
    if match:
        return match[0]
    others = sorted({rs.record_type for rs in found})
    example = next(iter((front.get("targets") or {}).values()), ["DATA"])
    raise UsageError(f"Cloud DNS ({where(front)}) has no {front['type']} record {front['record']}"
                     + (f" (it has {', '.join(others)})" if others else ""),
                     hint=f"create it (gcloud dns record-sets create {front['record']} --zone {front['managed_zone']} "
                          f"--project {front['project']} --type {front['type']} --ttl {front.get('ttl', 60)} "
                          f"--rrdatas {','.join(example)}), or correct regions.front.record / .type")


def current(front: dict[str, Any], *, client: Any = None) -> dict[str, Any]:
    """The front's record as Cloud DNS holds it: ``{"record", "type", "ttl", "rrdatas", "region"}``,
    ``region`` being the region whose ``targets`` match (None: the record points elsewhere). Reads only."""
    client = client if client is not None else dns_client(front["project"])
    rs = _record_set(front, client)
    rrdatas = list(rs.rrdatas)
    return {"record": rs.name, "type": rs.record_type, "ttl": rs.ttl, "rrdatas": rrdatas,
            "region": region_of(front, rrdatas)}


def switch(front: dict[str, Any], region: str, *, client: Any = None) -> dict[str, Any]:
    """Point the front's record at ``region`` (its ``targets`` data, the front's ``ttl``): one Change,
    the current record set deleted and the region's added, waited for until ``done``. Returns
    ``{"from": region or None, "to": region, "change_id": id or None (nothing to change), "seconds"}``.
    Raises UsageError for an unknown region or a missing record, DeadlineExceeded for a change still
    pending at ``timeout_s`` (it goes on at Google), DnsError for what Cloud DNS refused."""
    targets = front.get("targets") or {}
    if region not in targets:
        raise UsageError(f"Cloud DNS front ({where(front)}) has no target for region {region!r}",
                         hint=f"its regions are {', '.join(targets) or 'none'} (regions.front.targets)")
    client = client if client is not None else dns_client(front["project"])
    started = time.monotonic()
    rs = _record_set(front, client)
    before = region_of(front, list(rs.rrdatas))
    wanted = list(targets[region])
    ttl = int(front.get("ttl", rs.ttl))
    if _same(list(rs.rrdatas), wanted) and rs.ttl == ttl:
        return {"from": before, "to": region, "change_id": None, "seconds": round(time.monotonic() - started, 3)}
    zone = rs.zone
    change = zone.changes()
    change.delete_record_set(zone.resource_record_set(rs.name, rs.record_type, rs.ttl, list(rs.rrdatas)))
    change.add_record_set(zone.resource_record_set(rs.name, rs.record_type, ttl, wanted))
    with translated(f"switch the record to region {region}", front):
        change.create()
    _wait(change, front, region)
    return {"from": before, "to": region, "change_id": change.name, "seconds": round(time.monotonic() - started, 3)}


def _wait(change: Any, front: dict[str, Any], region: str) -> None:
    """Poll the change until Cloud DNS says ``done``, within the front's ``timeout_s``."""
    timeout = float(front.get("timeout_s") or DEFAULT_TIMEOUT_S)
    interval = float(front.get("poll_s") or DEFAULT_POLL_S)

    def done() -> bool:
        if change.status == "done":
            return True
        with translated(f"follow change {change.name} (to region {region})", front):
            change.reload()
        return change.status == "done"

    try:
        wait_until(done, timeout=timeout, interval=interval,
                   what=f"Cloud DNS change {change.name} ({where(front)}, to region {region}) to be done")
    except DeadlineExceeded as err:
        raise DeadlineExceeded(f"{err.message} (last status {change.status or 'unknown'})",
                               hint=f"it goes on at Google: gcloud dns record-sets changes describe {change.name} "
                                    f"--zone {front['managed_zone']} --project {front['project']}; raise "
                                    "regions.front.timeout_s if it is only slow") from None
