"""The twin's site caches emptied after its content changed underneath them (issue 17, risk R8).

After a point-in-time restore, a database failover or a region promotion, WordPress's object cache
(Redis, ``cache-N``: :mod:`.members.redis_cache`) and the CDN (Varnish, ``cdn-N``: :mod:`.members.cdn`)
still hold what the old database said: pages and objects the restore removed or changed. This is
what :meth:`gameday.targets.sandbox.SandboxTarget.flush_site_caches` does for the playbooks::

    flush(twin, status)   # {"object_cache": {"members": {"cache-1": {"keys_before": 812, ...}}} | None,
                          #  "cdn": {"members": {"cdn-1": {"objects_before": 40, ...}}} | None}

``None`` for a cache the twin does not run (the Python site has no object cache; a Kubernetes twin no
CDN). Each running ``cache-N`` is emptied (``FLUSHALL``: it holds nothing but WordPress's cache, one
database, no persistence) after a sentinel key was written, and the sentinel is read back as gone; a
member not running holds nothing (a restart comes back empty). Each running ``cdn-N`` gets a ban of
every object (``ban req.url ~ .`` through ``varnishadm``, which reads varnishd's CLI secret from the
member's working directory itself): a banned page is fetched from the origin at its next request,
never served stale, not even in grace. A member that does not answer raises :class:`GamedayError`
naming it: a cache left holding the old content is the failure this step exists for.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

from .. import object_cache
from ..errors import GamedayError
from .members import cdn, redis_cache
from .twin import Twin



def redis(twin: Twin, index: int, *commands: tuple[str, ...], member: dict[str, Any] | None = None) -> list[str]:
    """Send ``commands`` to ``cache-<index>`` after ``AUTH`` (the twin's password, read from its 0600
    file, never echoed); their replies, in order (:func:`gameday.object_cache.commands`)."""
    return object_cache.commands(_server(twin, index, member), *commands, password=redis_cache.password(twin))


def _server(twin: Twin, index: int, member: dict[str, Any] | None = None) -> object_cache.Server:
    """``cache-<index>``: at the address the supervisor runs it on when its ``member`` status is given
    (right whatever network this process assumed), else the twin's."""
    address = (member or {}).get("address") or redis_cache.address(twin, index)
    return object_cache.Server(host=address, port=redis_cache.PORT, name=f"cache-{index}")


def flush_object_cache(twin: Twin, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Empty every running ``cache-N``; ``{"members": {name: {...}}}``."""
    done: dict[str, Any] = {}
    for m in members:
        if m.get("pid") is None:
            done[m["name"]] = {"flushed": False, "why": "not running: it comes back empty (no persistence)"}
            continue
        done[m["name"]] = object_cache.flush(_server(twin, m["index"], m), password=redis_cache.password(twin))
    return {"members": done}


def ban_cdn(twin: Twin, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Ban every object of every running ``cdn-N``; ``{"members": {name: {...}}}``."""
    varnishadm = shutil.which("varnishadm") or "/usr/bin/varnishadm"
    done: dict[str, Any] = {}
    for m in members:
        if m.get("pid") is None:
            done[m["name"]] = {"banned": False, "why": "not running: it comes back empty (memory storage)"}
            continue
        started = time.monotonic()
        objects = cdn.counters(twin, m["index"], fields=("MAIN.n_object",)).get("MAIN.n_object")
        argv = [varnishadm, "-n", str(cdn.workdir(twin, m["index"])), "-t", "5", "ban", "req.url", "~", "."]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise GamedayError(f"{m['name']}: varnishadm ban failed: {err}",
                               hint="is the member running? `gameday sandbox status`") from None
        if proc.returncode != 0:
            raise GamedayError(f"{m['name']}: varnishadm ban exited {proc.returncode}: "
                               f"{(proc.stdout + proc.stderr).strip()[-300:]}",
                               hint="is the member running? `gameday sandbox status`")
        done[m["name"]] = {"banned": True, "objects_before": objects, "seconds": round(time.monotonic() - started, 3)}
    return {"members": done}


def status(twin: Twin, status: dict[str, Any]) -> dict[str, Any] | None:
    """Each wanted or held ``cache-N`` as Redis counts it (``status``: the supervisor's): ``{"members": {name:
    {"running", "answers", "keys", "hits", "misses"}}}`` (``error`` instead of the counts when it does
    not answer; a member not running does not answer); None when the twin runs no object cache. The
    counts are Redis's own since it started (``DBSIZE``, ``INFO stats``): a restart starts them at 0."""
    replicas = {w["name"]: int(w["replicas"]) for w in status.get("workloads", [])}
    caches = [m for m in status.get("members", []) if m.get("workload") == redis_cache.WORKLOAD  # held ones too
              and (m.get("desired", True) or m["index"] <= replicas.get(redis_cache.WORKLOAD, 0))]
    if not caches:
        return None
    out: dict[str, Any] = {}
    for m in caches:
        running = m.get("pid") is not None
        try:
            keys, info = redis(twin, m["index"], ("DBSIZE",), ("INFO", "stats"), member=m)
        except GamedayError as err:
            out[m["name"]] = {"running": running, "answers": False, "error": str(err)[:300]}
            continue
        stats = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        out[m["name"]] = {"running": running, "answers": True, "keys": int(keys),
                          "hits": int(stats.get("keyspace_hits", 0)), "misses": int(stats.get("keyspace_misses", 0))}
    return {"members": out}


def summary_lines(twin: Twin, supervisor: dict[str, Any]) -> list[str]:
    """``gameday sandbox status``'s lines for the site's caches (``supervisor``: the supervisor's status;
    none for a cache the twin does not run)::

        object cache cache-1: 812 keys, hit ratio 93.1% since it started (10,422 hits, 770 misses)
        CDN cdn-1: 40 objects, hit ratio 64.0% since it started (2,864 answers: 1,833 hits, 961 misses, 70 passed)

    The CDN's counts are :func:`gameday.sandbox.front_door.cdn_status`' (varnishstat's ``cache_hit``, which
    includes the hits served in grace); the hit ratio is hits over every answer, as ``X-Cache`` counts it."""
    lines = []
    for name, m in ((status(twin, supervisor) or {}).get("members") or {}).items():
        if not m.get("answers"):
            lines.append(f"object cache {name}: not answering ({m.get('error', 'not running')})")
            continue
        looked = m["hits"] + m["misses"]
        ratio = f"hit ratio {m['hits'] / looked:.1%}" if looked else "no lookups yet"
        lines.append(f"object cache {name}: {m['keys']:,} keys, {ratio} since it started "
                     f"({m['hits']:,} hits, {m['misses']:,} misses)")
    from .front_door import cdn_status
    for name, m in ((cdn_status(twin, supervisor) or {}).get("members") or {}).items():
        if not m.get("answers"):
            lines.append(f"CDN {name}: not answering ({m.get('error', 'not running')})")
            continue
        total = m["hits"] + m["misses"] + m["passes"]
        ratio = f"hit ratio {m['hits'] / total:.1%}" if total else "no requests yet"
        lines.append(f"CDN {name}: {m['objects']:,} objects, {ratio} since it started ({total:,} answers: "
                     f"{m['hits']:,} hits, {m['misses']:,} misses, {m['passes']:,} passed)")
    return lines


def members(status: dict[str, Any]) -> dict[str, list[str] | None]:
    """The ``cache-N`` and ``cdn-N`` :func:`flush` would act on (``status``: the supervisor's); None
    for one the twin does not run."""
    wanted = [m for m in status.get("members", []) if m.get("desired", True)]
    caches = [m["name"] for m in wanted if m.get("workload") == redis_cache.WORKLOAD]
    edges = [m["name"] for m in wanted if m.get("workload") == cdn.WORKLOAD]
    return {"object_cache": caches or None, "cdn": edges or None}


def flush(twin: Twin, status: dict[str, Any]) -> dict[str, Any]:
    """The object cache emptied and the CDN banned, for the caches the twin runs (``status``: the
    supervisor's, :meth:`gameday.sandbox.client.SandboxClient.status`); None for one it does not run.
    The object cache first: a page the CDN fetches after its ban is then built from the database."""
    wanted = [m for m in status.get("members", []) if m.get("desired", True)]
    caches = [m for m in wanted if m.get("workload") == redis_cache.WORKLOAD]
    edges = [m for m in wanted if m.get("workload") == cdn.WORKLOAD]
    object_cache = flush_object_cache(twin, caches) if caches else None
    return {"object_cache": object_cache, "cdn": ban_cdn(twin, edges) if edges else None}
