"""The twin's search snapshots on a schedule: one supervised member, ``search-snapshot-1``.

It snapshots the site's index (``content``) into the snapshot repository ``gameday-fs`` (registered
by the bootstrap job, outside every node's data) every ``interval_s``, keeps the newest ``keep`` of
its own snapshots (named ``scheduled-...``) and deletes the older ones; a drill's snapshots (a lost
index's ``gameday-before-loss-...``, which its undo restores) are never pruned. The interval counts
from the newest successful snapshot of the index, whoever took it, so the first one is taken as soon
as the member starts on a twin that has none (before ``sandbox up`` returns: the member starts after
the bootstrap job, while the web tier starts) and a restart does not pile snapshots up. It never
snapshots an impostor (an index re-created by automatic index creation after a loss,
:mod:`gameday.search_index`): the search playbook restores the newest snapshot. It reaches the nodes
as the twin's other members do: HTTPS verified by the twin's CA, user ``elastic`` with the password
read from the twin's 0600 secrets file (never in argv, the environment or a log)::

    topology.workloads.append(workload(twin))
    ensure(twin)                         # at up: the settings file from the environment or the defaults
    configure(twin, interval_s=10)       # at run time; applies within schedule.POLL_S
    status(twin)                         # {"interval_s", "keep", "count", "newest": {...} | None, "last", "error"?}
    take(api); prune(api, keep=3)        # what the member runs each interval

Settings (``<state>/data/search-snapshot-schedule.json``, no secrets): ``GAMEDAY_SEARCH_SNAPSHOT_INTERVAL_S``
and ``GAMEDAY_SEARCH_SNAPSHOT_KEEP`` when the twin is brought up (kept from then on), else half the
search layer's backup age limit in targets.yaml (``backup_age_s`` 86400 s: every 12 h) and 3. Each
attempt's outcome is in ``search-snapshot-state.json`` and the member's log. On GKE the platform
takes the snapshots (ECK's snapshot lifecycle policy, or OpenSearch snapshot management); the
Kubernetes twin does it as such a platform would, with the same loop as Deployment
``search-snapshot`` in namespace ``gameday`` (:mod:`gameday.kube.schedules`), so that preflight there
reads a recent snapshot through the search API, the code it runs on GKE.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from typing import Any

from ..errors import GamedayError
from ..search_admin import SearchAdmin
from ..search_index import impostor_reason
from . import schedule
from .schedule import Settings
from .spec import Workload
from .twin import CONTENT_INDEX, SEARCH_USER, SNAPSHOT_REPOSITORY

NAME = "search-snapshot-1"
WORKLOAD = "search-snapshot"
ENV_INTERVAL = "GAMEDAY_SEARCH_SNAPSHOT_INTERVAL_S"
ENV_KEEP = "GAMEDAY_SEARCH_SNAPSHOT_KEEP"
DEFAULT_INTERVAL_S = 3600.0  # when the search layer's backup age limit is 0 or targets.yaml is unreadable
PREFIX = "scheduled-"  # this member's snapshots: the only ones it prunes
SNAPSHOT_TIMEOUT_S = 120.0  # one snapshot of the content index (a second or two on the twin)
LIST_TIMEOUT_S = 10.0
PASSWORD_ENV = "GAMEDAY_SEARCH_PASSWORD"  # the Kubernetes twin's pod: from the Secret (gameday.kube.schedules)
SCHEDULE = schedule.Schedule(layer="search", stem="search-snapshot", env_interval=ENV_INTERVAL, env_keep=ENV_KEEP,
                             fallback_interval_s=DEFAULT_INTERVAL_S)


def load(twin) -> Settings:
    """The recorded settings, or the defaults when none are recorded."""
    return SCHEDULE.load(twin)


def ensure(twin) -> Settings:
    """At ``up``: the settings file exists, with the environment's values where they are set."""
    return SCHEDULE.ensure(twin)


def configure(twin, *, interval_s: float | None = None, keep: int | None = None) -> Settings:
    """Change the schedule at run time; the member applies it within :data:`gameday.sandbox.schedule.POLL_S`."""
    return SCHEDULE.configure(twin, interval_s=interval_s, keep=keep)


def admin(twin, timeout: float = LIST_TIMEOUT_S) -> SearchAdmin:
    """The twin's search nodes, as its other members reach them (the twin's CA, user ``elastic``):
    the password from :data:`PASSWORD_ENV` when it is set (the Kubernetes twin's pod reads it from
    the Secret ``search-es-elastic-user``, as ECK's pods do), else from the twin's 0600 secrets file."""
    password = os.environ.get(PASSWORD_ENV)
    auth = (SEARCH_USER, password) if password else twin.search_auth()
    return SearchAdmin(twin.search_urls(), auth=auth, verify=twin.search_ca(), timeout=timeout)


# ---- which snapshots (pure: the answer of GET _snapshot/<repository>/_all) ----------------------------

def snapshot_name(now: float) -> str:
    """``scheduled-20261205-101500-123`` (UTC; snapshot names are lower case)."""
    return f"{PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{int(now * 1000) % 1000:03d}"


def newest(snapshots: list[dict[str, Any]], index: str = CONTENT_INDEX) -> dict[str, Any] | None:
    """The newest successful snapshot holding ``index``, whoever took it: ``{"id", "at" (its end,
    epoch seconds), "scheduled"}``, or None. A partial or failed snapshot is no backup."""
    done = [s for s in snapshots if s.get("state") == "SUCCESS" and index in s.get("indices", [])
            and isinstance(s.get("end_time_in_millis"), (int, float))]
    if not done:
        return None
    best = max(done, key=lambda s: s["end_time_in_millis"])
    return {"id": best["snapshot"], "at": best["end_time_in_millis"] / 1000.0,
            "scheduled": str(best["snapshot"]).startswith(PREFIX)}


def ours(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This member's snapshots, oldest first."""
    return sorted((s for s in snapshots if str(s.get("snapshot", "")).startswith(PREFIX)),
                  key=lambda s: s.get("start_time_in_millis", 0))


def to_prune(snapshots: list[dict[str, Any]], keep: int) -> list[str]:
    """This member's snapshots to delete: every one but the newest ``keep`` successful ones (a failed
    or partial one at once), never one still in progress, never another's."""
    if keep < 1:
        raise GamedayError(f"keep must be >= 1, not {keep}")
    mine = [s for s in ours(snapshots) if s.get("state") != "IN_PROGRESS"]
    kept = {s["snapshot"] for s in [s for s in mine if s.get("state") == "SUCCESS"][-keep:]}
    return [s["snapshot"] for s in mine if s["snapshot"] not in kept]


# ---- taking and pruning ----------------------------------------------------------------------------

def take(api: SearchAdmin, index: str = CONTENT_INDEX, *, now: float | None = None) -> dict[str, Any]:
    """Snapshot ``index`` into :data:`SNAPSHOT_REPOSITORY` now and wait for it: ``{"id", "at" (its
    end), "documents" (the index's count just before), "seconds", "shards"}``. A GamedayError, and
    nothing taken, when the index is missing or an impostor; a GamedayError naming the failed shards
    when the snapshot did not succeed (it stays listed until :func:`prune` deletes it)."""
    if not api.index_exists(index):
        raise GamedayError(f"index {index!r} does not exist: nothing to snapshot")
    why = impostor_reason(api, index)
    if why:
        raise GamedayError(f"index {index!r} is not the site's index ({why}): not snapshotted")
    documents = api.count(index)
    name = snapshot_name(time.time() if now is None else now)
    started = time.monotonic()
    snap = api.snapshot(SNAPSHOT_REPOSITORY, name, [index])["snapshot"]
    if snap.get("state") != "SUCCESS":
        raise GamedayError(f"snapshot {name} ended {snap.get('state')}: {snap.get('failures') or snap.get('shards')}")
    return {"id": name, "at": snap["end_time_in_millis"] / 1000.0, "documents": documents,
            "seconds": round(time.monotonic() - started, 2), "shards": snap.get("shards", {})}


def prune(api: SearchAdmin, *, keep: int) -> list[str]:
    """Delete this member's snapshots but the newest ``keep`` successful ones (:func:`to_prune`);
    returns the names deleted."""
    names = to_prune(api.snapshots(SNAPSHOT_REPOSITORY), keep)
    for name in names:
        api.delete_snapshot(SNAPSHOT_REPOSITORY, name)
    return names


def status(twin) -> dict[str, Any]:
    """``{"interval_s", "keep", "count" (this member's snapshots), "newest": {"id", "at", "scheduled",
    "age_s"} | None, "last": the member's last attempt | None}``, plus ``"error"`` when the cluster
    could not be asked (then ``count`` and ``newest`` are None)."""
    out: dict[str, Any] = {**asdict(load(twin)), "last": SCHEDULE.last(twin)}
    try:
        snaps = admin(twin).snapshots(SNAPSHOT_REPOSITORY)
    except GamedayError as err:
        return {**out, "count": None, "newest": None, "error": str(err)}
    found = newest(snaps)
    if found is not None:
        found["age_s"] = round(time.time() - found["at"], 1)
    return {**out, "count": len(ours(snaps)), "newest": found}


def summary(twin) -> str:
    """One line for ``gameday sandbox status``."""
    s = status(twin)
    if s.get("error"):
        return f"search snapshots: every {s['interval_s']:.0f} s, keeping {s['keep']}; the cluster did not answer: {s['error']}"
    newest_ = s["newest"]
    return schedule.summary_line("search snapshots", s, newest_ and f"{newest_['id']}, {newest_['age_s']:.0f} s old")


class _Member(schedule.Loop):
    """The loop of ``search-snapshot-1`` (:class:`gameday.sandbox.schedule.Loop`)."""

    errors = (GamedayError, OSError, KeyError, TypeError, ValueError)  # ValueError: an answer that is not JSON

    def __init__(self, twin):
        super().__init__(twin, SCHEDULE)

    def newest(self) -> dict[str, Any] | None:
        return newest(admin(self.twin).snapshots(SNAPSHOT_REPOSITORY))

    def attempt(self, settings: Settings) -> None:
        started = time.time()

        def snapshot_and_prune() -> tuple[dict[str, Any], list[str]]:  # a SIGTERM ends a request; the snapshot is pruned later
            api = admin(self.twin, timeout=SNAPSHOT_TIMEOUT_S)
            return take(api), prune(api, keep=settings.keep)
        done, failed = self.guarded(snapshot_and_prune)
        if failed is not None:
            self.failed({"at": started}, failed, "snapshot failed")
            return
        snap, pruned = done
        self.succeeded({"at": started, "id": snap["id"], "end": snap["at"], "documents": snap["documents"],
                        "seconds": snap["seconds"], "pruned": pruned},
                       f"snapshot {snap['id']} of {CONTENT_INDEX} ({snap['documents']} documents) in "
                       f"{snap['seconds']} s; pruned {', '.join(pruned) or 'nothing'}")


def workload(twin) -> Workload:
    """``search-snapshot-1`` (workload ``search-snapshot``, layer ``jobs``, zone regional), started
    once the bootstrap job has registered the repository and created the content index."""
    return schedule.workload(twin, name=NAME, workload=WORKLOAD, module="gameday.sandbox.search_snapshot_schedule",
                             after=["bootstrap"], ready=SCHEDULE.ready_path(twin))


def main(argv: list[str] | None = None) -> int:
    return schedule.main(argv, module="gameday.sandbox.search_snapshot_schedule",
                         description="The twin's scheduled search snapshots (a supervised member).",
                         make_loop=_Member)


if __name__ == "__main__":
    sys.exit(main())
