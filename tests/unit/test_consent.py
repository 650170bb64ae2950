"""Production consent: one rule (gameday.targets.consent), true only for an explicit yes, read the same
way by the CLI, the chaos extension and every undo; and the commands that can touch production take
--i-mean-production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gameday.chaos.context import environment, target
from gameday.errors import UsageError
from gameday.targets import consent, for_environment
from gameday.targets.environment import from_mapping

GAMEDAY = str(Path(sys.executable).with_name("gameday"))


def production_mapping(**changes) -> dict:
    """A production environment on a sandbox twin that is not running (nothing here touches it)."""
    return {"name": f"prod-{os.getpid()}", "kind": "sandbox", "allowed": True, "production": True,
            "sandbox": f"absent-{os.getpid()}", "net": 77, **changes}


@pytest.fixture(autouse=True)
def no_inherited_consent(monkeypatch):
    """No consent from the outside, and none left behind: setenv first, so teardown restores the
    variable's original state even after consent.export() set it."""
    monkeypatch.setenv(consent.ENV, "")
    monkeypatch.delenv(consent.ENV)


@pytest.mark.parametrize("value", ["0", "false", "no", "", "off", "2"])
def test_an_inherited_variable_that_is_not_an_explicit_yes_is_no_consent_anywhere(monkeypatch, value):
    monkeypatch.setenv(consent.ENV, value)
    env = from_mapping(production_mapping(), "test")
    with pytest.raises(UsageError, match="production target.*--i-mean-production"):
        for_environment(env)
    with pytest.raises(UsageError, match="production target.*gameday_i_mean_production:bool=true"):
        environment({"gameday_environment": production_mapping()})


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_an_explicit_yes_is_consent_for_the_cli_and_the_chaos_side_alike(monkeypatch, value):
    monkeypatch.setenv(consent.ENV, value)
    env = from_mapping(production_mapping(), "test")
    assert for_environment(env).name == env.name
    assert environment({"gameday_environment": production_mapping()}).production


@pytest.mark.parametrize("value", [False, "false", "0", None])
def test_the_chaos_variable_must_be_an_explicit_yes(value):
    with pytest.raises(UsageError, match="production target"):
        target({"gameday_environment": production_mapping(), consent.VAR: value}, lock=False)


def test_chaos_consent_reaches_the_undo_in_the_same_process(monkeypatch):
    """An undo record runs for_environment(env) without a flag: the consent the run was given
    (--var gameday_i_mean_production:bool=true) is passed on, so a rollback can undo its fault."""
    env = from_mapping(production_mapping(), "test")
    with pytest.raises(UsageError):
        for_environment(env)
    environment({"gameday_environment": production_mapping(), consent.VAR: True})
    assert os.environ[consent.ENV] == "1"
    assert for_environment(env).name == env.name  # what gameday.chaos.undo does for every record


def _env_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump({"configuration": {"gameday_environment": production_mapping(**changes)}}))
    return path


def _gameday(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != consent.ENV}
    return subprocess.run([GAMEDAY, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("command", [["playbook", "web"], ["cleanup"], ["run", "--no-install"]])
def test_every_command_that_can_touch_production_takes_the_flag(command):
    out = _gameday(*command, "--help")
    assert out.returncode == 0 and "--i-mean-production" in out.stdout, out.stdout + out.stderr


def test_playbook_on_production_needs_the_flag_and_accepts_it(tmp_path):
    env_file = _env_file(tmp_path)
    refused = _gameday("playbook", "web", "-e", str(env_file))
    assert refused.returncode == 2, refused.stderr
    assert "production target" in refused.stderr and "--i-mean-production" in refused.stderr
    # with the flag it gets as far as the target, which is not running here: exit 4, not a refusal
    accepted = _gameday("playbook", "web", "-e", str(env_file), "--i-mean-production")
    assert accepted.returncode == 4, accepted.stdout + accepted.stderr
    assert "is not running" in accepted.stderr and "production" not in accepted.stderr


def test_playbook_with_no_twin_running_exits_4_not_a_plan(tmp_path):
    env_file = _env_file(tmp_path, production=False)
    out = _gameday("playbook", "site", "-e", str(env_file))
    assert out.returncode == 4, out.stdout + out.stderr
    assert "is not running" in out.stderr and "gameday sandbox" in out.stderr
    assert "plan" not in out.stdout
