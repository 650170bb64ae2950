"""What the twin's scheduled backup members share: their settings, their state file and their loop.

Three members use it: ``db-backup-1`` (:mod:`.db_backup_schedule`, database backups),
``search-snapshot-1`` (:mod:`.search_snapshot_schedule`, search snapshots) and, on a WordPress twin,
``media-backup-1`` (:mod:`.media_backup_schedule`, the uploads). Each describes itself
with a :class:`Schedule` and subclasses :class:`Loop` (how to find the newest backup, how to take
one and prune)::

    DB = Schedule(layer="db", stem="db-backup", env_interval="GAMEDAY_DB_BACKUP_INTERVAL_S",
                  env_keep="GAMEDAY_DB_BACKUP_KEEP", fallback_interval_s=300.0)
    DB.ensure(twin)                    # at up: <state>/data/db-backup-schedule.json from the environment or the defaults
    DB.configure(twin, interval_s=10)  # at run time; the member applies it within POLL_S
    DB.last(twin)                      # the member's last attempt (<state>/data/db-backup-state.json) or None

The settings file holds no secret. The interval counts from the newest backup, whoever took it, so
a restarted member does not pile backups up; a failed attempt is retried after :data:`RETRY_S`.
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
from typing import Any, Callable, TypeVar

from ..errors import GamedayError, UsageError
from ..zones import REGIONAL
from .spec import MemberSpec, Workload

DEFAULT_KEEP = 3
MIN_INTERVAL_S = 5.0
POLL_S = 2.0  # how soon a changed setting (or a stop) is seen between backups
RETRY_S = 15.0  # after a failed attempt (the primary down during a failover, the search cluster lost): this soon
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    interval_s: float
    keep: int


def write_json(path: Path, data: dict) -> None:
    """Whole or not at all: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def env_number(name: str, kind):
    """The environment variable ``name`` as ``kind`` (int or float), None when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(f"{name} must be a {'whole ' if kind is int else ''}number, not {raw!r}") from None


def due_in(newest: dict[str, Any] | None, interval_s: float, now: float) -> float:
    """Seconds until the next backup is due (<= 0: now): ``interval_s`` after the newest backup's ``at``."""
    return -1.0 if newest is None else float(newest["at"]) + interval_s - now


@dataclass(frozen=True)
class Schedule:
    """One scheduled member's settings: ``layer`` (targets.yaml, for the default interval), ``stem``
    (its files in the twin's data directory), the environment variables read at ``up``."""

    layer: str
    stem: str
    env_interval: str
    env_keep: str
    fallback_interval_s: float  # when the layer's backup age limit is 0 (no backup's age can meet it) or unreadable
    default_keep: int = DEFAULT_KEEP

    def default_interval_s(self) -> float:
        """Half the age the layer allows its newest backup in targets.yaml (its ``backup_age_s``, else
        ``rpo_s``), so the newest backup stays within it, at least :data:`MIN_INTERVAL_S`;
        :attr:`fallback_interval_s` when that is 0 or targets.yaml cannot be read."""
        from ..recovery import targets_yaml
        try:
            _objective, max_age_s = targets_yaml.load().for_layer(self.layer).backup_limit()
        except GamedayError:
            return self.fallback_interval_s
        return max(MIN_INTERVAL_S, max_age_s / 2) if max_age_s > 0 else self.fallback_interval_s

    def check(self, settings: Settings, source: str) -> Settings:
        """``settings``, or a UsageError naming the bad value (``source``: where it came from)."""
        if not isinstance(settings.interval_s, (int, float)) or settings.interval_s < MIN_INTERVAL_S:
            raise UsageError(f"{source}: interval_s must be a number of seconds >= {MIN_INTERVAL_S:.0f}, "
                             f"not {settings.interval_s!r}", hint=f"e.g. {self.env_interval}=300 gameday sandbox up")
        keep = settings.keep
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise UsageError(f"{source}: keep must be a whole number >= 1, not {keep!r}",
                             hint=f"e.g. {self.env_keep}=3 gameday sandbox up")
        return settings

    def settings_path(self, twin) -> Path:
        return twin.paths.data / f"{self.stem}-schedule.json"

    def state_path(self, twin) -> Path:
        return twin.paths.data / f"{self.stem}-state.json"

    def ready_path(self, twin) -> Path:
        """Touched by the member once its first pass has decided (a backup taken or failed, or the
        newest one fresh enough): the member's readiness (:func:`workload`), so ``sandbox up`` returns
        with the first backup made, and a game day's preflight finds it."""
        return twin.paths.data / f"{self.stem}-ready"

    def load(self, twin) -> Settings:
        """The recorded settings, or the defaults when none are recorded."""
        path = self.settings_path(twin)
        if not path.exists():
            return Settings(self.default_interval_s(), self.default_keep)
        raw = json.loads(path.read_text())
        return self.check(Settings(float(raw["interval_s"]), int(raw["keep"])), str(path))

    def ensure(self, twin) -> Settings:
        """At ``up``: the settings file exists, with the environment's values where they are set."""
        current = self.load(twin)
        interval, keep = env_number(self.env_interval, float), env_number(self.env_keep, int)
        wanted = self.check(Settings(interval if interval is not None else current.interval_s,
                                     keep if keep is not None else current.keep),
                            f"{self.env_interval}/{self.env_keep}")
        if wanted != current or not self.settings_path(twin).exists():
            write_json(self.settings_path(twin), asdict(wanted))
        return wanted

    def configure(self, twin, *, interval_s: float | None = None, keep: int | None = None) -> Settings:
        """Change the schedule at run time; the member applies it within :data:`POLL_S`."""
        current = self.load(twin)
        wanted = self.check(Settings(float(interval_s) if interval_s is not None else current.interval_s,
                                     keep if keep is not None else current.keep), f"the {self.stem} schedule")
        write_json(self.settings_path(twin), asdict(wanted))
        return wanted

    def last(self, twin) -> dict[str, Any] | None:
        """The member's last attempt as it recorded it, or None before its first."""
        path = self.state_path(twin)
        return json.loads(path.read_text()) if path.exists() else None


class Loop:
    """A scheduled member's loop: waits (in steps of :data:`POLL_S`) until a backup is due, runs
    :meth:`attempt`, and stops at SIGTERM. Subclasses give :meth:`newest` and :meth:`attempt` (its
    work inside :meth:`guarded`); :attr:`errors` are the failures an attempt records and retries
    after :data:`RETRY_S`."""

    errors: tuple[type[BaseException], ...] = (GamedayError, OSError)

    def __init__(self, twin, schedule: Schedule):
        self.twin = twin
        self.schedule = schedule
        self.stop = threading.Event()
        self.busy = False
        self._ready = False

    def on_signal(self, signum, _frame) -> None:
        self.stop.set()
        if self.busy:  # inside a dump or a request: its subprocess is killed (or its socket closed) on the way out
            raise SystemExit(0)

    def newest(self) -> dict[str, Any] | None:
        """The newest complete backup, whoever took it: ``{"at": epoch seconds, ...}`` or None."""
        raise NotImplementedError

    def attempt(self, settings: Settings) -> None:
        """Take one backup and prune; record the outcome with :meth:`succeeded` or :meth:`failed`."""
        raise NotImplementedError

    def guarded(self, work: Callable[[], T]) -> tuple[T | None, BaseException | None]:
        """One step of an attempt, ``work()``, interruptible and guarded: a SIGTERM inside it ends
        the member at once (:meth:`on_signal`; a subprocess is killed, a socket closed on the way
        out), and one of :attr:`errors` is returned, not raised::

            snap, failed = self.guarded(lambda: take(api))
            if failed is not None:
                self.failed({"at": started}, failed, "snapshot failed")
        """
        self.busy = True
        try:
            return work(), None
        except self.errors as err:
            return None, err
        finally:
            self.busy = False

    def first_pass_done(self) -> None:
        """Touch :meth:`Schedule.ready_path` once per process (the member's readiness)."""
        if not self._ready:
            self.schedule.ready_path(self.twin).touch()
            self._ready = True

    def succeeded(self, record: dict[str, Any], line: str) -> None:
        write_json(self.schedule.state_path(self.twin), {**record, "ok": True})
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)
        self.first_pass_done()

    def failed(self, record: dict[str, Any], err: BaseException, line: str) -> None:
        """Record the failure, print ``line``, and wait :data:`RETRY_S` (or until stopped)."""
        write_json(self.schedule.state_path(self.twin), {**record, "ok": False, "error": str(err)})
        print(f"{time.strftime('%H:%M:%S')} {line}: {err}", flush=True)
        self.first_pass_done()
        self.stop.wait(RETRY_S)

    def run(self) -> int:
        while not self.stop.is_set():
            settings = self.schedule.load(self.twin)
            started = time.time()
            newest, failed = self.guarded(self.newest)
            if failed is not None:
                self.failed({"at": started}, failed, "could not list the backups")
                continue
            wait = due_in(newest, settings.interval_s, time.time())
            if wait > 0:
                self.first_pass_done()  # the newest is fresh enough: nothing to take now
                self.stop.wait(min(wait, POLL_S))  # settings and newer backups are read again each step
                continue
            self.attempt(settings)
        return 0


def summary_line(what: str, status: dict[str, Any], newest: str | None) -> str:
    """One scheduled member's line for ``gameday sandbox status``: ``<what>: every N s, keeping K (C now);
    newest <newest or none>``, and the last attempt's error when it failed. ``status`` holds
    ``interval_s``, ``keep``, ``count`` and ``last``; ``newest`` describes the newest backup (None: none)."""
    text = (f"{what}: every {status['interval_s']:.0f} s, keeping {status['keep']} ({status['count']} now); "
            f"newest {newest or 'none'}")
    last = status["last"]
    if last and not last.get("ok"):
        text += f"; last attempt failed: {last.get('error')}"
    return text


def workload(twin, *, name: str, workload: str, module: str, after: list[str], ready: Path) -> Workload:
    """A scheduled member (layer ``jobs``, zone regional like a cloud scheduler) running
    ``python -m <module> --home --name --net`` once the workloads ``after`` are ready; ready itself
    once it has touched ``ready`` (:meth:`Schedule.ready_path`: its first pass decided)."""
    member = MemberSpec(
        name=name, index=1, address=None, ports={},
        argv=[twin.python, "-m", module, "--home", str(twin.paths.home), "--name", twin.name, "--net", str(twin.net)],
        readiness={"type": "file", "path": str(ready)},
        labels={"app": workload, "zone": REGIONAL},
        stop_grace=5.0,
    )
    return Workload(name=workload, layer="jobs", kind="service", replicas=1, members=[member],
                    after=after, labels={"layer": "jobs"})


def main(argv: list[str] | None, *, module: str, description: str, make_loop) -> int:
    """A member's entry point: the twin from ``--home --name --net``, ``make_loop(twin)`` run until SIGTERM."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
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
    loop = make_loop(twin)
    signal.signal(signal.SIGTERM, loop.on_signal)
    signal.signal(signal.SIGINT, loop.on_signal)
    settings = loop.schedule.load(twin)
    print(f"{time.strftime('%H:%M:%S')} {loop.schedule.stem}: every {settings.interval_s:.0f} s, keeping {settings.keep}",
          flush=True)
    return loop.run()
