"""Member-level diagnosis and steps every layer shares: bring the replica count back, start held
members, replace members that stay not-ready, wait until every member is ready."""

from __future__ import annotations

from typing import Callable

from ..context import Context
from ..engine import Check, Finding, Step
from ...targets.members import LayerView, Member


def names(members: list[Member]) -> str:
    return ", ".join(m.name for m in members)


def member_findings(ctx: Context, layer: str, *, grace_s: float) -> list[Finding]:
    view = ctx.target.view(layer)
    found = []
    for workload, (now, want) in view.scaled_down.items():
        found.append(Finding(f"{layer}.members-missing", f"{workload} is scaled to {now} of {want} replicas",
                             {"workload": workload, "replicas": now, "baseline": want}))
    if view.held:
        found.append(Finding(f"{layer}.members-missing",
                             f"{names(view.held)} {'is' if len(view.held) == 1 else 'are'} stopped and nothing "
                             f"will start {'it' if len(view.held) == 1 else 'them'} again", {"members": [m.name for m in view.held]}))
    restarting = view.restarting()
    if restarting:
        found.append(Finding(f"{layer}.members-restarting", f"{names(restarting)} crashed and "
                             f"{'is' if len(restarting) == 1 else 'are'} being restarted by the platform",
                             {"members": [m.name for m in restarting]}))
    stuck = view.stuck(grace_s)
    if stuck:
        found.append(Finding(f"{layer}.members-stuck", f"{names(stuck)} running for over {grace_s:g}s but not ready",
                             {"members": [m.name for m in stuck]}))
    starting = [m for m in view.not_ready() if m not in stuck]
    if starting:
        found.append(Finding(f"{layer}.members-starting", f"{names(starting)} starting, not ready yet",
                             {"members": [m.name for m in starting]}))
    return found


def start_missing(layer: str) -> Callable[[Context], str]:
    def act(ctx: Context) -> str:
        view = ctx.target.view(layer)
        did = []
        for workload, (now, want) in view.scaled_down.items():
            ctx.target.scale(workload, want)
            did.append(f"scaled {workload} {now} -> {want}")
        if did:
            view = ctx.target.view(layer)  # members scaled away while held count as held again
        for m in view.held:
            ctx.target.start_member(m.name)
            did.append(f"started {m.name}")
        return "; ".join(did) or f"nothing to start ({layer} members are running or restarting)"
    return act


def replace_stuck(layer: str, *, grace_s: float,
                  keep: Callable[[Context, Member], str | None] | None = None) -> Callable[[Context], str]:
    """Replace members not ready for over ``grace_s``; ``keep`` may say why one should be left alone
    (e.g. it waits for a dependency that a fresh process would wait for too)."""
    def act(ctx: Context) -> str:
        did = []
        for m in ctx.target.view(layer).stuck(grace_s):
            why = keep(ctx, m) if keep else None
            if why:
                did.append(f"left {m.name} alone: {why}")
                continue
            ctx.target.replace_member(m.name)
            did.append(f"replaced {m.name} (killed; the platform starts a fresh one)")
        return "; ".join(did) or f"no {layer} member stuck any more"
    return act


def describe_view(view: LayerView) -> str:
    bad = [f"{m.name} {m.state}{'' if m.running else ''}{', not ready' if m.running and not m.ready else ''}"
           for m in view.members if not (m.running and m.ready)]
    return "; ".join(bad)


def members_ready(layer: str, *, extra: Callable[[Context, Member], str] | None = None) -> Callable[[Context], Check]:
    def check(ctx: Context) -> Check:
        view = ctx.target.view(layer)
        if view.scaled_down:
            return Check(False, "; ".join(f"{w} at {n} of {b} replicas" for w, (n, b) in view.scaled_down.items()))
        bad = [m for m in view.members if not (m.running and m.ready and m.state == "running")]  # not "stopping"
        if bad:
            words = []
            for m in bad:
                why = extra(ctx, m) if extra and m.running and m.state == "running" else ""
                state = "not ready" if m.running and m.state == "running" else m.state
                words.append(f"{m.name} {state}{': ' + why if why else ''}")
            return Check(False, "; ".join(words))
        return Check(True, f"{len(view.members)} of {len(view.members)} {layer} members ready")
    return check


def member_steps(layer: str, *, grace_s: float, deadline_s: float, what: str,
                 keep: Callable[[Context, Member], str | None] | None = None,
                 explain: Callable[[Context, Member], str] | None = None) -> tuple[Step, ...]:
    ready = members_ready(layer, extra=explain)
    return (
        Step(f"start-{layer}", f"Bring the {what} replica count back: scale up, start stopped members, "
             "wait until every one is ready", deadline_s=deadline_s,
             when=(f"{layer}.members-missing", f"{layer}.members-restarting", f"{layer}.members-starting"),
             act=start_missing(layer), check=ready),
        Step(f"replace-stuck-{layer}", f"Replace {what} members not ready after {grace_s:g}s, wait until ready",
             deadline_s=deadline_s, when=(f"{layer}.members-stuck",),
             act=replace_stuck(layer, grace_s=grace_s, keep=keep), check=ready),
    )
