"""Zone probes: where each layer's members run and whether the layer survives losing a zone (as
declared), and, during a zone outage, what the zone took from each layer and whether what is left
still serves (as observed)."""

from typing import Any, Dict

from ... import kafka_admin, outbox, zones
from ...errors import GamedayError
from .. import ledger
from ..context import activity, target

__all__ = ["zone_layout", "zone_outage"]

LAYERS = ("lb", "web", "db", "kafka", "search", "indexer", "events", "cache")  # a layer with no member is left out
RELAY_STALL_S = 30.0  # an outbox row unsent longer than this while the zone is down: nothing relays
COMPONENT = {"kafka": "kafka-brokers"}  # the layer's quorum rule (gameday.zones.NEEDS) is its component's


@activity
def zone_layout(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Each layer's members by zone and whether the layer survives losing any one zone (declared:
    :func:`gameday.zones.survivability`): ``{"layers": {layer: {"zones", "survives_zone_loss",
    "single_point_of_failure", "regional", "why"}}, "db_primary", "db_primary_zone"}``."""
    tgt = target(configuration, lock=False)
    layers = {}
    for layer in LAYERS:
        members = {n.name: n.labels.get(zones.LABEL) for n in tgt.nodes(layer)}
        if members:
            verdict = zones.survivability(COMPONENT.get(layer, layer), members).to_dict()
            layers[layer] = {k: v for k, v in verdict.items() if k != "component"}
    roles = tgt.db_roles()
    primary = roles and roles["primary"]
    node = next((n for n in tgt.nodes("db") if n.name == primary), None)
    return {"target": tgt.name, "layers": layers, "db_primary": primary,
            "db_primary_zone": node.labels.get(zones.LABEL) if node else None}


def _serving(tgt, layer: str, lost: list[str], left: list[str]) -> tuple[bool, str]:
    """Whether what the zone left of ``layer`` still does its job, and what shows it."""
    if layer == "db":
        roles = tgt.db_roles()
        if roles is None:
            return bool(left), f"{', '.join(left) or 'no server'} up"
        primary = roles["primary"]
        if primary in roles["lost"] or primary not in left:
            return False, f"the primary {primary} is lost and no replica was promoted"
        try:
            state = tgt.db_replication()["members"].get(primary, {})
        except GamedayError as err:
            return False, f"cannot read the primary {primary}: {err}"
        writable = state.get("answers") and not state.get("read_only", True)
        return bool(writable), f"{primary} is the primary, {'writable' if writable else 'not writable'}"
    if layer == "kafka":
        try:
            health = kafka_admin.partition_health(tgt.kafka_bootstrap(), timeout=5)
        except kafka_admin.KafkaUnavailable as err:
            return False, f"the cluster does not answer: {err}"
        bad = health["offline"] + health["under_min_isr"]
        return not bad, (f"{len(health['under_replicated'])} of {health['partitions']} partitions under-replicated, "
                         f"{len(health['offline'])} offline, {len(health['under_min_isr'])} under min ISR")
    if layer == "search":
        try:
            status = tgt.search_admin(timeout=5).health().get("status")
        except GamedayError as err:
            return False, f"the cluster does not answer: {err}"
        return status in ("green", "yellow"), f"cluster {status}"
    if layer == "events" and left:  # a relay left standing by relays only once it holds the outbox's lock
        try:
            backlog = outbox.backlog(tgt)
        except GamedayError as err:
            return False, f"{len(left)} of {len(left) + len(lost)} relays ready; the outbox cannot be read: {err}"
        oldest = backlog.get("oldest_unsent_s") or 0.0
        relaying = oldest <= RELAY_STALL_S
        return relaying, (f"{len(left)} of {len(left) + len(lost)} relays ready; {backlog['unsent']} outbox rows unsent"
                          + (f", the oldest waiting {oldest:.0f} s" if backlog["unsent"] else ""))
    return bool(left), f"{len(left)} of {len(left) + len(lost)} ready"


@activity
def zone_outage(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """While a zone is down (its undo recorded by ``lose_zone``): per layer, the members the zone
    took (``lost``, ``lost_down``: all of them still down), those left ready, and whether the layer
    still serves (the database: a writable primary outside the zone; Kafka: no partition offline or
    under min ISR; search: yellow or green; others: a member left ready). ``{"zone", "zone_down",
    "layers": {...}, "survived": [...], "not_survived": [...]}``; ``zone`` None when no zone is down."""
    tgt = target(configuration, lock=False)
    records = ledger.matching(tgt.env, "restore_zone")
    if not records:
        return {"target": tgt.name, "zone": None, "zone_down": False, "layers": {}, "survived": [], "not_survived": []}
    kwargs = records[-1]["kwargs"]
    zone, by_layer = kwargs["zone"], kwargs["by_layer"]
    layers = {}
    for layer in LAYERS:
        lost = list(by_layer.get(layer, []))
        nodes = tgt.nodes(layer)
        if not nodes and not lost:
            continue
        ready = {n.name for n in nodes if n.ready}
        left = [n.name for n in nodes if n.ready and n.name not in lost]
        serving, detail = _serving(tgt, layer, lost, left)
        # down: held (the twin's supervisor), or not ready (a Kubernetes pod kept out of its zone, Pending)
        held = set(tgt.held(layer))
        layers[layer] = {"lost": lost, "lost_down": all(m in held or m not in ready for m in lost), "left": left,
                         "serving": serving, "detail": detail}
    return {"target": tgt.name, "zone": zone, "zone_down": all(v["lost_down"] for v in layers.values()),
            "layers": layers, "survived": [k for k, v in layers.items() if v["serving"]],
            "not_survived": [k for k, v in layers.items() if not v["serving"]]}
