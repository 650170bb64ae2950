"""Zones: where each member of the platform runs, and whether a component survives losing one.

Zones are declared, never inferred. Every member of the twin carries a ``zone`` label (on GKE: the
node's ``topology.kubernetes.io/zone``)::

    zone_for(4)                     # "zone-a": member i of a spread layer is in zone (i-1) % 3
    verdict = survivability("kafka-brokers", {"kafka-1": "zone-a", "kafka-2": "zone-b", "kafka-3": "zone-c"})
    verdict.survives, verdict.single_point, verdict.why

A member labelled :data:`REGIONAL` stands for a regional cloud service (a Google Cloud load balancer,
a network proxy the platform does not own): losing one zone does not lose it, and the zone fault does
not touch it. A component survives the loss of a zone when its members are in at least two zones and
what is left in the worst case still meets its quorum (:data:`NEEDS`: Kafka's min ISR, the KRaft and
search cluster-manager majorities; the database through failover of its primary to the replica in
another zone). A component whose members are all in one zone, or that has a single member, does not
survive and is flagged a single point of failure. Pure functions: the coverage map
(:mod:`gameday.coverage`), the report and the zone fault (``Target.lose_zone``) use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

LABEL = "zone"
ZONES = ("zone-a", "zone-b", "zone-c")
REGIONAL = "regional"

# component id -> (members that must be left after losing a zone, why)
NEEDS: dict[str, tuple[int, str]] = {
    "kafka-brokers": (2, "min ISR 2 of replication factor 3: acks=all writes need two in-sync replicas"),
    "kafka-controllers": (2, "the KRaft quorum needs a majority of its 3 voters"),
    "search": (2, "the cluster-manager quorum needs a majority of 3 nodes; every shard has a copy on another node"),
    "db": (1, "through failover: the replica in another zone is promoted and the endpoint repointed"),
}
DEFAULT_NEED = (1, "any one member serves; capacity shrinks")


def zone_for(index: int) -> str:
    """The zone of member ``index`` (1-based) of a layer spread over the three zones: round robin."""
    if index < 1:
        raise ValueError(f"member indexes start at 1, not {index}")
    return ZONES[(index - 1) % len(ZONES)]


@dataclass(frozen=True)
class Verdict:
    """Whether ``component`` survives losing any one zone, and why (one sentence)."""

    component: str
    zones: dict[str, list[str]] = field(default_factory=dict)  # zone -> members, in zone order
    survives: bool = False
    single_point: bool = False  # a single instance, or every member in one zone
    regional: bool = False
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"component": self.component, "zones": self.zones, "survives_zone_loss": self.survives,
                "single_point_of_failure": self.single_point, "regional": self.regional, "why": self.why}


def _by_zone(members: Mapping[str, str | None]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, zone in members.items():
        out.setdefault(zone or "unlabelled", []).append(name)
    order = {z: i for i, z in enumerate((*ZONES, REGIONAL))}
    return {z: sorted(out[z]) for z in sorted(out, key=lambda z: (order.get(z, len(order)), z))}


def survivability(component: str, members: Mapping[str, str | None], *, need: int | None = None) -> Verdict:
    """The verdict for a component realised by ``members`` (member name -> its zone label; None or
    missing: unlabelled, which counts as a zone of its own). ``need`` overrides :data:`NEEDS`."""
    by_zone = _by_zone(members)
    need_n, reason = NEEDS.get(component, DEFAULT_NEED)
    if need is not None:
        need_n = need
    total = len(members)
    if total == 0:
        return Verdict(component, by_zone, survives=False, single_point=False, why="no members")
    if set(by_zone) == {REGIONAL}:
        return Verdict(component, by_zone, survives=True, single_point=False, regional=True,
                       why="regional: it stands for a regional cloud service (not lost with a zone); "
                           "the zone fault does not touch it")
    if total == 1:
        only = next(iter(by_zone))
        return Verdict(component, by_zone, survives=False, single_point=True,
                       why=f"a single instance ({next(iter(members))} in {only}): losing {only} loses it")
    if len(by_zone) == 1:
        only = next(iter(by_zone))
        return Verdict(component, by_zone, survives=False, single_point=True,
                       why=f"every member is in {only}: losing it loses all {total}")
    worst_zone, left = min(((z, total - len(names)) for z, names in by_zone.items() if z != REGIONAL),
                           key=lambda zl: (zl[1], zl[0]))
    survives = left >= need_n
    lost = f"losing any one zone leaves at least {left}" if survives else f"losing {worst_zone} leaves {left}"
    why = f"{lost} of {total}; it needs {need_n} ({reason})"
    return Verdict(component, by_zone, survives=survives, single_point=False, why=why)


def check_zone(zone: str, known: list[str] | tuple[str, ...] = ZONES) -> str:
    """``zone`` when it is one of ``known`` (the regional label is not a zone that can be lost), else
    ValueError naming the zones."""
    if zone not in known:
        raise ValueError(f"zone must be one of {', '.join(known)}, not {zone!r}")
    return zone
