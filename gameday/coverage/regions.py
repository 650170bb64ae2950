"""The region component of the sandbox's inventory, and the region set as the coverage map shows it.

The twin in two regions is three twins (:mod:`gameday.sandbox.regions`): ``NAME`` (region r1, the
full twin), ``NAME-r2`` (r2, a warm standby on the next network) and ``NAME-global`` (the global
front, the network after). Names, networks and sizes follow from the first twin and the shapes
(:mod:`gameday.sandbox.shape`), so ``platform.yaml`` lists both regions whether or not they run here::

    component(twin, links)      # the ``region`` component of platform.yaml (gameday.coverage.sandbox)
    described(inv)              # {"component", "regions": {name: {...}}, "front": {...}} or None
    with_live_state(info, inv)  # the same plus "configured" and "active" read from this machine's front

A hand-written inventory (``inventory/gke-production.yaml``) declares the same ``realised_by`` keys
(``regions``, ``front``) for its two clusters.
"""

from __future__ import annotations

from typing import Any

from ..errors import GamedayError
from ..sandbox.regions import FRONT_SUFFIX, REGION_NAMES, STANDBY_SUFFIX
from ..sandbox.shape import Shape, Upstream
from ..sandbox.twin import LAYERS, PORTS, Twin
from . import knowledge

ID = "region"
COMMAND = "gameday sandbox up --regions 2"


def _address(net: int, layer: str = "lb") -> str:
    return f"127.{net}.{LAYERS[layer]}.1:{PORTS['lb']}"


def _size(shape: Shape) -> str:
    parts = [f"{shape.web_replicas} web", f"{shape.indexer_replicas} indexer{'s' if shape.indexer_replicas > 1 else ''}",
             f"{shape.search_nodes} search node{'s' if shape.search_nodes > 1 else ''}"]
    if shape.standby:
        parts += [f"the database a cross-region replica of {shape.upstream.region}",
                  f"Kafka fed by MirrorMaker 2 from {shape.upstream.region}"]
    else:
        parts += [f"the database primary and {shape.db_replicas} in-region replica", "Kafka"]
    return ", ".join(parts)


def component(twin: Twin, links: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """The ``region`` component for a twin named like ``twin`` that ``up --regions 2`` would run: r1
    full size (the default shape), r2 its warm standby (:meth:`Shape.standby_of`), the front before both."""
    first, second = REGION_NAMES
    standby_name, front_name = twin.name + STANDBY_SUFFIX, twin.name + FRONT_SUFFIX
    shapes = {first: Shape(region=first),
              second: Shape.standby_of(second, Upstream(twin=twin.name, net=twin.net, region=first), index=2)}
    nets = {first: twin.net, second: twin.net + 1}
    names = {first: twin.name, second: standby_name}
    known = knowledge.COMPONENTS[ID]
    modes = []
    for mode_id, title, signals in known["failure_modes"]:
        cell = links.get(f"{ID}/{mode_id}", {"experiments": [], "playbooks": []})
        modes.append({"id": mode_id, "title": title, "signals": list(signals),
                      "experiments": sorted(cell["experiments"]), "playbooks": sorted(cell["playbooks"])})
    return {
        "id": ID, "name": known["name"], "layer": known["layer"], "kind": known["kind"],
        "description": known["description"], "depends_on": ["lb"],  # the front reaches each region's load balancer
        "realised_by": {
            "workload": "regions", "replicas": len(REGION_NAMES), "max_replicas": len(REGION_NAMES),
            "members": [names[r] for r in REGION_NAMES], "endpoints": [_address(twin.net + 2)],
            "regions": {r: {"twin": names[r], "network": f"127.{nets[r]}.0.0/16", "load_balancer": _address(nets[r]),
                            "role": "the active region at first" if r == first else f"the warm standby of {first}",
                            "size": _size(shapes[r])} for r in REGION_NAMES},
            "front": {"twin": front_name, "network": f"127.{twin.net + 2}.0.0/16", "address": _address(twin.net + 2),
                      "role": "one HAProxy before both regions' load balancers, sending readers to the active one "
                              "(a global load balancer or DNS)"},
            "command": COMMAND,
        },
        "failure_modes": modes,
    }


def described(inv: Any) -> dict[str, Any] | None:
    """Both regions and the front as the inventory declares them (its ``region`` component's
    ``realised_by``); None when the inventory has no region set."""
    c = inv.component(ID)
    rb = (c.realised_by or {}) if c else {}
    if not isinstance(rb.get("regions"), dict) or len(rb["regions"]) < 2:
        return None
    return {"component": ID, "regions": rb["regions"], "front": rb.get("front") or {}, "command": rb.get("command")}


def with_live_state(info: dict[str, Any] | None, inv: Any) -> dict[str, Any] | None:
    """For the sandbox: whether this machine's region set exists (``up --regions 2`` made its front)
    and which region is active now; a GKE inventory's set is returned as declared."""
    if info is None or inv.platform != "sandbox":
        return info
    first = next(iter(info["regions"].values()))
    try:
        net = int(str(first.get("network", "")).split(".")[1])
        from ..sandbox.regions import Regions
        regions = Regions.of(Twin.create(str(first.get("twin")), net))
        configured = regions.configured()
        active = regions.active() if configured else None
    except (GamedayError, ValueError, IndexError, OSError) as err:
        return {**info, "configured": None, "active": None, "live_error": str(err)[:300]}
    return {**info, "configured": configured, "active": active}


def sentence(info: dict[str, Any] | None) -> str:
    """``Two regions: r1 (twin default, 127.10.0.0/16) and r2 (...), readers through default-global; r1 active now.``"""
    if not info:
        return ""
    parts = [f"{name} ({r.get('twin') or r.get('environment') or r.get('cluster') or name}"
             + (f", {r['network']}" if r.get("network") else "") + ")" for name, r in info["regions"].items()]
    front = info.get("front") or {}
    where = front.get("twin") or front.get("service") or front.get("record")
    text = f" Two regions: {' and '.join(parts)}" + (f", readers through {where}" if where else "")
    if info.get("active"):
        text += f"; {info['active']} is active now"
    elif info.get("configured") is False:
        text += f"; not running here ({info.get('command') or COMMAND} starts them)"
    return text + "."
