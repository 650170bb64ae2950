"""A region move's RPO, measured by canaries: every acknowledged record written in the region being
left is read back from the region switched to (the database through its endpoint, Kafka from the
topic MirrorMaker copied it to, ``r1.gameday-canary``). Used by the ``region_rpo`` probe (the
switchover's and the failover's ``what-was-lost``) and by the failback (:mod:`.restore`)::

    canaries = start(pair.target(pair.active()))      # before the move
    ... the region playbook moves the site (its stop-writes step: canaries.stop) ...
    rpo = read_back(canaries, origin="r1", pair=pair, timeout=120)
    rpo["rpo_records"], rpo["lost"], rpo["unmirrored"]

Kafka records read from a mirrored topic that did not come back were acknowledged by the region left
(acks=all, its delivery report gave their partition and offset) and never copied by MirrorMaker:
``unmirrored`` names them with those offsets, per partition after the last one that was copied
(:func:`unmirrored`).
"""

import time
from typing import Any, Dict, List, Optional

from ...measure.canary import KAFKA_TOPIC, Canaries, CanaryEndpoints

LAYERS = ("kafka", "db")


class _Endpoints:
    """What :meth:`CanaryEndpoints.from_context` reads: a context with a target."""

    def __init__(self, tgt):
        self.target = tgt


def endpoints(tgt) -> CanaryEndpoints:
    """The canary endpoints of one region's Target."""
    return CanaryEndpoints.from_context(_Endpoints(tgt))


def start(tgt, *, interval: float = 0.25) -> Canaries:
    """Canaries (Kafka and database) writing to ``tgt``'s region from now."""
    return Canaries(endpoints(tgt), layers=LAYERS, interval=interval).start()


def unmirrored(positions: Dict[int, tuple], lost: List[int], *, run: str, region: str,
               mirrored_to: str) -> Optional[Dict[str, Any]]:
    """The lost Kafka canary records as the region left had them: ``positions`` (seq -> (partition,
    offset), from their delivery reports), ``lost`` (the seqs not read back from the mirror). Returns
    ``{"region", "topic", "mirrored_to", "count", "records": [{"name", "partition", "offset"}],
    "partitions": [{"partition", "copied_through_offset", "first_offset", "last_offset", "count"}]}``
    (``copied_through_offset``: the last acknowledged offset that did reach the mirror, None when none
    did), or None when nothing was lost. A lost record without a known position is named, offset None."""
    if not lost:
        return None
    gone = set(lost)
    records = [{"name": f"{run}/kafka/{seq}", "partition": positions.get(seq, (None, None))[0],
                "offset": positions.get(seq, (None, None))[1]} for seq in sorted(gone)]
    partitions = []
    for part in sorted({r["partition"] for r in records if r["partition"] is not None}):
        offsets = [r["offset"] for r in records if r["partition"] == part]
        copied = [o for s, (p, o) in positions.items() if p == part and s not in gone]
        partitions.append({"partition": part, "copied_through_offset": max(copied) if copied else None,
                           "first_offset": min(offsets), "last_offset": max(offsets), "count": len(offsets)})
    return {"region": region, "topic": KAFKA_TOPIC, "mirrored_to": mirrored_to, "count": len(records),
            "records": records, "partitions": partitions}


def read_back(canaries: Canaries, *, origin: str, pair, timeout: float = 120) -> Dict[str, Any]:
    """Stop ``canaries`` (written in region ``origin``) and read every acknowledged record back from
    the region active now. Returns ``{"written_to", "read_from", "kafka_topic", "layers": {layer:
    CanaryReport.to_dict()}, "lost": ["<run>/<layer>/<seq>"], "rpo_records", "rpo_s", "unmirrored",
    "read_back_s"}`` (``read_back_s``: the seconds the canaries took to stop and be read back);
    ``rpo_records``/``rpo_s`` are None when a layer could not be read back (not measured, never 0)."""
    now = pair.active()
    topic = KAFKA_TOPIC if now == origin else f"{origin}.{KAFKA_TOPIC}"
    started = time.monotonic()
    reports = canaries.verify(timeout=timeout, read_from=endpoints(pair.target(now)), kafka_topic=topic)
    took = round(time.monotonic() - started, 2)
    layers = {layer: r.to_dict() for layer, r in reports.items()}
    lost = [f"{r.run}/{layer}/{seq}" for layer, r in reports.items() for seq in r.lost]
    measured = all(r["rpo_records"] is not None for r in layers.values())
    kafka = next((w for w in canaries.writers if w.layer == "kafka"), None)
    missing = None
    if kafka is not None and "kafka" in reports and now != origin:
        missing = unmirrored(getattr(kafka, "positions", {}), reports["kafka"].lost, run=canaries.run, region=origin,
                             mirrored_to=f"{now}/{topic}")
    return {"written_to": origin, "read_from": now, "kafka_topic": topic, "layers": layers, "lost": lost,
            "rpo_records": sum(len(r.lost) for r in reports.values()) if measured else None,
            "rpo_s": max((r.lost_span_s for r in reports.values()), default=0.0) if measured else None,
            "unmirrored": missing, "read_back_s": took}
