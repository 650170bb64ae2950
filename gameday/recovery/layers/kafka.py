"""Kafka: free the filesystem of a broker whose log directory is full and start it again, give a
broker whose disk was lost empty storage formatted with the cluster id and its own
node id, start the voters held down when the KRaft quorum has lost its majority and wait for a
leader every voter follows, bring missing brokers back, wait for the ISR to fill and the quorum to have every voter
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
QUORUM_CODE = "kafka.quorum-lost"
QUORUM_ASK_S = 10.0  # kafka-metadata-quorum answers in 2-3 s (a JVM start) when there is a quorum
DISK_CODE = "kafka.disk-full"
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


def quorum_findings(ctx: Context) -> list[Finding]:
    """Fewer than a majority of the KRaft voters (the layer's members: combined broker+controller
    nodes) run and the quorum confirms it has no leader a majority follows. Asked only when a
    majority is down, so a healthy cluster costs no ``kafka-metadata-quorum`` call."""
    view = ctx.target.view("kafka")
    size = len(view.members)
    down = [m.name for m in view.members if not m.running]
    if not size or size - len(down) >= size // 2 + 1:
        return []
    state = kafka_admin.quorum_state(ctx.target.kafka_bootstrap(), size, timeout=ctx.remaining(QUORUM_ASK_S))
    if state["has_quorum"]:
        return []
    why = state["error"] or f"leader {state['leader']}, voters caught up {state['caught_up']}"
    return [Finding(QUORUM_CODE, f"only {size - len(down)} of {size} KRaft voters are up ({', '.join(down)} down), fewer "
                                 f"than a majority ({state['majority']}): the metadata quorum has no leader ({why}); no "
                                 "leader election or ISR change is possible and acks=all writes are refused",
                    {"down": down, "voters": size, "majority": state["majority"], "quorum": state})]


def restore_quorum(ctx: Context) -> str:
    """Start every Kafka member still held, at once (one is enough for a majority; waiting for each
    in turn would gain nothing); members the platform is restarting are left to it. After
    start-kafka (which starts the held members together) there is usually nothing left to start."""
    view = ctx.target.view("kafka")
    for m in view.held:
        ctx.target.start_member(m.name)
    crashed = [m.name for m in view.members if not m.running and not m.held]
    did = [f"started {m.name}" for m in view.held]
    if crashed:
        did.append(f"left {', '.join(crashed)} to the platform's restarts")
    return "; ".join(did) or "no Kafka member is held down any more"


def quorum_back(ctx: Context) -> Check:
    """The quorum has a leader and every voter follows it, caught up."""
    size = len(ctx.target.view("kafka").members)
    state = kafka_admin.quorum_state(ctx.target.kafka_bootstrap(), size, timeout=ctx.remaining(20))
    if state["has_quorum"] and len(state["caught_up"]) == size:
        return Check(True, f"quorum leader {state['leader']}, voters {state['caught_up']} caught up")
    return Check(False, state["error"] or f"leader {state['leader']}, caught up {state['caught_up']} of {size} voters")


def _mb(n: float) -> str:
    return f"{n / (1 << 20):.1f} MB"


def disk_findings(ctx: Context) -> list[Finding]:
    """A broker whose log directory's filesystem is full (``Target.log_disks``): Kafka takes the
    directory offline on the next write and, with one log directory, the broker shuts down; a
    restart fails the same way until there is room."""
    full = [d for d in ctx.target.log_disks("kafka") if d.get("full")]
    if not full:
        return []
    members = {m.name: m for m in ctx.target.view("kafka").members}
    words = []
    for d in full:
        m = members.get(d["member"])
        state = ("not running" if not m.running else "running but not ready" if not m.ready
                 else "still serving until its next write") if m else "unknown"
        words.append(f"{d['member']}'s log directory filesystem is {d['percent']:g}% full ({_mb(d['avail'])} free of "
                     f"{_mb(d['size'])}; broker {state}, {m.restarts if m else '?'} restarts)")
    return [Finding(DISK_CODE, "; ".join(words) + ": Kafka takes a full log directory offline and the broker "
                               "shuts down until there is room", {"members": [d["member"] for d in full], "disks": full})]


def free_disk(ctx: Context) -> str:
    """Each broker with a full log directory: room made (the twin removes the filler; on GKE the
    target raises, naming the fix: expand the volume), then a broker held is started and one running
    but not ready is replaced; one the platform is restarting starts by itself."""
    did = []
    for d in ctx.target.log_disks("kafka"):
        if not d.get("full"):
            continue
        freed = ctx.target.free_member_disk(d["member"])
        m = next((m for m in ctx.target.view("kafka").members if m.name == d["member"]), None)
        if m is not None and m.held:
            ctx.target.start_member(m.name)
            then = "started it"
        elif m is not None and m.running and not m.ready:
            ctx.target.replace_member(m.name)
            then = "replaced it (not ready)"
        else:
            then = "the platform restarts it" if m is not None and not m.running else "it kept running"
        did.append(f"freed {_mb(freed.get('freed', 0))} on {d['member']}'s log directory filesystem "
                   f"(now {freed.get('usage', {}).get('percent', '?')}% used); {then}")
    return "; ".join(did) or "no broker's log directory is full any more"


def disk_freed(ctx: Context) -> Check:
    full = [d["member"] for d in ctx.target.log_disks("kafka") if d.get("full")]
    if full:
        return Check(False, f"log directory filesystem still full: {', '.join(full)}")
    return members_ready("kafka")(ctx)


def diagnose(ctx: Context) -> list[Finding]:
    quorum = quorum_findings(ctx)
    found = storage_findings(ctx) + disk_findings(ctx) + quorum + member_findings(ctx, "kafka", grace_s=KAFKA_GRACE_S)
    if quorum:  # without a metadata quorum the partitions' leaders and ISRs are stale: asking costs timeouts, tells nothing
        return found
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
    Step("free-broker-disk", "Make room on each broker's full log directory filesystem (the twin: remove the filler; "
         "GKE: expand the PVC), start or replace the broker, wait until it is ready", deadline_s=240,
         when=(DISK_CODE,), act=free_disk, check=disk_freed),
) + member_steps("kafka", grace_s=KAFKA_GRACE_S, deadline_s=240, what="Kafka broker") + (
    Step("restore-controller-quorum", "Start the KRaft voters still held down (start-kafka starts them all at once); "
         "wait until the metadata quorum has a leader and every voter follows it, caught up", deadline_s=180,
         when=(QUORUM_CODE,), act=restore_quorum, check=quorum_back),
    Step("wait-isr", "Wait until every partition has a leader and a full ISR", deadline_s=180,
         when=MEMBER_CODES + PARTITION_CODES + (STORAGE_CODE, QUORUM_CODE, DISK_CODE), check=isr_full),
    Step("wait-quorum-voters", "Wait until every broker is a caught-up voter of the KRaft metadata quorum again",
         deadline_s=120, when=(STORAGE_CODE, QUORUM_CODE), check=quorum_voters_back),
    Step("elect-preferred-leaders", "Run a preferred leader election so leadership is balanced again", deadline_s=60,
         when=MEMBER_CODES + PARTITION_CODES + (STORAGE_CODE, QUORUM_CODE, DISK_CODE, "kafka.leaders-not-preferred"),
         act=elect_preferred,
         check=leaders_preferred),
    Step("verify-partitions", "No partition offline, under-replicated or under min ISR", deadline_s=30,
         kind="verify", check=isr_full),
))
