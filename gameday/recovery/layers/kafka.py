"""Kafka: give a broker whose disk was lost empty storage formatted with the cluster id and its own
node id, bring missing brokers back, wait for the ISR to fill and the quorum to have every voter
again, move leadership back to the preferred replicas, verify no partition is offline,
under-replicated or under min ISR."""

from __future__ import annotations

import time

from confluent_kafka import ElectionType, KafkaException, TopicPartition

from ... import kafka_admin
from ...errors import GamedayError
from ..context import Context
from ..engine import Check, Finding, Part, Step
from .common import member_findings, member_steps, members_ready

KAFKA_GRACE_S = 120.0
MEMBER_CODES = ("kafka.members-missing", "kafka.members-restarting", "kafka.members-starting", "kafka.members-stuck")
STORAGE_CODE = "kafka.storage-lost"
PARTITION_CODES = ("kafka.offline", "kafka.under-replicated", "kafka.under-min-isr", "kafka.unreachable")


def _topics(ctx: Context) -> list[str]:
    md = kafka_admin._metadata(kafka_admin.admin(ctx.target.kafka_bootstrap()), ctx.remaining(10))
    return sorted(md.topics)


def _health(ctx: Context) -> dict:
    return kafka_admin.partition_health(ctx.target.kafka_bootstrap(), _topics(ctx), timeout=ctx.remaining(10))


def not_on_preferred_leader(ctx: Context) -> list[TopicPartition]:
    md = kafka_admin._metadata(kafka_admin.admin(ctx.target.kafka_bootstrap()), ctx.remaining(10))
    return [TopicPartition(t.topic, p.id) for t in md.topics.values() for p in t.partitions.values()
            if p.replicas and p.leader != p.replicas[0] and p.replicas[0] in p.isrs]


def _brief(parts: list[str], n: int = 4) -> str:
    return ", ".join(parts[:n]) + (f" and {len(parts) - n} more" if len(parts) > n else "")


def storage_findings(ctx: Context) -> list[Finding]:
    """A broker whose storage is gone (``Target.lost_storage``): starting it alone cannot help."""
    lost = ctx.target.lost_storage("kafka")
    if not lost:
        return []
    return [Finding(STORAGE_CODE, f"{', '.join(lost)} lost {'its' if len(lost) == 1 else 'their'} storage (not formatted): "
                                  "a restart alone cannot bring it back", {"members": lost})]


def restore_storage(ctx: Context) -> str:
    """Each broker with lost storage: kept stopped, formatted with the cluster id and its own node
    id, started; it then fetches the metadata log and re-replicates its partitions."""
    did = []
    for member in ctx.target.lost_storage("kafka"):
        if not any(m.name == member and m.held for m in ctx.target.view("kafka").members):
            ctx.target.stop_member(member)  # a crash-looping broker: hold it while its storage is formatted
        made = ctx.target.restore_member_storage(member)
        ctx.target.start_member(member)
        did.append(f"formatted {member} (cluster id {made.get('cluster_id')}, node id {made.get('node_id')}) and started it")
    return "; ".join(did) or "no broker's storage is lost any more"


def storage_restored(ctx: Context) -> Check:
    lost = ctx.target.lost_storage("kafka")
    if lost:
        return Check(False, f"storage still lost: {', '.join(lost)}")
    return members_ready("kafka")(ctx)


def quorum_voters_back(ctx: Context) -> Check:
    """Every broker's node id is a caught-up voter of the KRaft quorum."""
    expected = sorted(int(n.labels["node-id"]) for n in ctx.target.nodes("kafka") if "node-id" in n.labels)
    rows = kafka_admin.quorum_replication(ctx.target.kafka_bootstrap(), timeout=ctx.remaining(20))
    missing = kafka_admin.voters_missing(rows, time.time() * 1000, expected)
    if missing:
        return Check(False, f"voters {missing} not caught up in the metadata quorum")
    return Check(True, f"voters {expected} caught up in the metadata quorum")


def diagnose(ctx: Context) -> list[Finding]:
    found = storage_findings(ctx) + member_findings(ctx, "kafka", grace_s=KAFKA_GRACE_S)
    try:
        health = _health(ctx)
    except GamedayError as err:
        return found + [Finding("kafka.unreachable", f"Kafka does not answer: {err}")]
    for key, code, words in (("offline", "kafka.offline", "have no leader (offline)"),
                             ("under_min_isr", "kafka.under-min-isr", "are below min ISR (acks=all writes refused)"),
                             ("under_replicated", "kafka.under-replicated", "are under-replicated")):
        if health[key]:
            found.append(Finding(code, f"{len(health[key])} of {health['partitions']} partitions {words}: "
                                       f"{_brief(health[key])}", {"partitions": health[key]}))
    off = not_on_preferred_leader(ctx)
    if off:
        names = [f"{tp.topic}-{tp.partition}" for tp in off]
        found.append(Finding("kafka.leaders-not-preferred",
                             f"{len(off)} partitions are led by a replica other than the preferred one: {_brief(names)}",
                             {"partitions": names}))
    return found


def isr_full(ctx: Context) -> Check:
    h = _health(ctx)
    if h["healthy"]:
        return Check(True, f"{h['partitions']} partitions on brokers {h['brokers']}: every ISR full")
    return Check(False, f"offline {len(h['offline'])}, under min ISR {len(h['under_min_isr'])}, "
                        f"under-replicated {len(h['under_replicated'])} of {h['partitions']} partitions")


def elect_preferred(ctx: Context) -> str:
    off = not_on_preferred_leader(ctx)
    if not off:
        return "every partition already led by its preferred replica"
    t = ctx.remaining(30)
    try:
        # No request_timeout / operation_timeout: confluent-kafka 2.16.1 raises SystemError when given either.
        outcome = kafka_admin.admin(ctx.target.kafka_bootstrap()).elect_leaders(ElectionType.PREFERRED, off).result(timeout=t)
    except KafkaException as err:
        return f"preferred leader election request failed ({err.args[0].str()}); waiting for the controller's own rebalance"
    except TimeoutError:
        return f"preferred leader election did not answer within {t:.0f}s; waiting for it to take effect"
    errors = {f"{tp.topic}-{tp.partition}": str(e) for tp, e in outcome.items() if e is not None}
    return f"preferred leader election on {len(off)} partitions" + (f"; errors: {errors}" if errors else "")


def leaders_preferred(ctx: Context) -> Check:
    off = not_on_preferred_leader(ctx)
    if off:
        return Check(False, f"{len(off)} partitions still off their preferred leader: "
                            f"{_brief([f'{tp.topic}-{tp.partition}' for tp in off])}")
    return Check(True, "every partition is led by its preferred replica")


PART = Part("kafka", diagnose, (
    Step("restore-broker-storage", "Format each broker whose disk was lost (cluster id, its own node id), start it, "
         "wait until it is ready", deadline_s=240, when=(STORAGE_CODE,), act=restore_storage, check=storage_restored),
) + member_steps("kafka", grace_s=KAFKA_GRACE_S, deadline_s=240, what="Kafka broker") + (
    Step("wait-isr", "Wait until every partition has a leader and a full ISR", deadline_s=180,
         when=MEMBER_CODES + PARTITION_CODES + (STORAGE_CODE,), check=isr_full),
    Step("wait-quorum-voters", "Wait until every broker is a caught-up voter of the KRaft metadata quorum again",
         deadline_s=120, when=(STORAGE_CODE,), check=quorum_voters_back),
    Step("elect-preferred-leaders", "Run a preferred leader election so leadership is balanced again", deadline_s=60,
         when=MEMBER_CODES + PARTITION_CODES + (STORAGE_CODE, "kafka.leaders-not-preferred"), act=elect_preferred,
         check=leaders_preferred),
    Step("verify-partitions", "No partition offline, under-replicated or under min ISR", deadline_s=30,
         kind="verify", check=isr_full),
))
