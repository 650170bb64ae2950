"""A twin keeps the network it was started on (gameday/sandbox/twin.py ``NET_FILE``): later commands
find its addresses by its name, and a command or an environment naming another network is refused
(exit 2, nothing touched) instead of reaching whatever twin runs on that network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gameday.errors import ExitCode, UsageError
from gameday.sandbox.twin import NET_FILE, Twin, recorded_net
from gameday.targets import for_environment
from gameday.targets.environment import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GAMEDAY_SANDBOX_NET", raising=False)
    return tmp_path / "state"


def started(name: str, net: int) -> Twin:
    """A twin as its first ``up`` leaves it (``topology.prepare`` records its network first)."""
    twin = Twin.create(name, net=net)
    twin.record_net()
    return twin


def environment(tmp_path: Path, sandbox: str, net: int | None) -> Path:
    data = yaml.safe_load((ROOT / "environments" / "sandbox.yaml").read_text())
    env = data["configuration"]["gameday_environment"]
    env.update(name="sandbox-wp", sandbox=sandbox)
    env.pop("regions", None)
    if net is None:
        env.pop("net")
    else:
        env["net"] = net
    path = tmp_path / "sandbox-wp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_twin_is_found_on_its_own_network_by_name_alone(state, monkeypatch):
    started("wp", 52)
    assert (state / "wp" / NET_FILE).read_text().strip() == "52" and recorded_net(Twin.create("wp").paths) == 52
    assert Twin.create("wp").address("lb") == "127.52.10.1"
    monkeypatch.setenv("GAMEDAY_SANDBOX_NET", "10")
    assert Twin.create("wp").net == 52            # its own, whatever the variable says
    assert Twin.create("never-started").net == 10  # a new twin: the variable, then the default


def test_an_unreadable_net_file_is_a_clear_error_not_a_twin_never_started(state):
    twin = started("wp", 52)
    (twin.paths.home / NET_FILE).write_text("")
    with pytest.raises(UsageError, match=r"should hold the network twin 'wp' was started on") as err:
        Twin.create("wp")
    assert "down --wipe" in err.value.hint


def test_starting_a_twin_on_another_network_is_refused(state):
    started("wp", 52)
    started("wp", 52)  # again on its own: fine
    with pytest.raises(UsageError, match=r"network 10 .*twin 'wp' runs on network 52") as err:
        Twin.create("wp", net=10).record_net()
    assert "down --wipe" in err.value.hint and err.value.exit_code == ExitCode.USAGE


def test_an_environment_naming_another_network_is_refused_before_any_call(state, tmp_path):
    started("wp", 52)
    with pytest.raises(UsageError, match=r"environment 'sandbox-wp' .*network 10.*runs on network 52"):
        for_environment(load(environment(tmp_path, "wp", 10)))
    target = for_environment(load(environment(tmp_path, "wp", None)))  # no net: the twin's own
    assert target._twin().address("lb") == "127.52.10.1"
    assert for_environment(load(environment(tmp_path, "wp", 52)))._twin().address("lb") == "127.52.10.1"


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)


def test_the_cli_refuses_a_mismatch_with_exit_2_and_no_traceback(state, tmp_path):
    import os

    started("wp", 52)
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(state), "GAMEDAY_SANDBOX_NET": "10"}
    up = cli("sandbox", "--name", "wp", "up", env=env)
    assert up.returncode == 2 and "runs on network 52" in up.stderr and "Traceback" not in up.stderr, up.stderr
    assert "GAMEDAY_SANDBOX_NET= gameday sandbox --name wp down --wipe" in up.stderr
    # the other commands find the twin on its own network (its status, or the wipe the hint names)
    status = cli("sandbox", "--name", "wp", "status", "--json", env=env)
    assert "runs on network" not in status.stderr and "Traceback" not in status.stderr, status.stderr
    for bad_net in ("ten", "300"):
        bad = cli("sandbox", "--name", "never-started", "status", env={**env, "GAMEDAY_SANDBOX_NET": bad_net})
        assert bad.returncode == 2 and "must be a network number" in bad.stderr and "Traceback" not in bad.stderr
        run_bad = cli("run", "--suite", "smoke", "--env", str(environment(tmp_path, "never-started", None)),
                      "--no-install", env={**env, "GAMEDAY_SANDBOX_NET": bad_net})
        assert run_bad.returncode == 2 and "must be a network number" in run_bad.stderr, run_bad.stderr
        assert "Traceback" not in run_bad.stderr
    env.pop("GAMEDAY_SANDBOX_NET")
    run = cli("run", "--suite", "smoke", "--env", str(environment(tmp_path, "wp", 10)), "--no-install",
              "--reports", str(tmp_path / "reports"), env=env)
    assert run.returncode == 2 and "runs on network 52" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "reports").exists()  # refused before anything


def test_a_region_set_with_a_twin_on_another_network_is_refused_before_anything_starts(state):
    from gameday.sandbox import regions as region_set
    from gameday.sandbox.shape import FILE as SHAPE_FILE

    started("rg-r2", 50)  # the standby was made on another network than the set's (43 + 1)
    pair = region_set.Regions.of(Twin.create("rg", net=43))
    with pytest.raises(UsageError, match=r"'rg-r2' \(network 44\).*runs on network 50"):
        region_set.up(pair, timeout=5)
    assert not (state / "rg" / SHAPE_FILE).exists() and not (state / "rg" / NET_FILE).exists()  # nothing written
