"""`gameday load` without a twin: bad input refused before any load, and the traffic model's maths.
In the quick lane (tests/conftest.py NO_TWIN): nothing here starts a server (127.81.99.1: nothing listens)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def gameday(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gameday", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_bad_input_fails_before_any_load(tmp_path: Path):
    cases = [
        (["--profile", "lunch", "--host", "http://127.0.0.1:9"], 2, "lunch"),
        (["--profile", "smoke", "--host", "http://10.1.2.3:8080"], 2, "only loopback"),
        (["--profile", "smoke", "--host", "http://127.81.99.1:8080"], 4, "did not answer"),
        (["--profile", "smoke", "--host", "http://127.0.0.1:9", "--duration", "-5"], 2, "out of range"),
        (["--profile", "smoke", "--host", "http://127.0.0.1:9", "--through-cdn"], 2, "--through-cdn loads a sandbox"),
        (["--profile", "smoke", "--sandbox", "never-started", "--through-cdn"], 2, "sandbox 'never-started' is not running"),
    ]
    bad = tmp_path / "traffic.yaml"
    bad.write_text((ROOT / "loadtests" / "traffic.yaml").read_text().replace("session_minutes: 4", "session_minutes: -4"))
    cases.append((["--profile", "smoke", "--host", "http://127.0.0.1:9", "--traffic", str(bad)], 2,
                  "audience.session_minutes must be more than 0"))
    missing = tmp_path / "missing.yaml"
    missing.write_text(bad.read_text().replace("  session_minutes: -4", ""))
    cases.append((["--profile", "smoke", "--host", "http://127.0.0.1:9", "--traffic", str(missing)], 2,
                  "audience.session_minutes is missing"))
    for i, (args, code, phrase) in enumerate(cases):
        out = tmp_path / f"run-{i}"
        res = gameday("load", "run", *args, "--out", str(out), timeout=60)
        assert res.returncode == code, (args, res.returncode, res.stderr)
        assert phrase in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert not (out / "timeline.jsonl").exists()


def test_plan_prints_the_maths():
    res = gameday("load", "plan", "--json", timeout=60)
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert plan["schema"] == "gameday.load.plan/v1"
    assert plan["inputs"]["monthly_active_users"] == 500_000
    assert plan["derived"]["peak_concurrency"] == pytest.approx(600)
    assert plan["profiles"]["peak"]["max_users"] == round(20 * plan["inputs"]["pacing_s"])
    text = gameday("load", "plan", timeout=60)
    assert "Little's law" in text.stdout and "origin requests/s" in text.stdout
