"""The twin's database backups on a schedule: one supervised member, ``db-backup-1``.

It takes a backup (:func:`gameday.sandbox.db_backup.take`) from whichever member is the primary
(``db_roles``, read again for every backup) every ``interval_s``, keeps the newest ``keep`` and
prunes the older ones. The supervisor restarts it when it dies and stops it at ``sandbox down``; a
SIGTERM during a dump kills the dump (no child outlives it) and leaves no half-written backup (a
backup exists only once its manifest is renamed into place). The interval counts from the newest
backup, whoever took it (a drill's own ``take`` too), so a restart does not pile backups up::

    topology.workloads.append(workload(twin))
    ensure(twin)                      # at up: the settings file from the environment or the defaults
    configure(twin, interval_s=10)    # at run time (SandboxTarget.set_db_backup_schedule); applies within POLL_S
    status(twin)                      # {"interval_s", "keep", "newest": {...} | None, "last": {...} | None}
    prune(host, keep=3)               # what the member runs after each backup

Settings (``<state>/data/db-backup-schedule.json``, no secrets): ``GAMEDAY_DB_BACKUP_INTERVAL_S``
and ``GAMEDAY_DB_BACKUP_KEEP`` when the twin is brought up (kept from then on, as
``GAMEDAY_DB_REPLICATION`` is), else :func:`default_interval_s` (from the db layer's ``rpo_s`` in
targets.yaml) and :data:`DEFAULT_KEEP`. Each attempt's outcome is in ``db-backup-state.json`` and
the member's log. On a Kubernetes target the platform's own schedule applies (Cloud SQL's automated
backups, or the operator's); the twin's Kubernetes mode runs no such member.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pymysql

from ..errors import GamedayError, UsageError
from ..zones import REGIONAL
from . import db_backup
from .spec import MemberSpec, Workload

NAME = "db-backup-1"
WORKLOAD = "db-backup"
ENV_INTERVAL = "GAMEDAY_DB_BACKUP_INTERVAL_S"
ENV_KEEP = "GAMEDAY_DB_BACKUP_KEEP"
DEFAULT_INTERVAL_S = 300.0  # when the db layer's backup age limit is 0 (no backup's age can meet it) or unreadable
DEFAULT_KEEP = 3
MIN_INTERVAL_S = 5.0
POLL_S = 2.0  # how soon a changed setting (or a stop) is seen between backups
RETRY_S = 15.0  # after a failed attempt (the primary down during a failover): try again this soon
STALE_S = 3600.0  # a temporary file or a dump without manifest older than this is a crashed run's leftover


@dataclass(frozen=True)
class Settings:
    interval_s: float = DEFAULT_INTERVAL_S
    keep: int = DEFAULT_KEEP

    def check(self, source: str = "the backup schedule") -> "Settings":
        """Itself, or a UsageError naming the bad value."""
        if not isinstance(self.interval_s, (int, float)) or self.interval_s < MIN_INTERVAL_S:
            raise UsageError(f"{source}: interval_s must be a number of seconds >= {MIN_INTERVAL_S:.0f}, "
                             f"not {self.interval_s!r}", hint=f"e.g. {ENV_INTERVAL}=300 gameday sandbox up")
        if isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1:
            raise UsageError(f"{source}: keep must be a whole number >= 1, not {self.keep!r}",
                             hint=f"e.g. {ENV_KEEP}=3 gameday sandbox up")
        return self


def default_interval_s() -> float:
    """Half the age the db layer allows its newest backup in targets.yaml (defaults: ``backup_age_s``,
    else ``rpo_s``), so the newest backup stays within it (a dump takes seconds), at least
    :data:`MIN_INTERVAL_S`; :data:`DEFAULT_INTERVAL_S` when that is 0 (no backup's age meets 0: the
    binary log keeps those writes, and the game day's preflight says so) or targets.yaml cannot be read."""
    from ..recovery import targets_yaml
    try:
        _objective, max_age_s = targets_yaml.load().for_layer("db").backup_limit()
    except GamedayError:
        return DEFAULT_INTERVAL_S
    return max(MIN_INTERVAL_S, max_age_s / 2) if max_age_s > 0 else DEFAULT_INTERVAL_S


def _env_number(name: str, kind):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(f"{name} must be a {'whole ' if kind is int else ''}number, not {raw!r}") from None


def _settings_path(twin) -> Path:
    return twin.paths.data / "db-backup-schedule.json"


def _state_path(twin) -> Path:
    return twin.paths.data / "db-backup-state.json"


def _write_json(path: Path, data: dict) -> None:
    """Whole or not at all: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def load(twin) -> Settings:
    """The recorded settings, or the defaults when none are recorded."""
    path = _settings_path(twin)
    if not path.exists():
        return Settings(default_interval_s(), DEFAULT_KEEP)
    raw = json.loads(path.read_text())
    return Settings(float(raw["interval_s"]), int(raw["keep"])).check(str(path))


def ensure(twin) -> Settings:
    """At ``up``: the settings file exists, with the environment's values where they are set."""
    current = load(twin)
    interval, keep = _env_number(ENV_INTERVAL, float), _env_number(ENV_KEEP, int)
    wanted = Settings(interval if interval is not None else current.interval_s,
                      keep if keep is not None else current.keep).check(f"{ENV_INTERVAL}/{ENV_KEEP}")
    if wanted != current or not _settings_path(twin).exists():
        _write_json(_settings_path(twin), asdict(wanted))
    return wanted


def configure(twin, *, interval_s: float | None = None, keep: int | None = None) -> Settings:
    """Change the schedule at run time; the member applies it within :data:`POLL_S`."""
    current = load(twin)
    wanted = Settings(float(interval_s) if interval_s is not None else current.interval_s,
                      keep if keep is not None else current.keep).check()
    _write_json(_settings_path(twin), asdict(wanted))
    return wanted


# ---- pruning ----------------------------------------------------------------------------------------

def prune(host: db_backup.DbHost, *, keep: int, now: float | None = None, stale_s: float = STALE_S) -> list[str]:
    """Remove every complete backup but the newest ``keep`` (its manifest first, so it is never
    listed without its dump), and what crashed runs left: temporary files and dumps without a
    manifest older than ``stale_s``. Returns the names removed."""
    if keep < 1:
        raise UsageError(f"keep must be >= 1, not {keep}")
    if not host.backup_dir.is_dir():
        return []
    removed = []
    for manifest in db_backup.backups(host)[:-keep]:
        (host.backup_dir / f"{manifest['id']}.json").unlink(missing_ok=True)
        Path(manifest["path"]).unlink(missing_ok=True)
        removed.append(str(manifest["id"]))
    now = time.time() if now is None else now
    named = {p.stem for p in host.backup_dir.glob("*.json")}
    for path in sorted(host.backup_dir.iterdir()):
        leftover = path.name.endswith(".tmp") or (path.suffix == ".sql" and path.stem not in named)
        try:
            if leftover and now - path.stat().st_mtime > stale_s:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            continue  # removed meanwhile (a take renamed its temporary file)
    return removed


# ---- what the member runs ------------------------------------------------------------------------------

def due_in(newest: dict[str, Any] | None, interval_s: float, now: float) -> float:
    """Seconds until the next backup is due (<= 0: now): ``interval_s`` after the newest backup."""
    return -1.0 if newest is None else float(newest["at"]) + interval_s - now


def status(twin) -> dict[str, Any]:
    """``{"interval_s", "keep", "newest": {"id", "at", "member", "age_s"} | None, "count", "last":
    the member's last attempt {"at", "ok", "id" | "error", "pruned"} | None}``."""
    settings = load(twin)
    host = db_backup.DbHost.of_twin(twin)
    found = db_backup.backups(host)
    newest = found[-1] if found else None
    last = json.loads(_state_path(twin).read_text()) if _state_path(twin).exists() else None
    return {**asdict(settings), "count": len(found), "last": last,
            "newest": None if newest is None else {"id": newest["id"], "at": newest["at"], "member": newest.get("member"),
                                                   "age_s": round(time.time() - float(newest["at"]), 1)}}


def summary(twin) -> str:
    """One line for ``gameday sandbox status``."""
    s = status(twin)
    newest = s["newest"]
    text = f"db backups: every {s['interval_s']:.0f} s, keeping {s['keep']} ({s['count']} now); newest "
    text += "none" if newest is None else f"{newest['id']} from {newest['member'] or '?'}, {newest['age_s']:.0f} s old"
    last = s["last"]
    if last and not last.get("ok"):
        text += f"; last attempt failed: {last.get('error')}"
    return text


class _Member:
    """The loop of ``db-backup-1``: waits (in steps of :data:`POLL_S`) until a backup is due, takes
    it from the current primary, prunes, records the outcome; stops at SIGTERM."""

    def __init__(self, twin):
        self.twin = twin
        self.stop = threading.Event()
        self.busy = False

    def on_signal(self, signum, _frame) -> None:
        self.stop.set()
        if self.busy:  # inside a dump: subprocess.run kills it on the way out; take() removes its temporary file
            raise SystemExit(0)

    def attempt(self, settings: Settings) -> None:
        started = time.time()
        host = db_backup.DbHost.of_twin(self.twin)  # the primary now (db-2 after a failover)
        self.busy = True
        try:
            manifest = db_backup.take(host, timeout=max(60.0, min(db_backup.TOOL_TIMEOUT, settings.interval_s * 4)))
            pruned = prune(host, keep=settings.keep)
        except (GamedayError, pymysql.MySQLError, OSError) as err:
            failed: BaseException | None = err
        else:
            failed = None
        finally:
            self.busy = False
        if failed is not None:
            _write_json(_state_path(self.twin), {"at": started, "ok": False, "member": host.member, "error": str(failed)})
            print(f"{time.strftime('%H:%M:%S')} backup from {host.member} failed: {failed}", flush=True)
            self.stop.wait(RETRY_S)
            return
        _write_json(_state_path(self.twin), {"at": started, "ok": True, "id": manifest["id"], "member": host.member,
                                             "seconds": manifest["seconds"], "pruned": pruned})
        print(f"{time.strftime('%H:%M:%S')} backup {manifest['id']} from {host.member} in {manifest['seconds']} s "
              f"({manifest['bytes']} bytes); pruned {', '.join(pruned) or 'nothing'}", flush=True)

    def run(self) -> int:
        while not self.stop.is_set():
            settings = load(self.twin)
            found = db_backup.backups(db_backup.DbHost.of_twin(self.twin))
            wait = due_in(found[-1] if found else None, settings.interval_s, time.time())
            if wait > 0:
                self.stop.wait(min(wait, POLL_S))  # settings and newer backups are read again each step
                continue
            self.attempt(settings)
        return 0


def workload(twin) -> Workload:
    """``db-backup-1`` (workload ``db-backup``, layer ``jobs``, zone regional like a cloud scheduler),
    started once the bootstrap job has seeded the database."""
    member = MemberSpec(
        name=NAME, index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.sandbox.db_backup_schedule", "--home", str(twin.paths.home),
              "--name", twin.name, "--net", str(twin.net)],
        readiness={"type": "alive", "min_seconds": 2},
        labels={"app": "db-backup", "zone": REGIONAL},
        stop_grace=5.0,
    )
    return Workload(name=WORKLOAD, layer="jobs", kind="service", replicas=1, members=[member],
                    after=["bootstrap"], labels={"layer": "jobs"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gameday.sandbox.db_backup_schedule",
                                     description="The twin's scheduled database backups (a supervised member).")
    parser.add_argument("--home", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--net", type=int, required=True)
    args = parser.parse_args(argv)
    from .install import locations
    from .paths import SandboxPaths
    from .shape import Shape
    from .twin import Twin
    paths = SandboxPaths(name=args.name, home=Path(args.home))
    twin = Twin(name=args.name, net=args.net, paths=paths, loc=locations(), python=sys.executable,
                shape=Shape.load(paths))
    member = _Member(twin)
    signal.signal(signal.SIGTERM, member.on_signal)
    signal.signal(signal.SIGINT, member.on_signal)
    settings = load(twin)
    print(f"{time.strftime('%H:%M:%S')} backups every {settings.interval_s:.0f} s, keeping {settings.keep}",
          flush=True)
    return member.run()


if __name__ == "__main__":
    sys.exit(main())
