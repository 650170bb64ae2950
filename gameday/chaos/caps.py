"""Blast-radius caps, counted per target: what is already down plus what a fault would take down.

Every destructive action calls :func:`check` before its fault (and in its dry run)::

    up = caps.up(tgt, "search", nodes)            # choose among these: never a member already down
    caps.check(tgt, "search", [chosen.name])      # CapExceeded naming the cap and what is down

A member is down when the target says it is not ready (a killed process, a pod not replaced yet),
when the sandbox holds it stopped, when an undo record of any run says it was stopped, or, during
the guard's dry run of an experiment (:func:`simulation`), when an earlier action of the same
experiment would take it down. The caps (``limits:`` of the environment file) are
``web_max_percent`` (of the layer's members), ``kafka_max_brokers`` and ``search_max_nodes``
(members); a layer without a cap is not checked. Over the cap: :class:`CapExceeded`, naming the cap
and what is down, before anything is touched.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Iterable, Iterator

from ..deadline import Deadline
from ..errors import UsageError
from ..targets.base import Node, Target
from . import ledger

CAPS = {"web": "web_max_percent", "kafka": "kafka_max_brokers", "search": "search_max_nodes"}
PERCENT_CAPS = {"web_max_percent"}

# layer -> names an earlier action of the experiment being dry-run would take down (None: not simulating)
_SIMULATED: contextvars.ContextVar[dict[str, list[str]] | None] = contextvars.ContextVar("gameday_caps_simulated",
                                                                                           default=None)


class CapExceeded(UsageError):
    """A blast radius above what the target's environment file allows, counting what is already down."""


@contextlib.contextmanager
def simulation() -> Iterator[None]:
    """While the guard dry-runs an experiment's actions in order: each action's ``would_touch``
    counts as down for the actions after it, so the second of two kills is refused before the first
    one happens (even if the first one's member would be back by then: the cap is conservative)."""
    token = _SIMULATED.set({})
    try:
        yield
    finally:
        _SIMULATED.reset(token)


def down(tgt: Target, layer: str, nodes: list[Node] | None = None) -> dict[str, str]:
    """Members of ``layer`` that are down now, by name, with why (see the module docstring).
    ``nodes`` saves asking the target again when the caller has just listed the layer."""
    found = {n.name: "not ready" for n in (tgt.nodes(layer) if nodes is None else nodes) if not n.ready}
    for name in tgt.held(layer):
        found.setdefault(name, "held stopped")
    for record in ledger.pending(tgt.env):
        kwargs = record.get("kwargs") or {}
        if record.get("undo") == "start_node" and kwargs.get("layer") == layer and kwargs.get("name"):
            found.setdefault(str(kwargs["name"]), f"stopped, undo pending ({record.get('reason')}, record {record.get('id')})")
    for name in (_SIMULATED.get() or {}).get(layer, []):
        found.setdefault(name, "taken down by an earlier action of this experiment")
    return found


def up(tgt: Target, layer: str, nodes: list[Node] | None = None) -> list[Node]:
    """The members of ``layer`` a choice may pick: running, and not down by any count of :func:`down`."""
    nodes = tgt.nodes(layer) if nodes is None else nodes
    gone = down(tgt, layer, nodes)
    return [n for n in nodes if n.running and n.name not in gone]


def describe(gone: dict[str, str]) -> str:
    """``search-2 (not ready), search-3 (held stopped)`` or ``nothing``."""
    return ", ".join(f"{name} ({why})" for name, why in sorted(gone.items())) or "nothing"


def check(tgt: Target, layer: str, taking: Iterable[str], *, nodes: list[Node] | None = None,
          leaves_down: bool = True) -> None:
    """Refuse (CapExceeded) a fault that would leave more of ``layer`` down than the environment's
    cap allows, counting what is already down; refuse (UsageError) taking down a member that is
    already down. On success during a dry run, records ``taking`` as down for the next actions
    (unless ``leaves_down=False``: a rolling restart has every member back when it returns)."""
    taking = list(taking)
    nodes = tgt.nodes(layer) if nodes is None else nodes
    gone = down(tgt, layer, nodes)
    again = [name for name in taking if name in gone]
    if again:
        raise UsageError(f"{', '.join(again)} is already down ({describe({n: gone[n] for n in again})}); "
                         "nothing was touched", hint="wait until it is back, or choose another member")
    key = CAPS.get(layer)
    if key is not None:
        cap = tgt.limit(key)
        total = len({n.name for n in nodes} | set(gone))
        after = len(gone) + len(taking)
        over = after * 100.0 > cap * total + 1e-9 if key in PERCENT_CAPS else after > cap + 1e-9
        if over:
            share = f" ({after * 100 // max(total, 1)}%)" if key in PERCENT_CAPS else ""
            unit = "%" if key in PERCENT_CAPS else ""
            raise CapExceeded(
                f"taking down {', '.join(taking)} would leave {after} of {total} {layer} members down"
                f"{share}, above this target's cap limits.{key} = {cap:g}{unit}; already down: {describe(gone)}; "
                "nothing was touched",
                hint=f"wait until they are back (`gameday cleanup` undoes recorded faults), or raise limits.{key} "
                     "in the environment file if you mean it")
    simulated = _SIMULATED.get()
    if simulated is not None and leaves_down:
        simulated.setdefault(layer, []).extend(taking)


def wait_until_ready(tgt: Target, *, timeout: float, interval: float = 0.5, stable_s: float = 5.0) -> dict[str, str]:
    """After the guard repaired faults an earlier run left (members it stopped, a cut that made the
    web tier unready), give the capped layers up to ``timeout`` seconds to be ready again, and to
    stay ready for ``stable_s`` seconds: readiness lags the fault, so a tier can still look ready
    at the repair and go unready a second later, when its probes that ran during the cut fail (the
    dry run then refused: "0 of 3 are up"). Returns what is still down (empty when all came back).
    Never raises for members that stay down: the dry run that follows refuses, naming them."""
    deadline = Deadline(timeout)
    still = _capped_down(tgt)
    ready_since = None if still else time.monotonic()
    while not deadline.expired():
        if not still and ready_since is not None and time.monotonic() - ready_since >= stable_s:
            return {}
        time.sleep(min(interval, max(0.0, deadline.remaining())))
        still = _capped_down(tgt)
        if still:
            ready_since = None
        elif ready_since is None:
            ready_since = time.monotonic()
    return still


def _capped_down(tgt: Target) -> dict[str, str]:
    return {f"{layer}/{name}": why for layer in CAPS for name, why in down(tgt, layer).items()}
