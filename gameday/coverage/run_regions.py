"""The coverage words of a game day that ran region drills (the regions suite): both regions as this
run's environments declare them (``regions:`` of the run's environment and of its ``standby``), not the
default twin that ``platform.yaml`` describes; which region was active when the run ended; and what the
drills proved, each beside its target.

    info = region_set("regions-bench")           # {"regions": {"r1": {...}, "r2": {...}}, "front": {...}} or None
    view = rehearsed(report, exercised, info)    # {"set", "drills", "active_at_end", "proven", "not_proven", "sentence"}

Called by :mod:`gameday.coverage.report_section` with the report's region section (``report["regions"]``,
:mod:`gameday.report.regions`) already worked out. Never raises: an environment that cannot be read
leaves the region set to the inventory's description.
"""

from __future__ import annotations

from typing import Any

from ..errors import GamedayError
from ..sandbox.regions import FRONT_SUFFIX, STANDBY_SUFFIX
from ..targets.environment import Environment, load, standby

REGION_COMPONENT = "region"


def _network(net: int | None) -> str | None:
    return None if net is None else f"127.{net}.0.0/16"


def region_set(environment: str | None) -> dict[str, Any] | None:
    """Both regions of ``environment`` and its front, from the environment files: per region its
    environment, and on the twin its twin and network. None without a ``regions:`` block, or when an
    environment cannot be read."""
    if not environment:
        return None
    try:
        env = load(environment)
        if not env.regions:
            return None
        pair = [env, standby(env)]
    except GamedayError:
        return None
    regions: dict[str, dict[str, Any]] = {}
    for e in pair:
        entry: dict[str, Any] = {"environment": e.name}
        if e.kind == "sandbox":
            entry.update(twin=e.sandbox, network=_network(e.net))
        regions[str((e.regions or {}).get("name") or e.name)] = entry
    return {"regions": dict(sorted(regions.items())), "front": _front(env, pair)}


def _front(env: Environment, pair: list[Environment]) -> dict[str, Any]:
    front = dict((env.regions or {}).get("front") or {})
    if front.get("kind") == "twin":  # the twin's global HAProxy: named and numbered after the first region's twin
        first = next((e for e in pair if not e.sandbox.endswith(STANDBY_SUFFIX)), env)
        return {"kind": "twin", "twin": first.sandbox + FRONT_SUFFIX,
                "network": _network(None if first.net is None else first.net + 2)}
    if front.get("kind") == "cloud-dns":
        return {"kind": "cloud-dns", "record": front.get("record")}
    return {"kind": front.get("kind")}


def _moved(d: dict[str, Any]) -> str:
    """One drill in words, with its judged RTO beside its target and what it lost."""
    rto, target = d.get("judged_rto_s"), (d.get("targets") or {}).get("rto_s")
    took = "did not finish" if rto is None else f"RTO {rto:.1f} s" + (
        " without the decision" if d.get("kind") == "failover" else "")
    took += "" if target is None else f", target {target:g} s"
    records = (d.get("rpo") or {}).get("records")
    lost = "" if d.get("kind") == "failback" and records is None else (  # a failback without canaries says nothing
        "; RPO not measured" if records is None else "; nothing lost" if records == 0
        else f"; {records} acknowledged write{'s' if records != 1 else ''} lost, named in the region section")
    frm, to = d.get("from") or "?", d.get("to") or "?"
    what = {"switchover": f"a planned switchover from {frm} to {to}",
            "failover": f"{frm} lost and failed over to {to}",
            "failback": f"the failback from {frm} to {to}"}.get(str(d.get("kind")), f"{d.get('kind')} {frm} to {to}")
    return f"{what} ({took}{lost})"


def rehearsed(report: dict[str, Any], exercised: dict[str, list[str]],
              info: dict[str, Any] | None) -> dict[str, Any] | None:
    """What this run's region drills rehearsed and proved (None: it ran none): ``drills`` in words,
    ``active_at_end`` (the region the last move that switched the front went to), ``proven`` (region cells whose scenario met
    every target) and ``not_proven``, and the ``sentence`` the coverage headline ends with."""
    drills = (report.get("regions") or {}).get("drills") or []
    if not drills:
        return None
    passed = {s.get("name"): bool(s.get("passed")) for s in report.get("scenarios", [])}
    proven: list[str] = []
    not_proven: list[str] = []
    for name, cells in exercised.items():
        for cell in cells:
            if cell.startswith(REGION_COMPONENT + "/"):
                (proven if passed.get(name) else not_proven).append(cell)
    # the region the last move that switched the front went to (a move that failed before it moved nothing)
    active = next((d.get("to") for d in reversed(drills) if d.get("to") and d.get("rto_s") is not None), None)
    words = [_moved(d) for d in drills]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    names = " and ".join(info["regions"]) if info else "both regions"
    text = f" This game day rehearsed {names}: {listed}" + (f"; {active} was active when it ended." if active else ".")
    if proven:
        text += f" Proven within target: {', '.join(dict.fromkeys(proven))}."
    if not_proven:
        text += f" Exercised but not proven (a target missed or the drill did not finish): " \
                f"{', '.join(dict.fromkeys(not_proven))}."
    return {"set": info, "drills": words, "active_at_end": active, "proven": list(dict.fromkeys(proven)),
            "not_proven": list(dict.fromkeys(not_proven)), "sentence": text}
