"""The event relay (the publishing outbox -> Kafka): start it, wait until its backlog is drained, prove
nothing was lost (every outbox row of the backlog marked sent and its event in Kafka with the same
event id and version) and that the search index caught up (its count, as the search playbook's).

The backlog is read at the first diagnosis (:attr:`PlaybookState.relay_backlog`): the rows unsent
then, from the first one to the newest row, are the rows the outage held back. What the steps report
is the drill's account: the backlog's size when the playbook found it and how long it took to drain
after the relay was back. An environment without a relay (the Python site publishes to Kafka
itself) has no events members: nothing is found, nothing is done.
"""

from __future__ import annotations

import time

from ... import outbox
from ...errors import GamedayError
from ..context import Context
from ..engine import Check, Finding, Part, Step
from .common import member_findings, member_steps

LAYER = "events"
RELAY_GRACE_S = 60.0
BACKLOG = "events.backlog"
BACKLOG_FINDING = 100  # unsent rows worth a finding while the relay runs (a few are in flight while editors publish)


def diagnose(ctx: Context) -> list[Finding]:
    if not ctx.target.view(LAYER).members:
        return []  # no relay in this environment
    found = member_findings(ctx, LAYER, grace_s=RELAY_GRACE_S)
    try:
        backlog = outbox.backlog(ctx.target)
    except GamedayError as err:
        return found + [Finding("events.backlog-unknown", f"the outbox's backlog cannot be read: {err}")]
    if backlog["unsent"] and (found or backlog["unsent"] > BACKLOG_FINDING):
        if ctx.state.relay_backlog is None:
            ctx.state.relay_backlog = {**backlog, "at": time.time()}
        found.append(Finding(BACKLOG, f"{backlog['unsent']} outbox rows are not relayed to Kafka (the oldest "
                             f"waiting {backlog['oldest_unsent_s']:g} s)", backlog))
    return found


def backlog_drained(ctx: Context) -> Check:
    """No outbox row is unsent; the time since this step began (the relay is back: the steps before
    it started it and waited until it was ready) is the drain time."""
    if ctx.state.drain_from is None or ctx.state.drain_from[0] is not ctx.deadline:
        ctx.state.drain_from = (ctx.deadline, time.monotonic())
    began = ctx.state.drain_from[1]
    now = outbox.backlog(ctx.target)
    found = ctx.state.relay_backlog
    peak = f"{found['unsent']} rows when the playbook found it" if found else "no backlog was found"
    if now["unsent"]:
        return Check(False, f"{now['unsent']} outbox rows still unsent ({peak})")
    return Check(True, f"outbox backlog drained: 0 unsent ({peak}), {time.monotonic() - began:.1f} s after the "
                       "relay was back")


def backlog_in_kafka(ctx: Context) -> Check:
    """Every row from the first unsent one the diagnosis saw to the newest is sent and in Kafka."""
    found = ctx.state.relay_backlog
    if not found or found["first_unsent_id"] is None:
        return Check(True, "no backlog was found: nothing to account for")
    last = outbox.backlog(ctx.target)["max_id"]
    proof = outbox.relayed(ctx.target, found["first_unsent_id"], last, timeout=ctx.remaining(30))
    span = f"outbox rows {proof['first_id']}..{proof['last_id']}"
    if proof["ok"]:
        return Check(True, f"{span}: all {proof['rows']} marked sent, each event in Kafka with its event id and "
                           "version (nothing lost)")
    return Check(False, f"{span}: {proof['unsent_count']} unsent {proof['unsent']}, {proof['missing_count']} "
                        f"missing in Kafka {proof['missing_in_kafka']}, {proof['wrong_version_count']} with "
                        f"another version {proof['wrong_version']}")


def index_caught_up(ctx: Context) -> Check:
    """The search index's count matches the database's (the search playbook's verify-count), where the
    environment has search; the relayed events reach it through the indexer."""
    if not ctx.target.nodes("search"):
        return Check(True, "no search cluster in this environment: no index to catch up")
    from .search import counts_match
    return counts_match(ctx)


PART = Part(LAYER, diagnose, member_steps(LAYER, grace_s=RELAY_GRACE_S, deadline_s=90, what="event relay") + (
    Step("wait-backlog-drained", "Wait until the outbox has no unsent row (the relay's backlog drained)",
         deadline_s=240, kind="verify", check=backlog_drained),
    Step("verify-backlog-in-kafka", "Every outbox row of the backlog is marked sent and its event is in Kafka "
         "(the same event id and version): no event lost", deadline_s=60, kind="verify", check=backlog_in_kafka),
    Step("verify-index-caught-up", "The search index's document count matches the database's content",
         deadline_s=180, kind="verify", check=index_caught_up),
))
