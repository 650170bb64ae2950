"""Bad input and faults at the command line: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gameday.sandbox import lifecycle, reaper
from gameday.sandbox.client import supervisor_pid
from gameday.sandbox.members import db
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin


def gameday(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def assert_clean_error(out: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    for phrase in phrases:
        assert phrase in out.stderr, out.stderr


def test_help_teaches_the_commands():
    out = gameday("sandbox", "--help")
    assert out.returncode == 0
    for word in ("install", "up", "down", "status", "logs", "kill", "scale"):
        assert word in out.stdout


def test_down_with_nothing_running_is_a_no_op():
    out = gameday("sandbox", "--name", "never-started", "down")
    assert out.returncode == 0 and "nothing to stop" in out.stderr


def test_controls_on_a_stopped_twin_say_it_is_not_running():
    assert_clean_error(gameday("sandbox", "--name", "never-started", "kill", "web-1"), 4,
                       "not running", "gameday sandbox up")


def test_logs_of_an_unknown_member():
    assert_clean_error(gameday("sandbox", "--name", "never-started", "logs", "kafka-9"), 2, "no log for 'kafka-9'")


def test_up_without_the_installed_servers_names_what_is_missing(tmp_path):
    out = gameday("sandbox", "--name", "never-started", "up", env={"GAMEDAY_CACHE": str(tmp_path / "empty")})
    assert_clean_error(out, 3, "not installed", "Apache Kafka", "OpenSearch", "toxiproxy", "gameday sandbox install")


def test_up_without_java_names_it(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    out = gameday("sandbox", "--name", "never-started", "up", env={"PATH": str(bare)})
    assert_clean_error(out, 3, "java 17+")


def test_corrupt_data_directory_fails_up_naming_member_and_log():
    """A MariaDB whose system tables were destroyed: `up` names db-1 and its log, leaves nothing."""
    twin = Twin.create("corrupt", net=32)
    lifecycle.down(twin.paths, wipe=True)
    topo = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, workloads=[db.workload(twin)],
                    backoff_base=0.2, backoff_cap=1.0)

    def prepare():
        twin.paths.ensure()
        db.prepare(twin)

    try:
        lifecycle.up(twin.paths, topo, prepare=prepare, timeout=60)
        lifecycle.down(twin.paths)
        datadir = twin.paths.data / "db-1"
        for f in ("ibdata1", "aria_log_control"):
            (datadir / f).write_bytes(b"\0garbage\0" * 1000)
        with pytest.raises(Exception) as err:
            lifecycle.up(twin.paths, topo, prepare=prepare, timeout=60)
        assert "db-1 keeps failing to start" in str(err.value)
        assert str(twin.paths.member_log("db-1")) in str(err.value)
        assert supervisor_pid(twin.paths) is None
        assert reaper.marked_processes(twin.paths.sandbox_id) == []
    finally:
        lifecycle.down(twin.paths, wipe=True)
