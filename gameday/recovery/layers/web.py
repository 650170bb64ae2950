"""Web tier and load balancer: bring the replica count back, replace replicas that stay not ready,
verify through the load balancer."""

from __future__ import annotations

import requests

from ... import hostguard
from ...errors import GamedayError
from ..context import Context
from ..engine import Finding, Part, Step
from ...targets.members import Member
from . import site_probe
from .common import member_findings, member_steps, members_ready

WEB_GRACE_S = 20.0
LB_GRACE_S = 20.0


def readyz_reason(ctx: Context, m: Member) -> str:
    """What the replica's own health check says (the environment's ``health.web``: path, port,
    scheme; the site's readiness checks the database)."""
    check = ctx.target.health_check("web")
    path = check["path"]
    try:
        with hostguard.session(refuse=False) as session:
            r = session.get(f"{check['scheme']}://{m.address}:{check['port']}{path}", timeout=2)
    except requests.RequestException as err:
        return f"{path} did not answer ({type(err).__name__})"
    if hostguard.redirected_to(r):
        return f"{path}: HTTP {r.status_code} redirect to another host ({hostguard.redirected_to(r)})"
    return "" if r.status_code == 200 else f"{path}: {r.text.strip()[:160]}"


def waits_for_dependency(ctx: Context, m: Member) -> str | None:
    reason = readyz_reason(ctx, m)
    if "database" in reason:
        return f"{reason} (a fresh replica would wait for the database too: restore db first)"
    return None


def diagnose_lb(ctx: Context) -> list[Finding]:
    return member_findings(ctx, "lb", grace_s=LB_GRACE_S)


RESTART_REQUESTED = "web.rolling-restart-requested"


def diagnose_web(ctx: Context) -> list[Finding]:
    found = member_findings(ctx, "web", grace_s=WEB_GRACE_S)
    if ctx.state.rolling_restart:  # `gameday playbook web --rolling-restart`: asked for, not diagnosed
        found.append(Finding(RESTART_REQUESTED, "a rolling restart of the web tier was asked for "
                             "(e.g. to pick up a rotated secret or clear a bad in-process state)"))
    by_name = {m.name: m for m in ctx.target.view("web").members}
    for f in found:
        if f.code in ("web.members-stuck", "web.members-starting"):
            f.data["readyz"] = {name: readyz_reason(ctx, by_name[name]) for name in f.data["members"] if name in by_name}
    try:
        return found + site_probe.quick_look(ctx)
    except GamedayError as err:  # e.g. the load balancer's address is unknown
        return found + [Finding("web.site-failing", f"the site cannot be reached: {err}")]


LB = Part("lb", diagnose_lb, member_steps("lb", grace_s=LB_GRACE_S, deadline_s=60, what="load balancer"))

def rolling_restart(ctx: Context) -> str:
    restarted = ctx.target.restart("web", timeout=ctx.remaining(240))
    ctx.state.rolling_restart = False  # done: the diagnosis after the restore no longer asks for it
    return f"rolling restart of {', '.join(restarted)}: every replica replaced one at a time"


WEB = Part("web", diagnose_web, member_steps("web", grace_s=WEB_GRACE_S, deadline_s=90, what="web",
                                            keep=waits_for_dependency, explain=readyz_reason) + (
    Step("rolling-restart-web", "Replace every web replica one at a time (Kubernetes: rollout restart), "
         "each ready before the next goes", deadline_s=300, when=(RESTART_REQUESTED,), act=rolling_restart,
         check=members_ready("web", extra=readyz_reason)),
    Step("verify-web-members", "Every web replica is running and ready", deadline_s=60,
         kind="verify", check=members_ready("web", extra=readyz_reason)),
    Step("verify-site", "The site meets its SLO through the load balancer", deadline_s=90,
         kind="verify", check=site_probe.meets_slo),
))
