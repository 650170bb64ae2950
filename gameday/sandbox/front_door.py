"""Where the twin's readers arrive, and what its CDN counts (issue 17, the CDN lost).

The twin's public front door is the load balancer's ``front_door`` frontend (:func:`.members.lb.front_door_cfg`,
``http://127.<net>.10.1:8081``) when the twin runs a CDN (``cdn-N``, Varnish: :mod:`.members.cdn`): it sends
readers to an edge that answers, and to the origin when none does, as a managed CDN is part of the load
balancer (without its cache the origin takes every request). A twin without a CDN (the Kubernetes twin)
has no front door of its own: None. ``status`` is the supervisor's
(:meth:`gameday.sandbox.client.SandboxClient.status`)::

    front_door_url(twin, status)      # "http://127.<net>.10.1:8081", or None: the twin runs no CDN
    cdn_status(twin, status)          # {"members": {"cdn-1": {"running": True, "ready": True, "answers": True,
                                      #   "hits": 812, "misses": 377, "passes": 20, "objects": 300, "uptime_s": 41}}}
"""

from __future__ import annotations

from typing import Any

from ..errors import GamedayError
from .members import cdn, lb
from .twin import Twin


def edges(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The twin's CDN members within its workload's replica count, running, held stopped (a lost edge) or
    not, from the supervisor's status."""
    replicas = {w["name"]: int(w["replicas"]) for w in status.get("workloads", [])}
    return [m for m in status.get("members", [])
            if m.get("workload") == cdn.WORKLOAD and m["index"] <= replicas.get(cdn.WORKLOAD, 0)]


def front_door_url(twin: Twin, status: dict[str, Any]) -> str | None:
    """The load balancer's public front door when the twin runs a CDN (its edges up or lost: the front
    door then sends readers to the origin); None when it runs none."""
    return lb.front_door_url(twin) if edges(status) else None


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
