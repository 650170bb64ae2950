"""A region: fail over to the standby when the active region is lost, or switch over to it on purpose
(a migration, or the failback after a failover), then make the old region the standby again.

The region pair comes from the environment's ``regions:`` block (:mod:`gameday.targets.regions`);
every region operation is the region's own Target's. Findings::

    region.active-lost            the front's region does not answer, the standby does: fail over
    region.switchover-requested   `gameday playbook region --switchover`: a planned move, RPO 0
    region.standby-not-replicating  (with --switchover) the other region must be rebuilt first:
                                  the failback after a failover

Each phase is a step, so the playbook's timings are the RTO split by phase: detect, decide (a human
step, simulated by ``regions.decision_s``), promote, scale up, switch the front, verify; a switchover
adds stop-writes and wait-caught-up, and the time writes were refused is measured
(``LAST[env]["writes_unavailable_s"]``); once writes resume, the promoted region's object cache is
emptied and its CDN banned (``flush-site-caches``: :mod:`.site_caches`); it ends by rebuilding the old
region as the standby and scaling it down to a standby's size (``scale-down-old``, its own phase).
"""

from __future__ import annotations

import time
from typing import Any

import pymysql

from ... import hostguard, site_slo
from ...errors import GamedayError
from ...targets import regions as region_pairs
from ..context import Context
from ..engine import Check, Finding, Part, Step
from . import site_caches

LOST = "region.active-lost"
SWITCHOVER = "region.switchover-requested"
NOT_REPLICATING = "region.standby-not-replicating"
PATHS = ("/", "/search?q=apixaban")

# What the last run of each environment's region playbook did in this process, for the drills' reports:
# {environment: {"from", "to", "planned", "writes_stopped_at", "writes_resumed_at", "writes_unavailable_s", ...}}
LAST: dict[str, dict[str, Any]] = {}


def pair(ctx: Context) -> region_pairs.RegionPair:
    if ctx.state.regions is None:
        ctx.state.regions = region_pairs.for_environment(ctx.env)
    return ctx.state.regions


def _last(ctx: Context) -> dict[str, Any]:
    return LAST.setdefault(ctx.env.name, {})


def diagnose(ctx: Context) -> list[Finding]:
    p = pair(ctx)
    active = p.active()
    standby = p.standby()
    found = []
    if not p.answers(active):
        if p.answers(standby):
            found.append(Finding(LOST, f"the active region {active} does not answer; the standby {standby} does and "
                                       "can take over", {"active": active, "standby": standby}))
        else:
            found.append(Finding("region.both-down", f"neither region answers ({active} active, {standby} standby): "
                                                     "recover a region's layers first (gameday playbook site)",
                                 {"active": active, "standby": standby}))
        return found
    if ctx.state.switchover and not ctx.state.switchover_done:
        if not _replicating(p, standby):
            found.append(Finding(NOT_REPLICATING, f"the standby {standby} does not replicate from {active}: it is "
                                                  "rebuilt as the standby first (the failback)", {"standby": standby}))
        found.append(Finding(SWITCHOVER, f"a planned switchover from {active} to {standby} was asked for",
                             {"from": active, "to": standby}))
    return found


def _replicating(p: region_pairs.RegionPair, standby: str) -> bool:
    try:
        rep = p.target(standby).region_replication()
    except GamedayError:
        return False
    return bool(rep.get("db", {}).get("replicating")) and rep.get("standby") == standby


# ---- steps ----------------------------------------------------------------------------------------
def _detected(ctx: Context) -> Check:
    p = pair(ctx)
    _last(ctx).setdefault("detected_at", time.time())
    return Check(not p.answers(p.active()), f"the active region {p.active()} does not answer readers")


def _decide(ctx: Context) -> str:
    wait = max(0.0, pair(ctx).decision_s)
    time.sleep(min(wait, ctx.remaining(wait + 1)))
    _last(ctx)["decided_at"] = time.time()
    return f"failing over was decided after {wait:g}s (simulated: regions.decision_s)"


def _rebuild_standby(ctx: Context) -> str:
    p = pair(ctx)
    done = p.target(p.standby()).rebuild_region_as_standby(p.target(p.active()))
    _last(ctx)["rebuild"] = done
    lost = (done.get("db") or {}).get("lost_gtids")
    return (f"{p.standby()} replicates from {p.active()} again in {done.get('seconds')}s"
            + (f"; writes only it had (lost at the failover): {lost}" if lost else ""))


def _standby_replicating(ctx: Context) -> Check:
    p = pair(ctx)
    return Check(_replicating(p, p.standby()), f"{p.standby()} replicates from {p.active()}")


def _scale_up(ctx: Context) -> str:
    p = pair(ctx)
    done = p.target(p.standby()).resize_region("primary")
    settled = f"; search green with no shard moving after {done['search_settled_s']}s" if "search_settled_s" in done else ""
    return f"{p.standby()} scaled to the primary's size ({done.get('scaled') or 'already'}) in {done['seconds']}s{settled}"


def _stop_writes(ctx: Context) -> str:
    p = pair(ctx)
    last = _last(ctx)
    last.update({"from": p.active(), "to": p.standby(), "planned": True, "writes_stopped_at": time.time()})
    fenced = p.target(p.active()).fence_region_writes()
    last["fence"] = fenced
    if ctx.state.on_stop_writes is not None:  # the application's other writers (a drill's canaries) stop too
        ctx.state.on_stop_writes()
    return f"{p.active()}'s database is read-only: writes are refused from now" + _restart_words(fenced)


def _restart_words(fenced: Any) -> str:
    """What a fence's flag change did to the database, as its target measured it (Cloud SQL: read from
    ``flags.list`` before the change, :meth:`gameday.gcp.cloudsql.CloudSql.set_flags`); "" when it says nothing."""
    restart = fenced.get("restart") if isinstance(fenced, dict) else None
    if not isinstance(restart, dict) or "required" not in restart:
        return ""
    if not restart["required"]:
        return f"; no restart ({restart.get('source')})"
    replicas = restart.get("replicas") or []
    return (f"; the flag change restarted the database ({restart.get('source')} says "
            + ", ".join(n for n, r in (restart.get("flags") or {}).items() if r) + " requires it)"
            + (f"; its replicas {', '.join(replicas)} RUNNABLE again after {restart.get('replicas_runnable_s')}s"
               if replicas else ""))


def _stop_writes_foreseen(ctx: Context) -> str:
    """The plan's words for stop-writes, read without changing anything: whether making the active
    region's database read-only restarts it (Cloud SQL: ``flags.list``'s ``requiresRestart``)."""
    p = pair(ctx)
    said = p.target(p.active()).fence_region_restart()
    head = f"will make {p.active()}'s database read-only (read_only=on)"
    if said.get("required") is None:
        return f"{head}; whether that restarts it is not known ({said.get('source')})"
    if not said["required"]:
        return f"{head}; no restart ({said.get('source')})"
    needs = ", ".join(n for n, r in (said.get("flags") or {}).items() if r)
    replicas = said.get("replicas") or []
    return (f"{head}; this RESTARTS the database ({said.get('source')} says {needs} requires it)"
            + (f", and its replicas {', '.join(replicas)} restart after it" if replicas else "")
            + ": writes and reads there are interrupted while it restarts")


def _wait_caught_up(ctx: Context) -> str:
    p = pair(ctx)
    done = p.target(p.standby()).wait_region_caught_up(timeout=ctx.remaining(120))
    _last(ctx)["caught_up"] = done
    kafka = "not measured" if done.get("kafka_s") is None else f"{done['kafka_s']}s"
    return f"{p.standby()} has everything {p.active()} logged (database {done['db_s']}s, Kafka {kafka})"


def _promote(ctx: Context) -> str:
    p = pair(ctx)
    planned = bool(ctx.state.switchover)
    last = _last(ctx)
    last.setdefault("from", p.active())
    last.setdefault("to", p.standby())
    last["planned"] = planned
    done = p.target(p.standby()).promote_region(planned=planned)
    last["promotion"] = done
    said = "".join(f"; WARNING: {w}" for w in done.get("warnings") or [])  # e.g. the indexer's offsets on GKE
    return f"{p.standby()} promoted ({'planned' if planned else 'failover'}) in {done.get('seconds')}s{said}"


def _switch_front(ctx: Context) -> str:
    p = pair(ctx)
    new = _last(ctx).get("to") or p.standby()
    done = p.switch_front(new)
    _last(ctx)["front"] = done
    ctx.state.switchover_done = True
    return f"the front sends readers to {new}"


def _front_serves_new(ctx: Context) -> Check:
    p = pair(ctx)
    new = _last(ctx).get("to")
    serving = p.serving()
    ok = p.active() == new and (p.front.url() is None or serving == new)
    return Check(ok, f"the front's region is {p.active()}; readers were answered by {serving or 'nobody'}")


def _writable(ctx: Context) -> Check:
    """A write as the site's user is accepted by the new active region's database."""
    p = pair(ctx)
    target = p.target(p.active())
    t = ctx.remaining(3)
    try:
        conn = target.db_connect(timeout=t)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT @@read_only")
            read_only = cur.fetchone()[0]
    except (pymysql.MySQLError, OSError) as err:
        return Check(False, f"{p.active()}'s database did not answer: {type(err).__name__}")
    if read_only:
        return Check(False, f"{p.active()}'s database is still read-only")
    last = _last(ctx)
    last.setdefault("writes_resumed_at", time.time())
    if last.get("writes_stopped_at"):
        last["writes_unavailable_s"] = round(last["writes_resumed_at"] - last["writes_stopped_at"], 2)
    return Check(True, f"{p.active()}'s database accepts writes")


def _flush_caches(ctx: Context) -> str:
    """The promoted region's caches: its object cache held what its replica's database had when it was
    cached (replication does not invalidate WordPress's cache) and its CDN pages built from it."""
    p = pair(ctx)
    return f"{p.active()}: {site_caches.flushed(p.target(p.active()), site_caches.time_left(ctx))}"


def _flush_caches_foreseen(ctx: Context) -> str:
    """The dry run's words: the region promoted will be today's standby."""
    p = pair(ctx)
    return f"{p.standby()}: {site_caches.foreseen(p.target(p.standby()))}"


def _rebuild_old(ctx: Context) -> str:
    p = pair(ctx)
    old = _last(ctx).get("from") or p.standby()
    done = p.target(old).rebuild_region_as_standby(p.target(p.active()))
    _last(ctx)["redundancy_restored_at"] = time.time()
    return f"{old} is the standby of {p.active()} again, caught up in {done.get('seconds')}s"


def _scale_down_old(ctx: Context) -> str:
    """The last phase: the new standby back to a standby's size (it kept the primary's)."""
    p = pair(ctx)
    old = _last(ctx).get("from") or p.standby()
    size = p.target(old).resize_region("standby")  # a warm standby is smaller than the region it follows
    _last(ctx)["scaled_down"] = size
    left = "; ".join(f"{k} {v}" for k, v in (size.get("left") or {}).items())
    nodes = ", ".join(f"{n['node']} in {n['seconds']}s" for n in (size.get("search") or {}).get("left", []))
    return (f"{old} scaled down to a standby's size ({size.get('scaled') or 'already'}) in {size.get('seconds')}s"
            + (f"; search nodes left one at a time: {nodes}" if nodes else "") + (f"; {left}" if left else ""))


def _readers_served(ctx: Context) -> Check:
    p = pair(ctx)
    url = p.front.url() or p.target(p.active()).site_url()
    m = site_slo.measure(url, paths=PATHS, window_s=3, rate=10, timeout=3, allow=hostguard.site_hosts(ctx.env))
    slo = ctx.site_slo()
    ok = m["success_ratio"] >= slo["success_ratio"] and m["p95_ms"] <= slo["p95_ms"]
    return Check(ok, f"readers at {url}: {m['ok']}/{m['requests']} ok{site_slo.redirect_note(m)}, "
                     f"p95 {m['p95_ms']:.0f} ms, served by {p.serving() or p.active()}")


STEPS = (
    Step("detect", "Confirm the active region does not answer readers", deadline_s=30, when=(LOST,), check=_detected),
    Step("decide", "Decide to fail over (a human step; simulated by regions.decision_s)", deadline_s=900,
         when=(LOST,), act=_decide),
    Step("rebuild-standby", "Rebuild the other region as the standby and let it catch up (the failback)",
         deadline_s=600, when=(NOT_REPLICATING,), act=_rebuild_standby, check=_standby_replicating),
    Step("scale-up-standby", "Scale the standby region to the primary's size", deadline_s=300,
         when=(LOST, SWITCHOVER), act=_scale_up),
    Step("stop-writes", "Stop writes in the active region (its database read-only)", deadline_s=30,
         when=(SWITCHOVER,), act=_stop_writes, foresee=_stop_writes_foreseen),
    Step("wait-caught-up", "Wait until the standby has every write (database and Kafka lag 0)", deadline_s=120,
         when=(SWITCHOVER,), act=_wait_caught_up),
    Step("promote-standby", "Promote the standby region (its database writable, mirroring into it stopped)",
         deadline_s=120, when=(LOST, SWITCHOVER), act=_promote),
    Step("switch-front", "Send readers to the promoted region", deadline_s=60, when=(LOST, SWITCHOVER),
         act=_switch_front, check=_front_serves_new),
    Step("resume-writes", "The promoted region accepts writes", deadline_s=60, when=(LOST, SWITCHOVER),
         check=_writable),
    site_caches.step("flush-site-caches", (LOST, SWITCHOVER), act=_flush_caches, foresee=_flush_caches_foreseen),
    Step("rebuild-old-as-standby", "Make the old region the standby of the new one (redundancy restored)",
         deadline_s=600, when=(SWITCHOVER,), act=_rebuild_old),
    Step("scale-down-old", "Scale the new standby back down to a standby's size (search nodes one at a time)",
         deadline_s=300, when=(SWITCHOVER,), act=_scale_down_old),
)
VERIFY = Step("verify-readers", "Readers at the front are served within the SLO", deadline_s=90, kind="verify",
              check=_readers_served)
PART = Part("region", diagnose, STEPS + (VERIFY,))
