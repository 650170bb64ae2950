"""The sandbox's inventory, generated from the twin: one component per platform workload of its
topology (a combined KRaft pool gives brokers and controllers), the ``region`` component (both
regions and the front of ``up --regions 2``, :mod:`.regions`), members and endpoints from the
topology, dependencies from the addresses each workload is configured to reach (through toxiproxy
when it sits in between), failure modes and signals from :mod:`.knowledge`, and links from what the
experiments and playbooks claim (:mod:`.claims`). A component only some twins run
(:data:`.knowledge.ONLY_WITH`: the WordPress tier's relay and object cache) that this twin does not run
is listed under ``absent``: claims naming it are not problems, and it has no cell here.

    data = generate(Twin.create("default", net=10), claims.scan(ROOT))   # a gameday.platform/v1 dict
    text = render(data)                                                   # platform.yaml's text
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import zones
from ..sandbox import topology as twin_topology
from ..sandbox.members import cdn, lb, toxiproxy, wordpress
from ..sandbox.spec import Topology, Workload
from ..sandbox.twin import DB_ENDPOINT_INDEX, Twin
from . import knowledge
from . import regions as region_set
from .claims import Claim, by_cell
from .inventory import SCHEMA, dump

COMMAND = "gameday coverage inventory --sandbox --write"
HEADER = f"""\
# The sandbox twin's platform inventory (schema {SCHEMA}): components, dependencies, failure modes,
# the signals that detect each, and the experiments and playbooks that cover each.
# GENERATED from the twin's topology (gameday/sandbox/topology.py), gameday/coverage/knowledge.py and
# the `gameday-coverage` claims of experiments/ and recovery_playbooks/. Do not edit: run
#   {COMMAND}
# Addresses are the default twin's (GAMEDAY_SANDBOX_NET=10). The GKE example: inventory/gke-production.yaml.
"""
HOST_PORT = re.compile(r"\b(127\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::(\d{1,5}))?\b")


def _components_of(w: Workload) -> tuple[str, ...]:
    """Component ids a workload realises ((): harness); an unknown workload is its own component."""
    if w.name in knowledge.HARNESS or w.kind == "job":
        return ()
    if w.name in knowledge.PART_OF:  # a second workload of one component (the database's replica)
        return (knowledge.PART_OF[w.name],)
    if w.name in knowledge.COMPONENT_OF:  # named otherwise on the platform (relay -> event-relay)
        return (knowledge.COMPONENT_OF[w.name],)
    if w.name == "kafka":
        pool = w.members[0].labels.get("strimzi.io/pool-name", "combined") if w.members else "combined"
        return knowledge.KAFKA_POOLS.get(pool, knowledge.KAFKA_POOLS["combined"])
    if w.name == "web" and _runs_wordpress(w):
        return (w.name, *knowledge.WORDPRESS_WEB_ALSO)  # its uploads: the media store (WP_CONTENT_DIR)
    return (w.name,)


def _runs_wordpress(w: Workload) -> bool:
    """Its members run WordPress's launcher (the twin's ``--web wordpress`` tier)."""
    return bool(w.members) and "gameday.sandbox.wordpress.launch" in w.members[0].argv


def _served_by(w: Workload) -> tuple[str, ...]:
    """The components a client of workload ``w`` talks to (Kafka clients reach brokers, not controllers)."""
    ids = _components_of(w)
    return tuple(c for c in ids if c not in knowledge.INTERNAL) or ids


def _texts(twin: Twin, w: Workload) -> list[str]:
    """Everything a workload is configured with that can name another member's address."""
    texts = [v for m in w.members for v in [*m.env.values(), *m.argv]]
    if w.name == "lb":  # not its public front door: the CDN's edges are where it sends readers, with itself as
        # the fallback when none answers (the CDN depends on the load balancer, not the other way round)
        texts.append(lb.haproxy_cfg(twin).replace(lb.front_door_cfg(twin), ""))
    if w.name == cdn.WORKLOAD:  # its origin is in its VCL
        texts.append(cdn.default_backend(twin))
    if w.name == "toxiproxy":  # only its upstreams: the listen side is its own address
        texts += [p["upstream"] for p in toxiproxy.proxies(twin)]
    if _runs_wordpress(w):  # its database, search and cache are in its wp-config.php, not its argv
        config = wordpress.settings(twin, **twin_topology.wordpress_options(twin))
        texts += [config[k] for k in ("DB_HOST", "SEARCH_URLS", "CACHE_ADDR")]  # not its own site addresses
    return texts


def _hosts_reached(text: str, via: dict[str, str]) -> list[str]:
    """The addresses ``text`` names, each ``host:port`` that is a toxiproxy listener followed to the
    member behind it (``via``: listen -> upstream; a proxy may forward to another proxy)."""
    out = []
    for host, port in HOST_PORT.findall(text):
        addr = f"{host}:{port}" if port else host
        for _ in range(len(via)):
            if addr not in via:
                break
            addr = via[addr]
        out.append(addr.rsplit(":", 1)[0] if ":" in addr else addr)
    return out


def dependencies(twin: Twin, topo: Topology) -> dict[str, set[str]]:
    """Workload -> workloads it reaches, read from addresses in its configuration (self excluded). An
    address of toxiproxy's with the port of one of its proxies is the member that proxy forwards to (a
    client reaching the database through it depends on the database, not on the proxies to Kafka)."""
    owner = {m.address: w.name for w in topo.workloads for m in w.members if m.address}
    owner[twin.address("db", DB_ENDPOINT_INDEX)] = "db"  # the database's stable endpoint (at its primary)
    via = {p["listen"]: p["upstream"] for p in toxiproxy.proxies(twin)}
    out: dict[str, set[str]] = {}
    for w in topo.workloads:
        found = {owner[a] for text in _texts(twin, w) for a in _hosts_reached(text, via) if a in owner}
        out[w.name] = found - {w.name}
    return out


def _through_harness(deps: dict[str, set[str]], harness: set[str]) -> dict[str, set[str]]:
    """Replace a dependency on a harness workload (toxiproxy) with what that workload forwards to."""
    out = {}
    for name, targets in deps.items():
        resolved: set[str] = set()
        for t in targets:
            resolved |= (deps.get(t, set()) - {name}) if t in harness else {t}
        out[name] = resolved
    return out


def _endpoints(w: Workload, component: str) -> list[str]:
    port_name = knowledge.ENDPOINT_PORT.get(component)
    out = []
    for m in w.members:
        if not m.address or not m.ports:
            continue
        port = m.ports.get(port_name) if port_name else next(iter(m.ports.values()))
        out.append(f"{m.address}:{port}" if port else m.address)
    return out


def _standby(topo: Topology, cid: str) -> dict[str, str]:
    """``{"standby": workload}`` when the twin runs the workload that takes over for ``cid``."""
    name = knowledge.STANDBY.get(cid)
    return {"standby": name} if name and any(w.name == name for w in topo.workloads) else {}


def generate(twin: Twin, found: list[Claim], topo: Topology | None = None) -> dict[str, Any]:
    """The ``gameday.platform/v1`` dict of a twin (nothing is started or written)."""
    topo = topo or twin_topology.build(twin)
    harness_names = {w.name for w in topo.workloads if not _components_of(w)}
    deps = _through_harness(dependencies(twin, topo), harness_names)
    links = by_cell(found)
    components, harness = [], []
    by_id: dict[str, dict[str, Any]] = {}
    for w in topo.workloads:
        ids = _components_of(w)
        if len(ids) == 1 and ids[0] in by_id:  # realised by more than one workload: one component
            realised = by_id[ids[0]]["realised_by"]
            realised["members"] += [m.name for m in w.members[:w.replicas]]
            realised["endpoints"] += _endpoints(w, ids[0])[:w.replicas]
            continue
        if not ids:
            harness.append({"workload": w.name, "kind": w.kind, "purpose": knowledge.HARNESS.get(w.name, w.kind),
                            "members": [m.name for m in w.members[:w.replicas]]})
            continue
        for cid in ids:
            known = knowledge.COMPONENTS.get(cid, {"name": cid, "kind": w.kind, "layer": w.layer,
                                                   "description": f"workload {w.name} of the twin",
                                                   "failure_modes": []})
            depends = {c for d in deps[w.name] for c in _served_by(topo.workload(d)) if c != cid}
            depends |= set(knowledge.IMPLIED_DEPENDENCIES.get(cid, ()))
            if cid == "kafka-controllers":
                depends.discard("kafka-brokers")
            if cid in knowledge.WORDPRESS_WEB_ALSO:  # the store needs none of what the replicas' pages need
                depends = set()
            modes = []
            for mode_id, title, signals in known["failure_modes"]:
                cell = links.get(f"{cid}/{mode_id}", {"experiments": [], "playbooks": []})
                modes.append({"id": mode_id, "title": title, "signals": list(signals),
                              "experiments": sorted(cell["experiments"]), "playbooks": sorted(cell["playbooks"])})
            by_id[cid] = {
                "id": cid, "name": known["name"], "layer": known["layer"], "kind": known["kind"],
                "description": known["description"], "depends_on": sorted(depends),
                "realised_by": {"workload": w.name, "replicas": w.replicas, "max_replicas": w.max_replicas,
                                "members": [m.name for m in w.members[:w.replicas]],
                                "endpoints": _endpoints(w, cid)[:w.replicas], **_standby(topo, cid)},
                "failure_modes": modes,
            }
            components.append(by_id[cid])
    components.append(region_set.component(twin, links))  # both regions and the front (up --regions 2)
    add_zones(topo, components, harness)
    absent = [{"id": cid, "why": why, "failure_modes": [m[0] for m in knowledge.COMPONENTS[cid]["failure_modes"]]}
              for cid, why in knowledge.ONLY_WITH.items() if cid not in by_id]
    return {"schema": SCHEMA, "platform": "sandbox",
            "description": "The local twin: real servers on loopback, one member per process "
                           f"(twin {twin.name!r}, network 127.{twin.net}.0.0/16).",
            "generated_by": COMMAND, "components": components, "harness": harness,
            **({"absent": absent} if absent else {})}


def add_zones(topo: Topology, components: list[dict[str, Any]], harness: list[dict[str, Any]]) -> None:
    """Each component's members by zone (their ``zone`` labels) and whether it survives losing any one
    zone (:func:`gameday.zones.survivability`), in ``realised_by``; each harness workload's zones."""
    zone_of = {m.name: m.labels.get(zones.LABEL) for w in topo.workloads for m in w.members}
    for c in components:
        rb = c["realised_by"]
        if c["id"] == region_set.ID:
            continue  # its members are whole twins, each spread over every zone
        verdict = zones.survivability(c["id"], {m: zone_of.get(m) for m in rb["members"]})
        rb.update(zones=verdict.zones, survives_zone_loss=verdict.survives, zone_loss=verdict.why)
    for h in harness:
        h["zones"] = sorted({zone_of.get(m) or "unlabelled" for m in h["members"]})


def render(data: dict[str, Any]) -> str:
    """``platform.yaml``'s text for a generated dict."""
    return dump(json.loads(json.dumps(data)), header=HEADER)
