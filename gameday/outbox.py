"""The publishing outbox as the event-relay drill reads it, through the target: the backlog (rows not
yet relayed) and the proof that nothing was lost (every row of a range marked sent, and its event in
Kafka with the same event id and version)::

    found = backlog(target)                      # {"unsent": 30, "first_unsent_id": 121, "max_id": 150,
                                                 #  "oldest_unsent_s": 12.4}
    proof = relayed(target, first_id=121, last_id=150)
    proof["ok"], proof["rows"], proof["missing_in_kafka"], proof["unsent"]

The table is the target's :meth:`~gameday.targets.base.Target.content_schema` ``outbox`` (WordPress:
``wp_gameday_outbox``, whose rows carry ``event_id`` and ``version``; the relay puts both in each
record's value and the event id in a header). Kafka is read from the target's bootstrap, the content
topic from its first offset (:func:`gameday.kafka_records.read_all`), without joining a group.
"""

from __future__ import annotations

import json
from typing import Any

import pymysql

from . import kafka_records
from .errors import GamedayError

TOPIC = "content-events"
TIMEOUT = 5.0


def _query(target, sql: str, args: tuple = ()) -> list[tuple]:
    host, port = target.db_address()
    try:
        conn = target.db_connect(timeout=TIMEOUT)
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"database {host}:{port} refused a connection: {type(err).__name__}",
                           hint="`gameday playbook db` diagnoses the database") from None
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"database {host}:{port}: reading the outbox failed: {type(err).__name__}: "
                           f"{err.args[-1] if err.args else ''}") from None
    finally:
        conn.close()


def backlog(target) -> dict[str, Any]:
    """The rows not yet relayed: their count, the first one's id, the newest row's id, and how long
    the oldest has waited (seconds, by the database's clock)."""
    table = target.content_schema().outbox
    unsent, first, oldest_s = _query(target, f"SELECT COUNT(*), MIN(id), TIMESTAMPDIFF(MICROSECOND, MIN(created_at), "
                                             f"NOW(6)) / 1e6 FROM {table} WHERE sent_at IS NULL")[0]
    max_id = _query(target, f"SELECT COALESCE(MAX(id), 0) FROM {table}")[0][0]
    return {"unsent": int(unsent), "first_unsent_id": None if first is None else int(first), "max_id": int(max_id),
            "oldest_unsent_s": None if oldest_s is None else round(float(oldest_s), 3)}


def rows(target, first_id: int, last_id: int) -> list[dict[str, Any]]:
    """The outbox rows ``first_id..last_id``: ``{"id", "event_id", "version", "sent"}``, in id order."""
    table = target.content_schema().outbox
    found = _query(target, f"SELECT id, event_id, version, sent_at IS NOT NULL FROM {table} "
                           "WHERE id BETWEEN %s AND %s ORDER BY id", (int(first_id), int(last_id)))
    return [{"id": int(i), "event_id": str(e), "version": int(v), "sent": bool(s)} for i, e, v, s in found]


def kafka_events(target, *, timeout: float = 30.0) -> dict[str, set[int]]:
    """Every content event in Kafka: event id -> the versions its records carry (a record re-sent after
    a crash counts once)."""
    out: dict[str, set[int]] = {}
    for record in kafka_records.read_all(target.kafka_bootstrap(), TOPIC, timeout=timeout):
        headers = record.get("headers") or {}
        try:
            value = json.loads(record["value"])
        except (TypeError, ValueError):
            value = {}
        event_id = headers.get("event_id") or (value.get("event_id") if isinstance(value, dict) else None)
        if not event_id:
            continue  # not a relayed event (a canary, a poison drill's record)
        version = value.get("version") if isinstance(value, dict) else None
        out.setdefault(str(event_id), set())
        if version is not None:
            out[str(event_id)].add(int(version))
    return out


def relayed(target, first_id: int, last_id: int, *, timeout: float = 30.0) -> dict[str, Any]:
    """Whether every outbox row ``first_id..last_id`` is marked sent and its event is in Kafka with the
    row's event id and version: ``{"ok", "rows", "unsent": [ids], "missing_in_kafka": [ids],
    "wrong_version": [ids]}`` (ids are outbox ids; at most the first 20 of each are listed, counted in
    ``*_count``)."""
    wanted = rows(target, first_id, last_id)
    events = kafka_events(target, timeout=timeout)
    unsent = [r["id"] for r in wanted if not r["sent"]]
    missing = [r["id"] for r in wanted if r["event_id"] not in events]
    wrong = [r["id"] for r in wanted if r["event_id"] in events and events[r["event_id"]]
             and r["version"] not in events[r["event_id"]]]
    return {"ok": bool(wanted) and not (unsent or missing or wrong), "rows": len(wanted),
            "first_id": int(first_id), "last_id": int(last_id),
            "unsent": unsent[:20], "unsent_count": len(unsent), "missing_in_kafka": missing[:20],
            "missing_count": len(missing), "wrong_version": wrong[:20], "wrong_version_count": len(wrong)}
