"""The web replicas' worker pools (PHP-FPM) exhausted behind a slow database: every worker waits on the
database, new requests queue in the pool's listen queue, and the load balancer answers 502/504.

Diagnosis reads each replica's pool (:meth:`~gameday.targets.base.Target.web_pool_status`: busy workers of
the pool, the listen queue; a status page that cannot answer because every worker is busy counts as
exhausted when requests wait) and, where the target has the network-fault API (toxiproxy in the sandbox),
the delay a drill put between the web tier and the database. The restore removes that network fault (the
twin's stand-in for the network being repaired; on a platform without the API nothing is found and nothing
removed), then waits until every pool has idle workers and an empty queue again (requests held by the slow
database finish, or hit php-fpm's ``request_terminate_timeout``), and verifies the site.
"""

from __future__ import annotations

from typing import Any

import requests

from ...chaos import ledger
from ...errors import GamedayError
from ..context import Context
from ..engine import Check, Finding, Part, Step
from . import site_probe

DB_PROXY = "db"  # toxiproxy's proxies between web and the database: "db" and "db-N"
FAULT_PREFIX = "gameday-"  # the toxics gameday's network actions add


def _pools(ctx: Context) -> dict[str, Any] | None:
    pools = ctx.target.web_pool_status()
    return None if pools is None else pools.get("members") or {}


def exhausted(p: dict[str, Any]) -> bool:
    """A pool with requests waiting and no idle worker (or whose status page could not answer while
    requests wait: a pool worker serves it)."""
    queue = p.get("listen_queue") or 0
    if not p.get("running"):
        return False
    if p.get("answers"):
        return queue > 0 or p.get("idle") == 0
    return queue > 0


def describe(name: str, p: dict[str, Any]) -> str:
    if not p.get("running"):
        return f"{name} not running"
    if p.get("answers"):
        return (f"{name} {p.get('active')} of {p.get('total')} workers busy, {p.get('listen_queue')} waiting "
                f"(max children reached {p.get('max_children_reached')} times)")
    queue = p.get("listen_queue")
    return f"{name} status page did not answer ({p.get('why')}); {'unknown' if queue is None else queue} waiting"


def _db_toxics(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """(proxy, toxic) of every gameday toxic on the web->database proxies; [] without the API."""
    api = ctx.target.toxiproxy_api()
    if api is None:
        return []
    try:
        r = requests.get(f"{api}/proxies", timeout=5)
        r.raise_for_status()
    except requests.RequestException as err:
        raise GamedayError(f"the network-fault API at {api} did not answer: {err}") from None
    return [(name, t) for name, p in sorted(r.json().items())
            if name == DB_PROXY or name.startswith(f"{DB_PROXY}-")
            for t in p.get("toxics", []) if str(t.get("name", "")).startswith(FAULT_PREFIX)]


def _toxic_words(proxy: str, t: dict[str, Any]) -> str:
    a = t.get("attributes") or {}
    what = f"{a['latency']} ms latency" if "latency" in a else t.get("type", "?")
    return f"{t['name']} on {proxy} ({what})"


def diagnose(ctx: Context) -> list[Finding]:
    found = []
    toxics = _db_toxics(ctx)
    if toxics:
        found.append(Finding("network.db-fault", "a network fault slows the database's answers to the web tier: "
                             + ", ".join(_toxic_words(p, t) for p, t in toxics),
                             {"toxics": [f"{p}/{t['name']}" for p, t in toxics]}))
    pools = _pools(ctx)
    if pools:
        bad = {n: p for n, p in pools.items() if exhausted(p)}
        if bad:
            found.append(Finding("web.workers-exhausted", "web worker pools exhausted: "
                                 + "; ".join(describe(n, p) for n, p in bad.items()), {"pools": bad}))
    return found


def remove_db_fault(ctx: Context) -> str:
    """Undo every recorded web->database network fault (its undo record settled, as ``gameday cleanup``
    would), then any gameday toxic left on those proxies without a record."""
    done = []
    for record in ledger.pending(ctx.target.env):
        proxy = str((record.get("kwargs") or {}).get("proxy", ""))
        if record["undo"] == "remove_toxic" and (proxy == DB_PROXY or proxy.startswith(f"{DB_PROXY}-")):
            done.append(ledger.run_record(record)["result"]["removed"])
    api = ctx.target.toxiproxy_api()
    for proxy, t in _db_toxics(ctx):  # left without a record (its process died before writing one?)
        r = requests.delete(f"{api}/proxies/{proxy}/toxics/{t['name']}", timeout=5)
        if r.status_code not in (200, 204, 404):
            raise GamedayError(f"toxiproxy refused to remove {t['name']} from {proxy}: {r.status_code} {r.text[:200]}")
        done.append(f"{proxy}/{t['name']}")
    return f"removed {', '.join(done)}" if done else "no network fault left between web and the database"


def no_db_fault(ctx: Context) -> Check:
    left = _db_toxics(ctx)
    return Check(not left, "; ".join(_toxic_words(p, t) for p, t in left) or "no network fault between web and the database")


def pools_drained(ctx: Context) -> Check:
    pools = _pools(ctx)
    if pools is None:
        return Check(True, "this target's worker pools cannot be read: nothing to wait for")
    bad = {n: p for n, p in pools.items() if exhausted(p)}
    words = "; ".join(describe(n, p) for n, p in pools.items())
    return Check(not bad, words or "no web replica")


PART = Part("web", diagnose, (
    Step("remove-db-network-fault", "Remove the network fault between the web tier and the database (the drill's "
         "toxic; where the target has no network-fault API nothing is found)", deadline_s=30,
         when=("network.db-fault",), act=remove_db_fault, check=no_db_fault),
    Step("drain-web-workers", "Wait until every web replica's worker pool has idle workers and nothing waiting "
         "(requests held by the slow database finish, or php-fpm ends them after request_terminate_timeout)",
         deadline_s=90, when=("web.workers-exhausted", "network.db-fault"), check=pools_drained),
    Step("verify-web-workers", "Every web replica's worker pool has idle workers and an empty queue", deadline_s=30,
         kind="verify", check=pools_drained),
    Step("verify-site", "The site meets its SLO through the load balancer", deadline_s=90,
         kind="verify", check=site_probe.meets_slo),
))
