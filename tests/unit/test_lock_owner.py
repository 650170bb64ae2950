"""The file lock's owner is a process, not a pid: pids wrap (at 32,768 here) and a dead run's lock
whose pid another process took was read as held. In make test a region drill's lock on its second
region, never released, was refused 40 minutes later to the next drill ("locked by pid 23424 (region
drill, since 22:26:10)"): the pid was alive, another process. And a run releases every lock it took."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from gameday.chaos import lock as lock_module
from gameday.chaos.lock import TargetLock, TargetLocked, release_taken
from gameday.children import started_at


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("GAMEDAY_LOCK_PID", raising=False)
    yield tmp_path
    for target in ("r1", "r2", "r3"):  # this test's own (release_taken would release other tests' in this worker)
        TargetLock(target).release()


@pytest.fixture
def other_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def _held_by(target: str, pid: int, started: str | None) -> TargetLock:
    lock = TargetLock(target)
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    record = {"target": target, "pid": pid, "host": socket.gethostname(), "purpose": "region drill",
              "since": 0.0, "expires_at": 4e9}
    if started is not None:
        record["pid_started"] = started
    lock.path.write_text(json.dumps(record))
    return lock


def test_a_live_holder_keeps_its_lock(other_process):
    _held_by("r2", other_process.pid, started_at(other_process.pid))
    with pytest.raises(TargetLocked, match=f"locked by pid {other_process.pid}"):
        TargetLock("r2").acquire()


def test_a_pid_another_process_reused_does_not_hold_the_dead_runs_lock(other_process):
    # the record's process started before the process that has its pid now (another start, same boot)
    boot, ticks = started_at(other_process.pid).split(":")
    _held_by("r2", other_process.pid, f"{boot}:{int(ticks) - 360000}")
    replaced = TargetLock("r2").acquire(purpose="region drill")
    assert replaced["pid"] == other_process.pid  # taken over, and said so
    assert TargetLock("r2").holder()["pid"] == os.getpid()


def test_a_record_of_this_pid_from_an_earlier_process_is_not_this_process():
    boot, ticks = started_at(os.getpid()).split(":")
    earlier = f"{boot}:{int(ticks) - 1}"
    lock = _held_by("r1", os.getpid(), earlier)
    assert not lock.held_by_me()
    assert lock.acquire()["pid_started"] == earlier  # the old record was replaced, and said so
    assert lock.held_by_me()


def test_a_record_without_a_start_time_counts_any_process_with_its_pid(other_process):
    _held_by("r2", other_process.pid, None)  # written before the start time was recorded
    with pytest.raises(TargetLocked):
        TargetLock("r2").acquire()


def test_a_start_is_the_boot_and_the_kernels_tick_count_not_a_wall_clock_time(other_process):
    first = started_at(other_process.pid)
    boot, ticks = first.split(":")
    assert boot == open("/proc/sys/kernel/random/boot_id").read().strip() and int(ticks) > 0
    assert started_at(other_process.pid) == first and started_at(2 ** 22 + 1) is None  # stable; no such pid


def test_a_run_releases_every_lock_it_took_and_no_other(other_process):
    release_taken()  # what earlier tests in this process took (a run starts with none)
    TargetLock("r1").acquire(purpose="chaos")
    TargetLock("r2").acquire(purpose="region drill")
    theirs = _held_by("r3", other_process.pid, started_at(other_process.pid))
    assert sorted(release_taken()) == ["r1", "r2"]
    assert TargetLock("r1").holder() is None and TargetLock("r2").holder() is None
    assert theirs.holder()["pid"] == other_process.pid
    assert release_taken() == []
    TargetLock("r1").acquire()
    assert "r1" in lock_module._taken
    assert TargetLock("r1").release() and "r1" not in lock_module._taken  # released by its own call: forgotten


def test_a_lock_file_its_writer_died_writing_is_broken_and_a_new_one_is_never_torn(state):
    """make test at 1a4a7cf: a chaos run killed with its game day left ``sandbox-test.json`` empty (the old
    acquire created the file, then wrote the record); every later acquire and ``gameday cleanup`` read no
    holder, could not create the file and refused ("locked by another run just now") for the rest of the run."""
    lock = TargetLock("r1")
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    lock.path.write_text("")
    with pytest.raises(TargetLocked, match="just now"):  # empty for less than a write takes: someone is writing
        lock.acquire("game day")
    old = os.stat(lock.path).st_mtime - lock_module.TORN_AFTER_S - 1
    os.utime(lock.path, (old, old))
    assert TargetLock("r2").break_stale() is None  # another target's lock: untouched
    assert lock.acquire("game day") == {"target": "r1", "torn": True}
    record = json.loads(lock.path.read_text())  # whole the moment the file exists: linked into place
    assert record["pid"] == os.getpid() and record["purpose"] == "game day"
    assert [p.name for p in lock.path.parent.iterdir()] == ["r1.json"]  # no temporary file left beside it
    lock.release()
    lock.path.write_text("")
    os.utime(lock.path, (old, old))
    assert TargetLock("r1").break_stale() == {"target": "r1", "torn": True} and not lock.path.exists()
