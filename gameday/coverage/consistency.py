"""Consistency between the inventory and the catalog: every name an experiment or playbook covers is
in the inventory (or names a failure mode of a component the inventory lists as ``absent``: one this
environment does not run, so no cell of it here), and every file the inventory links exists.

    check(inv, claims.scan(ROOT), ROOT)     # None, or one UsageError (exit 2) naming every problem
    problems(inv, found, ROOT)              # the same as a list of (message, hint)
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .claims import Claim
from .inventory import Inventory


def _where(inv: Inventory) -> str:
    return str(inv.path.name if inv.path else "the inventory")


def problems(inv: Inventory, found: list[Claim], root: Path) -> list[tuple[str, str]]:
    """Every problem as (message, hint); claims naming the same missing name share one message."""
    out: list[tuple[str, str]] = []
    name = _where(inv)
    missing: dict[tuple[str, str | None], list[str]] = {}  # (component, mode or None) -> sources naming it
    for claim in found:
        component = inv.component(claim.component)
        absent = inv.absent_component(claim.component) if component is None else None
        if absent is not None and claim.mode in absent["failure_modes"]:
            continue  # a component this environment does not run: no cell here, not a problem
        if component is None and absent is not None:
            key = (claim.component, claim.mode)
            if claim.source not in missing.setdefault(key, []):
                missing[key].append(claim.source)
            continue
        if component is None:
            key = (claim.component, None)
        elif component.mode(claim.mode) is None:
            key = (claim.component, claim.mode)
        else:
            continue
        if claim.source not in missing.setdefault(key, []):
            missing[key].append(claim.source)
    for (cid, mode), sources in missing.items():
        named_by = f"named by {', '.join(sources)}"
        if mode is None:
            known = ", ".join(c.id for c in inv.components)
            out.append((f"{name} has no component {cid!r} ({named_by})",
                        f"components: {known}; fix the `covers` name or add the component to {name}"))
        elif inv.component(cid) is None:  # absent here, and the mode is not one of its failure modes
            known = ", ".join(inv.absent_component(cid)["failure_modes"]) or "none"
            out.append((f"component {cid!r} (not run in {name}) has no failure mode {mode!r} ({named_by})",
                        f"failure modes of {cid}: {known}; fix the `covers` name or add it to {name}"))
        else:
            known = ", ".join(m.id for m in inv.component(cid).failure_modes) or "none"
            out.append((f"component {cid!r} in {name} has no failure mode {mode!r} ({named_by})",
                        f"failure modes of {cid}: {known}; fix the `covers` name or add it to {name}"))
    for component, mode in inv.cells():
        for kind, paths in (("experiment", mode.experiments), ("playbook", mode.playbooks)):
            for rel in paths:
                if not (root / rel).is_file():
                    out.append((f"{name}: {component.id}/{mode.id} links {kind} {rel}, which does not exist",
                                f"fix the path (relative to {root}) or remove the link"))
    return out


def check(inv: Inventory, found: list[Claim], root: Path) -> None:
    """Raise one :class:`UsageError` listing every problem (one line), or return."""
    found_problems = problems(inv, found, root)
    if not found_problems:
        return
    hints: list[str] = []
    for _, hint in found_problems:
        if hint not in hints:
            hints.append(hint)
    count = len(found_problems)
    message = (f"{count} coverage problem{'s' if count > 1 else ''}: " if count > 1 else "") + \
        "; ".join(message for message, _ in found_problems)
    raise UsageError(message, hint="; ".join(hints))
