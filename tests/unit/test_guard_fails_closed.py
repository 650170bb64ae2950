"""The guard fails closed: Chaos Toolkit logs a control's unexpected exception at debug level and runs
the method anyway, so every exception in our controls' before hooks must become InterruptExecution.

Plain `chaos run` of an experiment whose only action is a `process` writing a marker file; nothing
here needs the twin (the guard stops before any target is reached)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chaoslib.exceptions import InterruptExecution

from gameday.chaos.controls import guard, safeguard

CHAOS = str(Path(sys.executable).with_name("chaos"))


def _environment(**changes) -> dict:
    return {"name": f"closed-{os.getpid()}", "kind": "sandbox", "allowed": True, "production": False,
            "sandbox": f"absent-{os.getpid()}", "net": 77, **changes}


def _experiment(tmp_path: Path, marker: Path, safeguard_args: dict | None = None, then: list | None = None) -> Path:
    """A process action writing ``marker`` (then the actions ``then``), behind the guard (or the
    safeguard alone, with ``safeguard_args``, as an author might add it)."""
    controls = [{"name": "gameday-guard", "provider": {"type": "python", "module": "gameday.chaos.controls.guard"}}]
    if safeguard_args is not None:
        controls = [{"name": "gameday-safeguard", "provider": {"type": "python", "module": "gameday.chaos.controls.safeguard",
                                                               "arguments": safeguard_args}}]
    doc = {"version": "1.0.0", "title": "a process action behind our controls", "description": "fail closed",
           "configuration": {"gameday_environment": "sandbox"},  # what --var-file overrides
           "controls": controls,
           "method": [{"type": "action", "name": "write-the-marker",
                       "provider": {"type": "process", "path": sys.executable,
                                    "arguments": ["-c", f"open({str(marker)!r}, 'w').write('ran')"]}}, *(then or [])]}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _chaos_run(tmp_path: Path, experiment: Path, environment: dict) -> tuple[subprocess.CompletedProcess, dict]:
    var_file = tmp_path / "env.yaml"
    var_file.write_text(yaml.safe_dump({"configuration": {"gameday_environment": environment}}))
    journal = tmp_path / "journal.json"
    proc = subprocess.run([CHAOS, "--no-log-file", "run", str(experiment), "--rollback-strategy", "always",
                           "--var-file", str(var_file), "--journal-path", str(journal)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    return proc, (json.loads(journal.read_text()) if journal.exists() else {})


BAD_LATENCY = {"type": "action", "name": "latency-that-is-not-a-number",
               "provider": {"type": "python", "module": "gameday.chaos.network.actions", "func": "add_latency",
                            "arguments": {"dependency": "db", "latency_ms": "lots"}}}


@pytest.mark.parametrize("environment, then, why", [
    # the guard's dry run meets an exception that is not ours (int("lots")): it must not fail open
    (_environment(), [BAD_LATENCY], "gameday guard failed (ValueError"),
    # the environment: limits a list and allowed false
    (_environment(limits=[1], allowed=False), [], "limits must be a mapping"),
])
def test_a_guard_that_fails_stops_the_experiment_before_its_method(tmp_path, environment, then, why):
    marker = tmp_path / "marker"
    proc, journal = _chaos_run(tmp_path, _experiment(tmp_path, marker, then=then), environment)
    assert not marker.exists(), proc.stderr[-3000:]
    assert journal.get("status") == "interrupted" and journal.get("run") == [], proc.stderr[-3000:]
    assert "gameday guard" in proc.stderr and why in proc.stderr, proc.stderr[-3000:]


def test_a_safeguard_that_cannot_watch_stops_the_experiment_before_its_method(tmp_path):
    marker = tmp_path / "marker"
    proc, journal = _chaos_run(tmp_path, _experiment(tmp_path, marker, {"rate": 0}), _environment(site_url="http://127.0.0.1:9"))
    assert not marker.exists(), proc.stderr[-3000:]
    assert journal.get("status") == "interrupted"
    assert "gameday safeguard could not start (ZeroDivisionError" in proc.stderr


@pytest.mark.parametrize("control", [guard, safeguard])
@pytest.mark.parametrize("environment", [_environment(limits=[1], allowed=False), "no-such-environment", 7])
def test_every_exception_in_a_before_hook_is_an_interruption(control, environment):
    with pytest.raises(InterruptExecution):
        control.before_experiment_control({"title": "t", "method": []}, configuration={"gameday_environment": environment})
