"""The site as readers see it, through the load balancer: a quick look for diagnosis, and the SLO
for verification (paced requests, see :mod:`gameday.site_slo`)."""

from __future__ import annotations

import collections

import requests

from ... import hostguard, site_slo
from ...targets import trust
from ..context import Context
from ..engine import Check, Finding

PATHS = ("/", "/search?q=apixaban")


def quick_look(ctx: Context, *, n: int = 6, timeout: float = 3.0) -> list[Finding]:
    url = hostguard.check_url(ctx.target.site_url(), hostguard.site_hosts(ctx.env))  # loopback or the declared site only
    problems: collections.Counter = collections.Counter()
    session = hostguard.session(refuse=False)  # a redirect to another host is a finding, not followed
    session.trust_env = False  # no proxy; the target's CAs (gameday.targets.trust) still verify
    session.verify = trust.verify()
    for i in range(n):
        path = PATHS[i % len(PATHS)]
        try:
            r = session.get(url + path, timeout=timeout)
        except requests.RequestException as err:
            problems[f"{path}: {type(err).__name__}"] += 1
            continue
        away = hostguard.redirected_to(r)
        if away:
            problems[f"{path}: HTTP {r.status_code} redirect to another host ({away})"] += 1
        elif r.status_code >= 500:
            degraded = r.headers.get(site_slo.DEGRADED_HEADER)
            problems[f"{path}: HTTP {r.status_code}{' (degraded: ' + degraded + ')' if degraded else ''}"] += 1
    if not problems:
        return []
    failed = sum(problems.values())
    words = ", ".join(f"{what} x{k}" for what, k in problems.most_common())
    return [Finding("web.site-failing", f"{failed} of {n} requests through the load balancer {url} failed: {words}",
                    {"failed": failed, "of": n})]


def meets_slo(ctx: Context) -> Check:
    slo = ctx.site_slo()
    m = site_slo.measure(ctx.target.site_url(), paths=PATHS, window_s=3, rate=10, timeout=3,
                         allow=hostguard.site_hosts(ctx.env))
    ok = m["success_ratio"] >= slo["success_ratio"] and m["p95_ms"] <= slo["p95_ms"]
    return Check(ok, f"through the load balancer: {m['ok']}/{m['requests']} ok{site_slo.redirect_note(m)}, "
                     f"p95 {m['p95_ms']:.0f} ms "
                     f"(SLO: {slo['success_ratio']:.2%} ok, p95 <= {slo['p95_ms']:g} ms)")
