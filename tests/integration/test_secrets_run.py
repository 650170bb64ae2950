"""A real game day whose credential holds every special character: no form of it reaches any file
of the run, the history index, stdout or stderr, and Locust's environment never holds it.

The leak is real: a ``sitecustomize`` on the children's PYTHONPATH makes the ``chaos run`` child
print the secret (raw, JSON, repr) into its log and write it into its journal's status, which the
runner then puts into events, progress lines and the report. Locust would print it too, if the
secret were in its environment.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import yaml

from gameday.redact import MASK, forms

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Pw &<>\"'\\ äÄ€😀 %20$HOME `x` ;|end"
VAR = "GAMEDAY_TEST_CREDENTIAL"

SITECUSTOMIZE = f'''
import atexit, json, os, sys

def _leak():
    value = os.environ.get({VAR!r})
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if not value or not (argv0 == "chaos" or "locust" in sys.argv[0]):
        return
    print("leak:", value, json.dumps(value), repr(value), flush=True)
    print("leak error: could not log in as admin:" + value + "@db", file=sys.stderr, flush=True)
    if "--journal-path" in sys.argv:
        path = sys.argv[sys.argv.index("--journal-path") + 1]
        with open(path) as fh:
            journal = json.load(fh)
        journal["status"] = "failed: " + value
        journal["leak"] = {{"value": value, "nested": json.dumps({{"v": value}})}}
        with open(path, "w") as fh:
            json.dump(journal, fh)

atexit.register(_leak)
'''


def every_form(value: str) -> set[bytes]:
    """The secret as any writer could have encoded it (the redactor's list and the encoders themselves)."""
    independent = {value, json.dumps(value), json.dumps(value, ensure_ascii=False), html.escape(value),
                   repr(value), quote(value), quote_plus(value), value.encode("unicode_escape").decode()}
    return {f.encode() for f in forms(value) | independent if len(f) >= 4}


def test_a_run_with_special_character_secrets_writes_none_of_them(steady_twin, tmp_path):
    env_doc = yaml.safe_load((ROOT / "environments" / "sandbox-test.yaml").read_text())
    env_doc["configuration"]["gameday_environment"]["credentials"] = {"leaky": {"env": VAR}}
    env_file = tmp_path / "sandbox-test-secrets.yaml"
    env_file.write_text(yaml.safe_dump(env_doc))
    suite = {"title": "secrets", "load": {"profile": "peak", "ramp_s": 2}, "baseline_s": 3, "cooldown_s": 1,
             "slo": {"success_ratio": 0.9, "p95_ms": 2000, "window_s": 3},
             "scenarios": [{"name": "web-one-pod", "experiment": "experiments/web/kill-one-pod.yaml",
                            "layer": "web", "targets": {"rto_s": 60}}]}
    suite_file = tmp_path / "secrets.yaml"
    suite_file.write_text(yaml.safe_dump(suite))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    reports = tmp_path / "reports"

    child_env = {**os.environ, VAR: SECRET, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(site), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "gameday", "run", "--suite", str(suite_file), "--env", str(env_file),
                          "--reports", reports.name, "--no-install", "--json"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path, env=child_env)
    assert out.returncode in (0, 1), out.stderr[-3000:]
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, out.stderr[-3000:]
    run = runs[0]

    # the leak happened, and was masked where it landed
    summary = json.loads(out.stdout)
    assert summary["scenarios"][0]["error"].startswith(f"experiment failed: {MASK}")
    assert f"leak: {MASK}" in (run / "journals" / "web-one-pod.log").read_text()
    assert json.loads((run / "journals" / "web-one-pod.json").read_text())["leak"]["value"] == MASK
    assert f"experiment failed: {MASK}" in out.stderr  # the progress line
    # Locust was started without the secret in its environment: its sitecustomize had nothing to print
    assert "leak" not in (run / "load" / "locust-console.log").read_text()

    written = [p for p in reports.rglob("*") if p.is_file()]
    assert {"report.html", "summary.json", "junit.xml", "events.jsonl", "environment.yaml", "timeline.jsonl",
            "web-one-pod.json", "web-one-pod.log", "index.html"} <= {p.name for p in written}
    secrets = [SECRET, steady_twin.db_password()]
    for secret in secrets:
        patterns = every_form(secret)
        for path in written:
            data = path.read_bytes()
            leaked = [p for p in patterns if p in data]
            assert not leaked, f"{path.relative_to(reports)} holds {leaked[:3]}"
        for stream in (out.stdout, out.stderr):
            assert not [p for p in patterns if p in stream.encode()], stream[-2000:]
