"""Undo records: before a fault is injected, how to undo it is written to disk.

Krkn's pattern. An action does::

    with ledger.pending_undo(env, "network.remove_toxic", {"proxy": "db", "toxic": name}, reason="latency web->db"):
        inject()       # if this raises, the undo runs at once

The record stays on disk until the matching rollback (or :func:`run_pending`) has undone the fault,
so a run killed with SIGKILL is repaired by the next run or by ``gameday cleanup``. Undo functions
are looked up by name in :data:`gameday.chaos.undo.UNDO`; records hold no secrets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ..sandbox.paths import state_root
from ..targets.environment import Environment

log = logging.getLogger("gameday.chaos")


def _dir(target: str) -> Path:
    return state_root() / "undo" / target


def write(env: Environment, undo: str, kwargs: dict[str, Any], *, reason: str) -> str:
    """Persist an undo record (fsync'd) and return its id."""
    d = _dir(env.name)
    d.mkdir(parents=True, exist_ok=True)
    rid = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    record = {"id": rid, "target": env.name, "undo": undo, "kwargs": kwargs, "reason": reason,
              "created_at": time.time(), "pid": os.getpid(), "environment": env.as_configuration()}
    tmp = d / f".{rid}.tmp"
    with open(tmp, "w") as fh:
        json.dump(record, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(d / f"{rid}.json")
    return rid


def pending(target: str) -> list[dict[str, Any]]:
    d = _dir(target)
    if not d.is_dir():
        return []
    records = []
    for f in sorted(d.glob("*.json")):
        try:
            records.append(json.loads(f.read_text()))
        except ValueError:
            log.warning("unreadable undo record %s", f)
    return records


def done(target: str, rid: str) -> None:
    (_dir(target) / f"{rid}.json").unlink(missing_ok=True)


def matching(target: str, undo: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Pending records of one undo kind whose kwargs include ``kwargs``."""
    return [r for r in pending(target)
            if r["undo"] == undo and all(r["kwargs"].get(k) == v for k, v in kwargs.items())]


def run_record(record: dict[str, Any]) -> dict[str, Any]:
    """Execute one undo record and remove it; returns what the undo reported."""
    from .undo import UNDO
    from ..targets.environment import from_mapping
    env = from_mapping(record["environment"], f"undo record {record['id']}")
    result = UNDO[record["undo"]](env, **record["kwargs"])
    done(record["target"], record["id"])
    return {"id": record["id"], "undo": record["undo"], "reason": record["reason"], "result": result}


def run_pending(target: str) -> list[dict[str, Any]]:
    """Undo every fault still recorded for a target (oldest last: undo in reverse order)."""
    return [run_record(r) for r in reversed(pending(target))]


@contextlib.contextmanager
def pending_undo(env: Environment, undo: str, kwargs: dict[str, Any], *, reason: str) -> Iterator[str]:
    """Write the undo record, run the body (the fault); if the body fails, undo immediately."""
    rid = write(env, undo, kwargs, reason=reason)
    try:
        yield rid
    except BaseException:
        run_record(next(r for r in pending(env.name) if r["id"] == rid))
        raise
