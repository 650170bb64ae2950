"""Undo records: before a fault is injected, how to undo it is written where every process can read it.

Krkn's pattern. An action does::

    with ledger.pending_undo(env, "network.remove_toxic", {"proxy": "db", "toxic": name}, reason="latency web->db"):
        inject()       # if this raises, the undo runs at once

The record stays until the matching rollback (or :func:`undo_all`) has undone the fault, so a run
killed with SIGKILL is repaired by the next run or by ``gameday cleanup``. Undo functions are looked
up by name in :data:`gameday.chaos.undo.UNDO`; records hold no secrets (an environment holds only
references to credentials).

Where records live: the sandbox's on this machine (``<state root>/undo/<target>/<id>.json``); a
Kubernetes target's in its cluster, one ConfigMap per record in the state namespace (labelled
``gameday.io/undo-target``), so a CronJob pod killed mid-fault leaves its record for a laptop's
``gameday cleanup``. Functions take the target's :class:`Environment` (or its Target); a bare name
means this machine's store.

    outcome = undo_all(env)          # tries every pending record, newest first; never stops early
    outcome.undone, outcome.failed   # each failure names the record and the reason

A game day also keeps its own account of what it injected and undid (``GAMEDAY_RUN_LOG``, a JSON
lines file in its run folder, inherited by its ``chaos run`` children), so it notices a fault of its
own that someone else removed (:func:`removed_under`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from ..errors import GamedayError
from ..statedir import state_root
from ..targets.environment import Environment

log = logging.getLogger("gameday.chaos")
RUN_LOG_ENV = "GAMEDAY_RUN_LOG"
UNDO_LABEL = "gameday.io/undo-target"

Where = Union[Environment, Any, str]  # an Environment, a Target (has .env), or a target's name


class UndoFailed(GamedayError):
    """Some recorded faults could not be undone (every record was tried; each failure is named)."""


@dataclass
class Outcome:
    undone: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def failure_text(self) -> str:
        return "; ".join(f"{f['reason']} (record {f['id']}): {f['error']}" for f in self.failed)


# ---- stores -------------------------------------------------------------------------------------

class FileStore:
    """This machine's records: ``<state root>/undo/<target>/<id>.json``, written atomically, fsync'd."""

    def __init__(self, target: str):
        self.dir = state_root() / "undo" / target

    def put(self, record: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{record['id']}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.dir / f"{record['id']}.json")

    def all(self) -> list[dict[str, Any]]:
        if not self.dir.is_dir():
            return []
        records = []
        for f in sorted(self.dir.glob("*.json")):
            try:
                records.append(json.loads(f.read_text()))
            except ValueError:
                log.warning("unreadable undo record %s", f)
            except FileNotFoundError:
                continue  # undone by another process while we listed
        return sorted(records, key=_order)

    def remove(self, rid: str) -> bool:
        path = self.dir / f"{rid}.json"
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False


class ClusterStore:
    """A Kubernetes target's records: one ConfigMap each in the state namespace."""

    def __init__(self, env: Environment):
        from ..targets.kubernetes import KubernetesTarget
        from ..targets.kubernetes_state import KubernetesState, label_value
        self.env = env
        self.state = KubernetesState(KubernetesTarget(env))
        self.label = label_value(env.name)

    def _name(self, rid: str) -> str:
        from ..targets.kubernetes_state import dns_name
        return dns_name("gameday-undo", rid)

    def put(self, record: dict[str, Any]) -> None:
        self.state.create_record(self._name(record["id"]), {UNDO_LABEL: self.label},
                                 {"record.json": json.dumps(record)})

    def all(self) -> list[dict[str, Any]]:
        records = []
        for item in self.state.list_records(f"{UNDO_LABEL}={self.label}"):
            try:
                record = json.loads((item.get("data") or {}).get("record.json") or "")
            except ValueError:
                log.warning("unreadable undo record %s", item["metadata"]["name"])
                continue
            if record.get("target") == self.env.name:
                records.append(record)
        return sorted(records, key=_order)

    def remove(self, rid: str) -> bool:
        return self.state.delete_record(self._name(rid))


def _order(record: dict[str, Any]) -> tuple[float, str]:
    """Oldest first: by when the record was written (ids of one second are not ordered)."""
    return (float(record.get("created_at") or 0), str(record.get("id")))


def _env(where: Where) -> Environment | None:
    if isinstance(where, Environment):
        return where
    return getattr(where, "env", None) if not isinstance(where, str) else None


def store(where: Where) -> FileStore | ClusterStore:
    """Where ``where``'s records live (see the module docstring)."""
    env = _env(where)
    if env is not None and env.kind == "kubernetes":
        return ClusterStore(env)
    return FileStore(env.name if env is not None else str(where))


def _record_env(record: dict[str, Any]) -> Environment:
    from ..targets.environment import from_mapping
    return from_mapping(record["environment"], f"undo record {record['id']}")


# ---- the run's own account ----------------------------------------------------------------------

def _note(event: str, record: dict[str, Any], **extra: Any) -> None:
    """Append to this run's account (only in a game day's processes, which export GAMEDAY_RUN_LOG)."""
    path = os.environ.get(RUN_LOG_ENV)
    if not path:
        return
    line = {"event": event, "id": record["id"], "reason": record.get("reason"), "at": time.time(),
            "pid": os.getpid(), **extra}
    with open(path, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def removed_under(run_log: Path, still_pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Faults this run injected that someone else removed: neither undone by the run nor still
    pending, or found already gone when the run undid them. Each: ``{"id", "reason", "why"}``."""
    if not run_log.exists():
        return []
    injected: dict[str, dict[str, Any]] = {}
    undone: dict[str, dict[str, Any]] = {}
    for line in run_log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        (injected if entry.get("event") == "injected" else undone)[entry["id"]] = entry
    pending_ids = {r["id"] for r in still_pending}
    out = []
    for rid, entry in injected.items():
        if rid in undone:
            if undone[rid].get("already_gone"):
                out.append({"id": rid, "reason": entry["reason"], "why": "it was already gone when the run undid it"})
        elif rid not in pending_ids:
            out.append({"id": rid, "reason": entry["reason"], "why": "its undo record was removed by another process"})
    return out


# ---- records ------------------------------------------------------------------------------------

def write(env: Environment, undo: str, kwargs: dict[str, Any], *, reason: str) -> str:
    """Persist an undo record before the fault and return its id (unique across processes)."""
    rid = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
    record = {"id": rid, "target": env.name, "undo": undo, "kwargs": kwargs, "reason": reason,
              "created_at": time.time(), "pid": os.getpid(), "host": socket.gethostname(),
              "run": os.environ.get("GAMEDAY_RUN_ID"), "environment": env.as_configuration()}
    store(env).put(record)
    _note("injected", record)
    return rid


def pending(where: Where) -> list[dict[str, Any]]:
    """Every record not yet undone, oldest first."""
    return store(where).all()


def done(where: Where, rid: str) -> bool:
    """Remove one record; False when another process had removed it already."""
    return store(where).remove(rid)


def matching(where: Where, undo: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Pending records of one undo kind whose kwargs include ``kwargs``."""
    return [r for r in pending(where)
            if r["undo"] == undo and all(r["kwargs"].get(k) == v for k, v in kwargs.items())]


def start_recorded(where: Where, layer: str) -> list[Any]:
    """A ``start_node`` rollback: run every pending ``start_node`` record of ``layer`` (each starts the
    member it names; harmless when the platform already restarted it); the members started, in order."""
    return [run_record(r)["result"]["started"] for r in matching(where, "start_node", layer=layer)]


def run_record(record: dict[str, Any], *, settled_by: str | None = None) -> dict[str, Any]:
    """Execute one undo record and remove it; returns what the undo reported. Raises what the undo
    raised (the record then stays, for the next try). Production consent is this process's own
    (:mod:`gameday.targets.consent`): the same consent that injected a fault undoes it.
    ``settled_by`` (see :func:`settle`): this run's own recovery removed the fault first, so an undo
    finding it gone is that recovery's work, not a fault removed under the run."""
    from .undo import UNDO
    env = _record_env(record)
    if record["undo"] not in UNDO:
        raise GamedayError(f"undo record {record['id']}: unknown undo {record['undo']!r}",
                           hint="it was written by another gameday version; undo it by hand and delete the record")
    result = UNDO[record["undo"]](env, **record["kwargs"])
    removed = done(env, record["id"])
    already_gone = settled_by is None and isinstance(result, dict) and result.get("existed") is False
    _note("undone", record, already_gone=already_gone, record_was_there=removed,
          **({"settled_by": settled_by} if settled_by else {}))
    return {"id": record["id"], "undo": record["undo"], "reason": record["reason"], "result": result}


def settle(where: Where, layer: str, *, by: str) -> dict[str, list[Any]]:
    """After a recovery that this process ran inside its own experiment (``by``: "the kafka
    playbook") succeeded, close the undo records this process wrote for ``layer`` (their kwargs'
    ``layer``): each undo runs now, idempotently (it finds its fault gone, or removes what is left),
    and the run's account says the run's own recovery removed it. Without this the rollback's undo
    found the fault already gone and the game day reported it "removed under this run by someone
    else" (the disk-full drill, whose method runs the kafka playbook). Records of other processes or
    layers are left alone. Returns ``{"settled": [run_record results], "failed": [{"id", "error"}]}``;
    a failed undo keeps its record for the rollback, the next run or ``gameday cleanup``."""
    me, host = os.getpid(), socket.gethostname()
    out: dict[str, list[Any]] = {"settled": [], "failed": []}
    for record in pending(where):
        if record.get("pid") != me or record.get("host") != host or record["kwargs"].get("layer") != layer:
            continue
        try:
            out["settled"].append(run_record(record, settled_by=by))
        except GamedayError as err:
            out["failed"].append({"id": record["id"], "error": str(err)})
    return out


def undo_all(where: Where) -> Outcome:
    """Try every pending record, newest first; a failure is recorded and the next one tried."""
    outcome = Outcome()
    for record in reversed(pending(where)):
        try:
            outcome.undone.append(run_record(record))
        except Exception as err:  # noqa: BLE001 - every failure is named in the outcome, none stops the rest
            outcome.failed.append({"id": record["id"], "undo": record["undo"], "reason": record["reason"],
                                   "error": f"{type(err).__name__}: {err}"})
            log.error("gameday: could not undo %s (record %s): %s", record["reason"], record["id"], err)
    return outcome


def run_pending(where: Where) -> list[dict[str, Any]]:
    """Undo every recorded fault (newest first); raises :class:`UndoFailed` naming each one that
    could not be undone, after trying them all."""
    outcome = undo_all(where)
    if outcome.failed:
        raise UndoFailed(f"{len(outcome.failed)} recorded fault(s) could not be undone: {outcome.failure_text()}",
                         hint="fix the cause, then `gameday cleanup` (it retries every record)")
    return outcome.undone


@contextlib.contextmanager
def pending_undo(env: Environment, undo: str, kwargs: dict[str, Any], *, reason: str) -> Iterator[str]:
    """Write the undo record, run the body (the fault); if the body fails, undo immediately."""
    rid = write(env, undo, kwargs, reason=reason)
    try:
        yield rid
    except BaseException:
        record = next((r for r in pending(env) if r["id"] == rid), None)
        if record is not None:
            run_record(record)
        raise
