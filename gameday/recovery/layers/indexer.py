"""The indexer (Kafka consumer group -> search): start its consumers, verify the lag drains."""

from __future__ import annotations

from ... import kafka_admin
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


def diagnose(ctx: Context) -> list[Finding]:
    found = member_findings(ctx, "indexer", grace_s=INDEXER_GRACE_S)
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
    Step("verify-lag-drains", f"The indexer's consumer lag drains (<= {LAG_DRAINED})", deadline_s=180,
         kind="verify", check=lag_drained),
))
