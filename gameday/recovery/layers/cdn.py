"""The CDN: bring a lost edge back, then warm its cache until readers are answered from it as often as
the traffic model expects (``loadtests/traffic.yaml``'s ``cdn_hit_ratio``); verify the site through the
load balancer too. Where the target has no CDN it can read (:meth:`~gameday.targets.base.Target.cdn_status`
None) nothing is found and nothing is done.

Readers are sampled at the front door (:meth:`~gameday.targets.base.Target.front_door_url`: the CDN once
an edge is ready, the origin meanwhile) with the catalogue's pages, popular pages far more often (:mod:`gameday.readers`); the
hit ratio is what their answers said (``X-Cache``). Warming fetches the most popular pages once each, the
fewest that carry :data:`WARM_MASS` of the readers' requests, through the front door: what an operator
does after a purge rather than let readers' misses fill the cache at the origin's expense.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from ... import hostguard, readers
from ...deadline import wait_until
from ...errors import DeadlineExceeded
from ...load import model as traffic
from ..context import Context
from ..engine import Check, Finding, Part, Step
from . import site_probe
from .common import member_findings, member_steps

LAYER = "cdn"
CDN_GRACE_S = 20.0
ITEMS = 2000  # the catalogue's size the readers' pages are drawn from (gameday.site.catalog.DEFAULT_N)
SAMPLE_S, SAMPLE_RATE = 3.0, 20.0  # one look at the readers' hit ratio: 60 requests
WARM_MASS = 0.7  # warm the popular pages that carry this share of the readers' page requests (the model's 0.6 + a margin)
WARM_CONCURRENCY = 4


def modelled_hit_ratio() -> float:
    return float(traffic.load().cdn_hit_ratio)


def edge_serving(status: dict | None) -> bool:
    """Whether one of the CDN's edges (:meth:`~gameday.targets.base.Target.cdn_status`) runs and is ready:
    the front door then sends readers to it, else to the origin."""
    return any(m.get("running") and m.get("ready") for m in (status or {}).get("members", {}).values())


def _through_cdn(ctx: Context) -> str | None:
    """The front door when the CDN answers there (an edge is ready), else None."""
    return ctx.target.front_door_url() if edge_serving(ctx.target.cdn_status()) else None


def _look(ctx: Context, door: str) -> dict:
    return readers.sample(door, window_s=SAMPLE_S, rate=SAMPLE_RATE, items=ITEMS, allow=hostguard.site_hosts(ctx.env))


def _words(m: dict, model: float) -> str:
    ratio = "no X-Cache in the answers" if m["hit_ratio"] is None else f"hit ratio {m['hit_ratio']:.2f}"
    return (f"readers at {m['url']}: {ratio} over {m['requests']} requests (model {model:g}), "
            f"{m['ok']}/{m['requests']} ok, p95 {m['p95_ms']:.0f} ms")


def diagnose(ctx: Context) -> list[Finding]:
    if ctx.target.cdn_status() is None:
        return []
    found = member_findings(ctx, LAYER, grace_s=CDN_GRACE_S)
    door = _through_cdn(ctx)
    if door is None:  # the edge is lost or starting (found above), or readers are sent past it on purpose
        return found
    model = modelled_hit_ratio()
    m = _look(ctx, door)
    if m["hit_ratio"] is not None and m["hit_ratio"] < model:
        found.append(Finding("cdn.cold", f"the CDN's cache is cold: {_words(m, model)}",
                             {"hit_ratio": m["hit_ratio"], "model": model, "requests": m["requests"]}))
    return found


ROUTED_WAIT_S = 15.0  # for the front door's load balancer to send readers to an edge that came back


def _routed_to_edge(session: requests.Session, door: str) -> bool:
    """Whether the front door's answers come from the CDN (``X-Cache`` in them): the load balancer
    checks an edge that came back before it sends readers there again (about a second on the twin)."""
    try:
        return "X-Cache" in session.get(door + "/", timeout=3, allow_redirects=False).headers
    except requests.RequestException:
        return False  # the front door between edges: asked again until the deadline


def warm(ctx: Context) -> str:
    """Fetch, once each, the popular pages that carry :data:`WARM_MASS` of the readers' requests, once the
    front door sends readers to the edge again (else the fetches would fill nothing but the origin's load)."""
    door = _through_cdn(ctx)
    if door is None:
        return "no CDN edge is ready: nothing to warm"
    door = hostguard.check_url(door, hostguard.site_hosts(ctx.env))
    session = hostguard.session(refuse=False)
    try:
        wait_until(lambda: _routed_to_edge(session, door), timeout=ROUTED_WAIT_S, interval=0.25,
                   what="the front door to send readers to the CDN")
    except DeadlineExceeded:
        return f"the front door {door} still sends readers past the CDN after {ROUTED_WAIT_S:.0f} s: nothing warmed"
    paths, cum = readers.pages(ITEMS)
    wanted = ["/"] + paths[:next(i + 1 for i, c in enumerate(cum) if c >= WARM_MASS * cum[-1])]
    started = time.monotonic()

    def one(path: str) -> bool:
        if ctx.deadline is not None and ctx.deadline.expired():
            return False
        try:
            return session.get(door + path, timeout=5, allow_redirects=False).status_code < 500
        except requests.RequestException:
            return False

    with ThreadPoolExecutor(max_workers=WARM_CONCURRENCY) as pool:
        ok = sum(pool.map(one, wanted))
    return f"fetched the {len(wanted)} most popular pages once through {door}: {ok} answered in {time.monotonic() - started:.1f} s"


def warm_enough(ctx: Context) -> Check:
    door = _through_cdn(ctx)
    if door is None:
        return Check(False, "no CDN edge is ready: readers reach the origin directly")
    model = modelled_hit_ratio()
    m = _look(ctx, door)
    if m["hit_ratio"] is None:
        return Check(False, f"{_words(m, model)}: the front door is not answered by the CDN")
    return Check(m["hit_ratio"] >= model, _words(m, model))


PART = Part(LAYER, diagnose, member_steps(LAYER, grace_s=CDN_GRACE_S, deadline_s=60, what="CDN edge") + (
    Step("warm-cdn", "Fetch the most popular pages once through the front door, then wait until readers are "
         "answered from the CDN's cache as often as the traffic model expects (its cdn_hit_ratio)", deadline_s=120,
         when=("cdn.cold", "cdn.members-missing", "cdn.members-restarting", "cdn.members-starting",
               "cdn.members-stuck"), act=warm, check=warm_enough),
    Step("verify-cdn-warm", "Readers at the front door are answered from the CDN's cache as often as the model expects",
         deadline_s=60, kind="verify", check=warm_enough),
    Step("verify-site", "The site meets its SLO through the load balancer", deadline_s=90,
         kind="verify", check=site_probe.meets_slo),
))
