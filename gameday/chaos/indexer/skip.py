"""The undo of poison events: make sure the indexer is past them. Named ``"skip_poison_events"`` in
``gameday.chaos.undo.UNDO``, so ``gameday cleanup`` in any process runs it after a crash.

An indexer that dead-letters what it cannot process is past them within seconds and the undo does
nothing. One that is blocked on them (an older build, a dead-letter topic it cannot write) is moved
past them as an operator would: its consumers stopped, the group's offsets committed past the poison
(``kafka-consumer-groups --reset-offsets``), its consumers started again.
"""

from typing import Any, Dict

from ... import kafka_records
from ...errors import DeadlineExceeded, GamedayError
from ...targets import for_environment
from ...targets.environment import Environment

GROUP = "indexer"
PAST_WAIT_S = 30.0  # how long a healthy indexer may take to get past them (it is under load)


def poison_offsets(bootstrap: str, topic: str, since: Dict[str, int], key: str) -> Dict[int, int]:
    """The last offset per partition of the records keyed ``key`` published at or after ``since``
    (``{"<partition>": offset}``, as JSON keeps it)."""
    start = {int(p): int(o) for p, o in since.items()}
    found: Dict[int, int] = {}
    for r in kafka_records.read_all(bootstrap, topic, start=start, timeout=30):
        if (r["key"] or b"").decode(errors="replace") == key:
            found[r["partition"]] = max(found.get(r["partition"], -1), r["offset"])
    return found


def skip_poison_events(env: Environment, topic: str, since: Dict[str, int], key: str) -> Dict[str, Any]:
    """Idempotent: when the group ``indexer`` has committed past every poison record, nothing is done
    (``moved`` False); otherwise its members are stopped, the offsets moved past, and they start.
    ``existed`` is False only when the poison records are not on the topic any more (removed by
    someone else): an indexer that set them aside itself is the behaviour under test, not a fault
    removed under the run (``gameday.chaos.ledger.removed_under``)."""
    target = for_environment(env)
    bootstrap = target.kafka_bootstrap()
    poison = poison_offsets(bootstrap, topic, since, key)
    if not poison:
        return {"existed": False, "poison": {}, "moved": False}
    try:
        kafka_records.wait_committed_past(bootstrap, GROUP, topic, poison, timeout=PAST_WAIT_S)
        return {"existed": True, "poison": poison, "moved": False}
    except DeadlineExceeded:
        pass  # blocked on them: move it past, below
    members = [m.name for m in target.view("indexer").members if not m.held]
    if not members:
        raise GamedayError(f"the indexer is blocked on poison events {poison} of {topic} and has no member to stop",
                           hint="stop its consumers, then: kafka-consumer-groups --reset-offsets --group indexer")
    stuck: Dict[int, int] = {}
    for name in members:
        target.stop_member(name)
    try:
        committed = kafka_records.committed(bootstrap, GROUP, topic)
        stuck = {p: o for p, o in poison.items() if committed.get(p, -1) <= o}
        if stuck:
            kafka_records.move_group_past(bootstrap, GROUP, topic, stuck, timeout=60)
    finally:
        for name in members:
            target.start_member(name)
    return {"existed": True, "poison": poison, "moved": stuck, "restarted": members}
