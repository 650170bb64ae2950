"""The indexer (Kafka consumer group -> search): start its consumers, report the events it set aside
on its dead-letter topic (and check it is past them), verify the lag drains."""

from __future__ import annotations

from ... import kafka_admin, kafka_records
from ...errors import GamedayError
from ..context import Context
from ..engine import Check, Finding, Part, Step
from .common import member_findings, member_steps

INDEXER_GRACE_S = 60.0
GROUP = "indexer"
TOPIC = "content-events"
LAG_FINDING = 500  # a backlog worth a finding on its own
LAG_DRAINED = 10  # a few events in flight are normal while the site publishes


def lag(ctx: Context) -> int:
    return int(kafka_admin.consumer_lag(ctx.target.kafka_bootstrap(), GROUP, TOPIC, timeout=ctx.remaining(10))["total"])


DEAD_LETTERED = "indexer.dead-lettered"
REVIEWED_GROUP = "indexer-dead-letters-reviewed"  # a bookmark on the dead-letter topic: what a playbook reported
SHOWN = 5  # offsets named in a finding's text (all of them are in its data)


def unreviewed_dead_letters(ctx: Context) -> list[dict]:
    """Dead letters (``target.dead_letters()``) past the reviewed bookmark, oldest first per partition."""
    from ...site.dead_letter import dlq_topic
    records = ctx.target.dead_letters()
    if not records:
        return []
    seen = kafka_records.committed(ctx.target.kafka_bootstrap(), REVIEWED_GROUP, dlq_topic(TOPIC),
                                   timeout=ctx.remaining(10))
    return [r for r in records if r["offset"] >= seen.get(r["partition"], -1)]


def _source(record: dict) -> tuple[int, int] | None:
    h = record["headers"]
    try:
        return int(h["gameday.source.partition"]), int(h["gameday.source.offset"])
    except (KeyError, ValueError):
        return None  # not written by our indexer: reported, but there is no source to check


def dead_letter_finding(records: list[dict]) -> Finding:
    sources = [s for s in (_source(r) for r in records) if s]
    named = ", ".join(f"{TOPIC}[{p}]@{o}" for p, o in sources[:SHOWN]) + (" ..." if len(sources) > SHOWN else "")
    first = records[0]["headers"].get("gameday.error", "no reason recorded")
    return Finding(DEAD_LETTERED, f"{len(records)} events the indexer could not process were set aside on "
                   f"{TOPIC}.dlq: {named or 'no source recorded'} (first: {first})",
                   {"count": len(records), "offsets": [{"partition": p, "offset": o} for p, o in sources],
                    "dlq_offsets": [{"partition": r["partition"], "offset": r["offset"]} for r in records]})


def review_dead_letters(ctx: Context) -> str:
    """Check the indexer committed past every dead-lettered event's source offset (it is not blocked
    on them), then move the reviewed bookmark past them so the next diagnosis does not report them."""
    from ...site.dead_letter import dlq_topic
    records = unreviewed_dead_letters(ctx)
    if not records:
        return "no dead letters left to review"
    past: dict[int, int] = {}
    for p, o in (s for s in (_source(r) for r in records) if s):
        past[p] = max(past.get(p, -1), o)
    bootstrap = ctx.target.kafka_bootstrap()
    if past:
        kafka_records.wait_committed_past(bootstrap, GROUP, TOPIC, past, timeout=ctx.remaining(60))
    ends: dict[int, int] = {}
    for r in records:
        ends[r["partition"]] = max(ends.get(r["partition"], 0), r["offset"] + 1)
    kafka_records.commit(bootstrap, REVIEWED_GROUP, dlq_topic(TOPIC), ends, timeout=ctx.remaining(10))
    return (f"{len(records)} dead letters reported (the events stay on {TOPIC}.dlq for their owners); "
            f"the indexer is past each source offset {past}; bookmark {REVIEWED_GROUP} moved to {ends}")


def diagnose(ctx: Context) -> list[Finding]:
    found = member_findings(ctx, "indexer", grace_s=INDEXER_GRACE_S)
    try:
        letters = unreviewed_dead_letters(ctx)
    except GamedayError as err:
        found.append(Finding("indexer.dead-letters-unknown", f"the indexer's dead letters cannot be read: {err}"))
    else:
        if letters:
            found.append(dead_letter_finding(letters))
    try:
        backlog = lag(ctx)
    except GamedayError as err:
        return found + [Finding("indexer.lag-unknown", f"the indexer's lag cannot be read: {err}")]
    if backlog > LAG_FINDING:
        found.append(Finding("indexer.lag", f"consumer group {GROUP} is {backlog} events behind on {TOPIC}",
                             {"lag": backlog}))
    return found


def lag_drained(ctx: Context) -> Check:
    n = lag(ctx)
    return Check(n <= LAG_DRAINED, f"consumer group {GROUP} lag on {TOPIC}: {n} (drained at <= {LAG_DRAINED})")


PART = Part("indexer", diagnose, member_steps("indexer", grace_s=INDEXER_GRACE_S, deadline_s=90, what="indexer") + (
    Step("review-dead-letters", "Report the events set aside on the dead-letter topic (count, source offsets), "
         "check the indexer is past each one, mark them reviewed", deadline_s=90, when=(DEAD_LETTERED,),
         act=review_dead_letters),
    Step("verify-lag-drains", f"The indexer's consumer lag drains (<= {LAG_DRAINED})", deadline_s=180,
         kind="verify", check=lag_drained),
))
