"""The site's object cache (WordPress's Redis): start it, check it answers and fills again (keys and
hits rising under the site's traffic), and report the database's load spike while it was lost.

The site does not need the cache to serve (the drop-in falls back to the database); what losing it
costs is the database's load. The first diagnosis that finds the cache lost measures that load
(``SHOW GLOBAL STATUS`` through the target, :mod:`gameday.db_load`) into
:attr:`PlaybookState.cache_load`; the last step measures it again with the cache back and reports
both. An environment without an object cache (the Python site) has no cache members: nothing is
found, nothing is done.
"""

from __future__ import annotations

import time

from ... import db_load
from ...errors import GamedayError
from ..context import Context
from ..engine import Check, Finding, Part, Step
from .common import member_findings, member_steps, members_ready

LAYER = "cache"
CACHE_GRACE_S = 30.0
NOT_ANSWERING = "cache.not-answering"
COUNTERS = ("Questions", "Com_select")
LOAD_WINDOW_S = 3.0


def _load(ctx: Context) -> dict:
    before = ctx.target.db_counters(COUNTERS)
    time.sleep(LOAD_WINDOW_S)
    return db_load.rates(before, ctx.target.db_counters(COUNTERS))


def diagnose(ctx: Context) -> list[Finding]:
    if not ctx.target.view(LAYER).members:
        return []  # no object cache in this environment
    found = member_findings(ctx, LAYER, grace_s=CACHE_GRACE_S)
    status = ctx.target.object_cache_status() or {"members": {}}
    silent = sorted(n for n, m in status["members"].items() if m["running"] and not m["answers"])
    if silent:
        found.append(Finding(NOT_ANSWERING, f"{', '.join(silent)} running but not answering",
                             {"members": silent}))
    if found and ctx.state.cache_load is None:
        try:
            ctx.state.cache_load = _load(ctx)
        except GamedayError as err:
            ctx.state.cache_load = {"error": str(err)}
    return found


def answers_and_fills(ctx: Context) -> Check:
    """Every cache member answers, holds keys again (it came back empty: no persistence) and has served
    hits since this step began (the site reads from it again)."""
    status = ctx.target.object_cache_status() or {"members": {}}
    members = status["members"]
    silent = [n for n, m in members.items() if not m["answers"]]
    if silent:
        return Check(False, f"{', '.join(silent)} not answering")
    if ctx.state.cache_fill is None or ctx.state.cache_fill[0] is not ctx.deadline:
        ctx.state.cache_fill = (ctx.deadline, members)
        return Check(False, "answering; watching it fill")
    first = ctx.state.cache_fill[1]
    filling = {n: m for n, m in members.items() if n in first and m["keys"] > 0 and m["hits"] > first[n]["hits"]}
    words = "; ".join(f"{n}: {m['keys']} keys, {m['hits'] - first.get(n, m)['hits']} hits since the check began, "
                      f"hit ratio since it restarted {m['hits'] / max(1, m['hits'] + m['misses']):.2f}"
                      for n, m in members.items())
    return Check(len(filling) == len(members) and bool(members), words or "no cache member")


def load_spike(ctx: Context) -> Check:
    """The database's queries per second with the cache back, beside the load while it was lost."""
    during = ctx.state.cache_load
    if during is None:
        return Check(True, "the cache was not found lost: no load spike measured")
    if "error" in during:
        return Check(True, f"the load while the cache was lost could not be measured: {during['error']}")
    after = _load(ctx)
    spike = db_load.spike(after, during)
    return Check(True, f"database load while the cache was lost: {during['Questions']:g} queries/s "
                       f"({during['Com_select']:g} SELECT/s); with it back: {after['Questions']:g} queries/s "
                       f"({after['Com_select']:g} SELECT/s); {spike.get('Questions') or 'n/a'}x")


def replace_silent(ctx: Context) -> str:
    status = ctx.target.object_cache_status() or {"members": {}}
    silent = sorted(n for n, m in status["members"].items() if m["running"] and not m["answers"])
    for name in silent:
        ctx.target.replace_member(name)
    return "; ".join(f"replaced {n} (killed; the platform starts a fresh, empty one)" for n in silent) \
        or "every cache member answers now"


PART = Part(LAYER, diagnose, member_steps(LAYER, grace_s=CACHE_GRACE_S, deadline_s=60, what="object cache") + (
    Step("replace-silent-cache", "Replace a cache member that runs but does not answer", deadline_s=60,
         when=(NOT_ANSWERING,), act=replace_silent, check=members_ready(LAYER)),
    Step("verify-cache-answers-and-fills", "The object cache answers and fills again (keys held, hits rising)",
         deadline_s=60, kind="verify", check=answers_and_fills),
    Step("report-database-load", "The database's load with the cache back, beside the spike while it was lost",
         deadline_s=30, kind="verify", check=load_spike),
))
