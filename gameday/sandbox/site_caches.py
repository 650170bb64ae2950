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
import socket
import subprocess
import time
from typing import Any

from ..errors import GamedayError
from .members import cdn, redis_cache
from .twin import Twin

TIMEOUT = 5.0
SENTINEL = "gameday:flush-sentinel"


def _resp(*args: str) -> bytes:
    """One Redis command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _replies(conn: socket.socket, n: int) -> list[str]:
    """``n`` simple replies (``+OK``, ``:12``, ``-ERR ...``, or a bulk string's value) read in order."""
    buf, replies = b"", []
    deadline = time.monotonic() + TIMEOUT
    while len(replies) < n:
        if b"\r\n" not in buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no whole reply within the timeout")
            chunk = conn.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
            continue
        line, buf = buf.split(b"\r\n", 1)
        kind, value = line[:1], line[1:].decode(errors="replace")
        if kind == b"$":
            size = int(value)
            if size < 0:
                replies.append("(nil)")
                continue
            while len(buf) < size + 2:
                if time.monotonic() > deadline:
                    raise TimeoutError("no whole reply within the timeout")
                chunk = conn.recv(4096)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                buf += chunk
            replies.append(buf[:size].decode(errors="replace"))
            buf = buf[size + 2:]
        else:
            replies.append(("-" if kind == b"-" else "") + value)
    return replies


def redis(twin: Twin, index: int, *commands: tuple[str, ...]) -> list[str]:
    """Send ``commands`` to ``cache-<index>`` after ``AUTH`` (the twin's password, read from its 0600
    file, never echoed); their replies, in order."""
    secret = redis_cache.password(twin)
    try:
        with socket.create_connection((redis_cache.address(twin, index), redis_cache.PORT), timeout=TIMEOUT) as conn:
            conn.sendall(_resp("AUTH", secret) + b"".join(_resp(*c) for c in commands))
            replies = _replies(conn, len(commands) + 1)
    except (OSError, ValueError) as err:
        raise GamedayError(f"cache-{index} ({redis_cache.addr(twin, index)}) did not answer: {type(err).__name__}: "
                           f"{err}", hint="`gameday sandbox status` and `gameday sandbox logs cache-1`") from None
    if replies[0] != "OK":
        raise GamedayError(f"cache-{index} refused the twin's password ({replies[0][:80]})")
    return replies[1:]


def flush_object_cache(twin: Twin, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Empty every running ``cache-N``; ``{"members": {name: {...}}}``."""
    done: dict[str, Any] = {}
    for m in members:
        if m.get("pid") is None:
            done[m["name"]] = {"flushed": False, "why": "not running: it comes back empty (no persistence)"}
            continue
        started = time.monotonic()
        keys = redis(twin, m["index"], ("SET", SENTINEL, "1"), ("DBSIZE",))[1]
        flushed, left = redis(twin, m["index"], ("FLUSHALL",), ("EXISTS", SENTINEL))
        if flushed != "OK" or left != "0":
            raise GamedayError(f"{m['name']}: FLUSHALL answered {flushed!r} and the sentinel key is "
                               f"{'still there' if left != '0' else 'gone'}")
        done[m["name"]] = {"flushed": True, "keys_before": max(0, int(keys) - 1),
                           "seconds": round(time.monotonic() - started, 3)}
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
            keys, info = redis(twin, m["index"], ("DBSIZE",), ("INFO", "stats"))
        except GamedayError as err:
            out[m["name"]] = {"running": running, "answers": False, "error": str(err)[:300]}
            continue
        stats = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        out[m["name"]] = {"running": running, "answers": True, "keys": int(keys),
                          "hits": int(stats.get("keyspace_hits", 0)), "misses": int(stats.get("keyspace_misses", 0))}
    return {"members": out}


def flush(twin: Twin, status: dict[str, Any]) -> dict[str, Any]:
    """The object cache emptied and the CDN banned, for the caches the twin runs (``status``: the
    supervisor's, :meth:`gameday.sandbox.client.SandboxClient.status`); None for one it does not run.
    The object cache first: a page the CDN fetches after its ban is then built from the database."""
    wanted = [m for m in status.get("members", []) if m.get("desired", True)]
    caches = [m for m in wanted if m.get("workload") == redis_cache.WORKLOAD]
    edges = [m for m in wanted if m.get("workload") == cdn.WORKLOAD]
    object_cache = flush_object_cache(twin, caches) if caches else None
    return {"object_cache": object_cache, "cdn": ban_cdn(twin, edges) if edges else None}
