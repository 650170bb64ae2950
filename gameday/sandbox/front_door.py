"""Where the twin's readers arrive, and what its CDN counts (issue 17, the CDN lost).

The twin's public front door is its CDN (``cdn-N``, Varnish: :mod:`.members.cdn`) when it runs one and an
edge answers, else its load balancer: the stand-in for a site whose name is moved to the origin when its
edge is lost (as a managed CDN is part of the load balancer: without its cache the origin takes every
request). ``status`` is the supervisor's (:meth:`gameday.sandbox.client.SandboxClient.status`)::

    front_door_url(twin, status)      # "http://127.<net>.5.1:8080", or None: no edge is ready
    cdn_status(twin, status)          # {"members": {"cdn-1": {"running": True, "ready": True, "answers": True,
                                      #   "hits": 812, "misses": 377, "passes": 20, "objects": 300, "uptime_s": 41}}}
"""

from __future__ import annotations

from typing import Any

from ..errors import GamedayError
from .members import cdn
from .twin import Twin


def edges(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The twin's CDN members within its workload's replica count, running, held stopped (a lost edge) or
    not, from the supervisor's status."""
    replicas = {w["name"]: int(w["replicas"]) for w in status.get("workloads", [])}
    return [m for m in status.get("members", [])
            if m.get("workload") == cdn.WORKLOAD and m["index"] <= replicas.get(cdn.WORKLOAD, 0)]


def front_door_url(twin: Twin, status: dict[str, Any]) -> str | None:
    """The first CDN member that runs and is ready (its readiness is Varnish's own answer, not the
    origin's); None when the twin runs no CDN or none of its edges is ready."""
    for m in sorted(edges(status), key=lambda m: m["index"]):
        if m.get("pid") is not None and m.get("ready"):
            return cdn.url(twin, m["index"])
    return None


def cdn_status(twin: Twin, status: dict[str, Any]) -> dict[str, Any] | None:
    """Each CDN member as Varnish counts it since it started (a restart starts at 0, cold): hits
    (grace hits included), misses, passes, objects cached, uptime; ``answers`` False and ``error``
    for a member varnishstat cannot read (never raised: a lost edge is what the drill measures).
    None when the twin runs no CDN."""
    found = edges(status)
    if not found:
        return None
    out: dict[str, Any] = {}
    for m in found:
        row: dict[str, Any] = {"running": m.get("pid") is not None, "ready": bool(m.get("ready"))}
        if not row["running"]:
            out[m["name"]] = {**row, "answers": False, "error": "not running"}
            continue
        try:
            c = cdn.counters(twin, m["index"])
        except GamedayError as err:
            out[m["name"]] = {**row, "answers": False, "error": str(err)[:300]}
            continue
        out[m["name"]] = {**row, "answers": True, "hits": c.get("MAIN.cache_hit", 0),
                          "misses": c.get("MAIN.cache_miss", 0), "passes": c.get("MAIN.s_pass", 0),
                          "objects": c.get("MAIN.n_object", 0), "uptime_s": c.get("MAIN.uptime", 0)}
    return {"members": out}
