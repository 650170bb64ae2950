"""PodDisruptionBudgets, counted live (pure: unit-tested without a cluster).

A deletion is not an eviction, so the API server does not check budgets for a pod kill; the
Kubernetes target asks :func:`blocking_budgets` (one pod) or :func:`budgets_exceeded` (several at
once) before touching anything.
"""

from __future__ import annotations

from typing import Any

from .kubernetes_pods import deleting, pod_ready
from .kubernetes_selectors import selector_matches


def disruptions_allowed(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> int:
    """How many of the budget's pods may go now: the disruption controller's ``disruptionsAllowed``,
    but never more than the healthy pods counted now less ``desiredHealthy`` (the controller's own
    figure lags a deletion that just happened)."""
    status = pdb.get("status") or {}
    if "disruptionsAllowed" not in status or status.get("observedGeneration") != pdb["metadata"].get("generation"):
        return 0  # the controller has not judged this budget yet: as Kubernetes does, allow nothing
    selected = [p for p in pods if selector_matches(pdb["spec"].get("selector"), p["metadata"].get("labels") or {})]
    healthy_now = sum(1 for p in selected if pod_ready(p) and not deleting(p))
    return max(0, min(int(status["disruptionsAllowed"]), healthy_now - int(status.get("desiredHealthy", 0))))


def budgets_exceeded(chosen: list[dict[str, Any]], pdbs: list[dict[str, Any]],
                     pods: list[dict[str, Any]]) -> list[str]:
    """For taking every pod in ``chosen`` at once: ``"<budget>: 2 of its pods, it allows 1"`` for
    each budget that would be broken (not-ready pods cost a budget nothing)."""
    out = []
    for b in pdbs:
        hit = sum(1 for p in chosen if pod_ready(p) and not deleting(p)
                  and selector_matches(b["spec"].get("selector"), p["metadata"].get("labels") or {}))
        allowed = disruptions_allowed(b, pods)
        if hit > allowed:
            out.append(f"{b['metadata']['name']}: {hit} of its pods, it allows {allowed} now")
    return out


def blocking_budgets(pod: dict[str, Any], pdbs: list[dict[str, Any]], pods: list[dict[str, Any]]) -> list[str]:
    """Names of the budgets selecting ``pod`` that allow no disruption now. A pod that is not
    ready costs a budget nothing (Kubernetes lets such a pod go too)."""
    labels = pod["metadata"].get("labels") or {}
    if not pod_ready(pod):
        return []
    return [b["metadata"]["name"] for b in pdbs
            if selector_matches(b["spec"].get("selector"), labels) and disruptions_allowed(b, pods) < 1]
