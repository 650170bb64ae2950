"""Search: give nodes whose storage was lost empty data directories and, when the whole cluster
went, wait for a new one to form and register its snapshot repository again (steps of
:mod:`.search_cluster`); bring missing nodes back, explain and retry unassigned shards, restore a
lost index from the latest snapshot and replay the Kafka events published since (or re-index the
database), wait until the index matches the database (count and checksum of ids and versions),
verify green and that the document count matches the database (the source of truth)."""

from __future__ import annotations

import datetime as dt
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ...site.indexer import parse_events
from ... import kafka_client, search_index
from ...site.search import SearchClient, SearchError, SearchRejected, SearchUnavailable
from ...deadline import Deadline
from ...errors import GamedayError
from ..context import Context
from ..engine import Check, Finding, Part, Step
from .common import member_findings, member_steps, names
from .search_cluster import (CLUSTER_CODE, INDEX, REPOSITORY, STORAGE_CODE, cluster_formed, index_matches_database,
                             rebuilt_findings, register_repository, repository_readable, restore_node_storage,
                             storage_findings)

SEARCH_GRACE_S = 180.0
TOPIC = "content-events"
COUNT_SETTLE_S = 15
REPLAY_MARGIN_S = 300  # replay from this long before the snapshot began: events produced but not yet indexed then
LOST = ("search.index-missing", "search.index-impostor")
RESTORE = LOST + (CLUSTER_CODE,)  # the index must come back from a snapshot (+ replay, or the database)
MEMBER_CODES = ("search.members-missing", "search.members-restarting", "search.members-starting", "search.members-stuck")


def impostor_reason(ctx: Context) -> str | None:
    """Why the live index is not the site's index (e.g. re-created by automatic index creation when
    the indexer wrote to a deleted index), or None when its mapping is right, whatever its shard count."""
    return search_index.impostor_reason(ctx.search(), INDEX)


def diagnose(ctx: Context) -> list[Finding]:
    found = storage_findings(ctx) + member_findings(ctx, "search", grace_s=SEARCH_GRACE_S)
    try:
        return found + _diagnose_cluster(ctx, found)
    except (GamedayError, SearchUnavailable) as err:
        return found + [Finding("search.unreachable", f"the search cluster does not answer: {err}")]


def _diagnose_cluster(ctx: Context, members: list[Finding]) -> list[Finding]:
    found: list[Finding] = []
    api = ctx.search()
    health = api.health()
    if health["status"] != "green":
        unassigned = int(health.get("unassigned_shards", 0))
        found.append(Finding(f"search.{health['status']}", f"cluster {health['status']}: {unassigned} unassigned "
                             f"shards, {health.get('initializing_shards', 0)} initializing, "
                             f"{health.get('number_of_nodes')} nodes", {"health": health}))
        if unassigned:
            found.append(Finding("search.unassigned", f"{unassigned} shards unassigned: {explain(ctx)}"))
    if not api.index_exists(INDEX):
        if not any(f.code == CLUSTER_CODE for f in members):
            found += rebuilt_findings(ctx, api)
        found.append(Finding("search.index-missing", f"index {INDEX!r} does not exist"))
        return found
    why = impostor_reason(ctx)
    if why:
        docs = api.count(INDEX)
        found.append(Finding("search.index-impostor", f"index {INDEX!r} is not the site's index ({why}; {docs} docs): "
                             "it was re-created empty after a loss", {"docs": docs}))
        return found
    if health["status"] != "red" and not members:
        rows0 = ctx.article_count()
        deadline = Deadline(COUNT_SETTLE_S)
        check = covers(ctx, rows0)
        while not check.ok and not deadline.expired():  # publishes in flight: the indexer is ~1 s behind
            time.sleep(1)
            check = covers(ctx, rows0)
        if not check.ok:
            found.append(Finding("search.count-mismatch", check.detail))
    return found


def covers(ctx: Context, rows_before: int) -> Check:
    """The index holds every article the database held at ``rows_before`` and no more than it holds
    now: ``rows(t0) <= docs(t1) <= rows(t2)``. Exact under concurrent publishing while nothing
    removes content during the check (the Python site never does; WordPress can: unpublish, trash,
    delete), where comparing two counts taken at one instant would never settle."""
    api = ctx.search()
    api.request("POST", f"/{INDEX}/_refresh")
    docs = api.count(INDEX)
    rows_after = ctx.article_count()
    ok = rows_before <= docs <= rows_after
    return Check(ok, f"index {INDEX!r}: {docs} documents; database: {rows_before} articles before, "
                     f"{rows_after} after" + ("" if ok else (" (documents missing)" if docs < rows_before
                                                             else " (documents the database does not have)")))


def explain(ctx: Context) -> str:
    e = ctx.search().explain_unassigned()
    if not e:
        return "every shard is assigned now"
    why = e.get("unassigned_info", {})
    decisions = [d for n in e.get("node_allocation_decisions", []) for d in n.get("deciders", [])
                 if d.get("decision") == "NO"]
    first = decisions[0]["explanation"] if decisions else e.get("allocate_explanation", "")
    return (f"{e.get('index')}[{e.get('shard')}] {'primary' if e.get('primary') else 'replica'}: "
            f"{why.get('reason', '?')} ({why.get('details', '') or why.get('last_allocation_status', '')}); "
            f"{e.get('can_allocate', '?')}: {first}")[:400]


def explain_act(ctx: Context) -> str:
    return explain(ctx)


def retry_allocation(ctx: Context) -> str:
    ctx.search().reroute_retry_failed()
    return "asked the cluster to retry failed allocations (_cluster/reroute?retry_failed=true)"


def not_red(ctx: Context) -> Check:
    h = ctx.search().health()
    return Check(h["status"] != "red", f"cluster {h['status']}, {h.get('unassigned_shards')} unassigned")


def green(ctx: Context) -> Check:
    h = ctx.search().health()
    return Check(h["status"] == "green", f"cluster {h['status']}: {h.get('active_shards')} active, "
                                         f"{h.get('relocating_shards')} relocating, {h.get('initializing_shards')} "
                                         f"initializing, {h.get('unassigned_shards')} unassigned")


# ---- index loss: pause the indexer, restore, replay, resume ------------------------------------
def pause_indexer(ctx: Context) -> str:
    running = [m for m in ctx.target.view("indexer").members if m.running or not m.held]
    for m in running:
        ctx.target.stop_member(m.name)
    ctx.state.paused_indexer = [m.name for m in running]
    return f"paused {names(running)} so nothing writes to {INDEX!r} before it is restored" if running else \
        "the indexer is not running"


def indexer_stopped(ctx: Context) -> Check:
    up = [m.name for m in ctx.target.view("indexer").members if m.running]
    return Check(not up, f"still running: {', '.join(up)}" if up else "indexer paused")


def remove_impostor(ctx: Context) -> str:
    api = ctx.search()
    if not api.index_exists(INDEX):
        return f"index {INDEX!r} already gone"
    why = impostor_reason(ctx)
    if not why:
        return f"index {INDEX!r} is the site's index after all: kept"
    docs = api.count(INDEX)
    api.delete_index(INDEX)
    return f"deleted the impostor {INDEX!r} ({why}; {docs} docs, all re-delivered by the replay)"


def index_absent_or_real(ctx: Context) -> Check:
    api = ctx.search()
    if not api.index_exists(INDEX):
        return Check(True, f"{INDEX!r} absent, ready for the restore")
    why = impostor_reason(ctx)
    return Check(why is None, why or f"{INDEX!r} is the site's index")


def latest_snapshot(ctx: Context) -> dict | None:
    snaps = [s for s in ctx.search(30).snapshots(REPOSITORY) if s.get("state") == "SUCCESS" and INDEX in s.get("indices", [])]
    return max(snaps, key=lambda s: s["start_time_in_millis"]) if snaps else None


def _client(ctx: Context) -> SearchClient:
    """The site's search client for the content index on the target, with its credentials and CAs."""
    urls = ctx.target.search_urls()
    return SearchClient(urls, index=INDEX, read_timeout=ctx.remaining(30), auth=ctx.target.search_auth(),
                        verify=ctx.target.search_verify())


def restore_snapshot(ctx: Context) -> str:
    api = ctx.search(timeout=180)
    if api.index_exists(INDEX) and impostor_reason(ctx) is None:
        return f"index {INDEX!r} exists and is the site's index: nothing to restore"
    snap = latest_snapshot(ctx)
    if snap is None:
        _client(ctx).create_index()
        ctx.state.replay_from_ms = 0
        ctx.state.reindex_from_db = True
        return f"no successful snapshot of {INDEX!r} in {REPOSITORY!r}: created it empty; the replay re-indexes the database"
    api.restore(REPOSITORY, snap["snapshot"], [INDEX])
    ctx.state.snapshot = snap["snapshot"]
    ctx.state.replay_from_ms = int(snap["start_time_in_millis"]) - REPLAY_MARGIN_S * 1000
    taken = dt.datetime.fromtimestamp(snap["start_time_in_millis"] / 1000).isoformat(timespec="seconds")
    return f"restored {INDEX!r} from snapshot {snap['snapshot']} (taken {taken})"


def index_active(ctx: Context) -> Check:
    api = ctx.search()
    if not api.index_exists(INDEX):
        return Check(False, f"{INDEX!r} does not exist yet")
    h = api.health(INDEX)
    return Check(h["status"] in ("green", "yellow"), f"{INDEX!r} {h['status']}: {h.get('active_primary_shards')} "
                                                     f"primaries active")


def replay_events(ctx: Context) -> str:
    """Re-index every event on ``content-events`` since the snapshot (minus a margin), with a
    consumer of our own that commits nothing. Idempotent: documents carry external versions."""
    since_ms = ctx.state.replay_from_ms
    client = _client(ctx)
    consumer = Consumer(kafka_client.settings({
        "bootstrap.servers": ctx.target.kafka_bootstrap(), "group.id": f"gameday-replay-{int(time.time())}",
        "enable.auto.commit": False, "auto.offset.reset": "earliest", "socket.connection.setup.timeout.ms": 2000,
        "log_level": 2}))
    replayed = articles = refused = 0
    gap = False
    try:
        md = consumer.list_topics(TOPIC, timeout=ctx.remaining(10))
        parts = [TopicPartition(TOPIC, p) for p in md.topics[TOPIC].partitions]
        starts = consumer.offsets_for_times([TopicPartition(TOPIC, tp.partition, max(since_ms, 0)) for tp in parts],
                                            timeout=ctx.remaining(10))
        assign, ends = [], {}
        for tp in starts:
            low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, tp.partition), timeout=ctx.remaining(10))
            start = tp.offset if tp.offset >= 0 else high
            if since_ms > 0 and low > 0 and start <= low:
                gap = True  # the log no longer reaches back to the snapshot
            if start < high:
                assign.append(TopicPartition(TOPIC, tp.partition, start))
                ends[tp.partition] = high
        consumer.assign(assign)
        done: set[int] = set()
        while len(done) < len(ends):
            if ctx.deadline is not None and ctx.deadline.expired():
                raise SearchUnavailable(f"replay did not reach the end of {TOPIC} in time "
                                        f"({replayed} events replayed)")
            batch = [m for m in consumer.consume(500, timeout=1.0) if not m.error()]
            if batch:
                events, _skipped = parse_events(batch)
                try:
                    client.bulk_index(events)
                except SearchRejected as err:  # never indexable (the indexer dead-lettered them); the rest applied
                    refused += len(err.rejected)
                replayed += len(batch)
                articles += len(events)
                for m in batch:
                    if m.offset() + 1 >= ends.get(m.partition(), 0):
                        done.add(m.partition())
    except KafkaException as err:
        raise SearchUnavailable(f"replay from Kafka failed: {err.args[0].str()}") from None
    finally:
        consumer.close()
    words = f"replayed {replayed} events ({articles} articles) from {TOPIC} since the snapshot"
    if refused:
        words += f" ({refused} refused by the index, as the indexer's dead letters)"
    if gap or ctx.state.reindex_from_db:
        words += "; " + reindex_all(ctx)
    return words


def reindex_all(ctx: Context) -> str:
    """Bulk-index every article from the database (idempotent: external versions), in pages of the
    target's content schema (:meth:`gameday.content.ContentSchema.page_sql`)."""
    client = _client(ctx)
    schema = ctx.target.content_schema()
    page = schema.page_sql(500)
    total, indexed = 0, 0
    with ctx.db_session() as query:  # one connection for every page
        rows = query(page, (0,))
        while rows:
            result = client.bulk_index([schema.article(r) for r in rows])
            total += len(rows)
            indexed += result["indexed"]
            rows = query(page, (rows[-1][0],))
    return f"re-indexed {total} articles from the database ({indexed} were missing or older)"


def resume_indexer(ctx: Context) -> str:
    paused = ctx.state.paused_indexer
    for name in paused:
        ctx.target.start_member(name)
    return f"resumed {', '.join(paused)}" if paused else "nothing paused"


def indexer_ready(ctx: Context) -> Check:
    view = ctx.target.view("indexer")
    bad = [m.name for m in view.members if not (m.running and m.ready and m.state == "running")]
    return Check(not bad, f"not ready yet: {', '.join(bad)}" if bad else "indexer running")


def counts_match(ctx: Context) -> Check:
    """:func:`covers`, against the article count when this step began."""
    if ctx.state.count_rows is None or ctx.state.count_rows[0] is not ctx.deadline:
        ctx.state.count_rows = (ctx.deadline, ctx.article_count())
    try:
        return covers(ctx, ctx.state.count_rows[1])
    except (SearchError, SearchUnavailable) as err:
        return Check(False, str(err))


def reindex_act(ctx: Context) -> str:
    return reindex_all(ctx)


PART = Part("search", diagnose, (
    Step("restore-node-storage", "Give each node whose data directory was lost an empty one, start them, wait until "
         "they form one cluster (a new one when the whole cluster was lost)", deadline_s=300, when=(STORAGE_CODE, CLUSTER_CODE),
         act=restore_node_storage, check=cluster_formed),
) + member_steps("search", grace_s=SEARCH_GRACE_S, deadline_s=300, what="search node") + (
    Step("explain-unassigned", "Explain why shards are unassigned (_cluster/allocation/explain)", deadline_s=30,
         when=("search.unassigned",), act=explain_act),
    Step("retry-failed-allocations", "Retry failed shard allocations; wait until no primary is missing",
         deadline_s=120, when=("search.unassigned", "search.red"), act=retry_allocation, check=not_red),
    Step("register-snapshot-repository", f"Register the snapshot repository {REPOSITORY!r} with the new cluster "
         "(the snapshots live outside it)", deadline_s=60, when=(CLUSTER_CODE,), act=register_repository,
         check=repository_readable),
    Step("pause-indexer", f"Pause the indexer so nothing re-creates {INDEX!r} before the restore", deadline_s=60,
         when=RESTORE, act=pause_indexer, check=indexer_stopped),
    Step("remove-impostor-index", f"Delete an {INDEX!r} that automatic index creation made after the loss",
         deadline_s=30, when=("search.index-impostor",), act=remove_impostor, check=index_absent_or_real),
    Step("restore-snapshot", f"Restore {INDEX!r} from the latest snapshot in {REPOSITORY!r}", deadline_s=180,
         when=RESTORE, act=restore_snapshot, check=index_active),
    Step("replay-events", f"Replay the {TOPIC} events published since the snapshot", deadline_s=180,
         when=RESTORE, act=replay_events),
    Step("resume-indexer", "Resume the indexer", deadline_s=90, when=RESTORE, act=resume_indexer, check=indexer_ready,
         always=True),
    Step("reindex-from-database", "Re-index every article from the database (the source of truth)",
         deadline_s=180, when=("search.count-mismatch",), act=reindex_act),
    Step("wait-index-matches-database", f"Wait until {INDEX!r} matches the database: the same count and SHA-256 of "
         "(id, version) over the articles updated before the step began", deadline_s=120, when=RESTORE,
         check=index_matches_database),
    Step("verify-green", "The search cluster is green", deadline_s=240, kind="verify", check=green),
    Step("verify-count", f"The {INDEX!r} document count matches the database's article count", deadline_s=120,
         kind="verify", check=counts_match),
))
