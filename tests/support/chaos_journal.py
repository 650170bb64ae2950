"""What a test asks of a Chaos Toolkit journal before it reads the method's outputs."""

from __future__ import annotations

import subprocess


def assert_steady_before(proc: subprocess.CompletedProcess, journal: dict) -> None:
    """The experiment's steady state was met before its method: otherwise Chaos Toolkit completes the
    run without injecting anything (chaoslib's hypothesis gate), and the test would fail later on a
    missing output. Names each probe's output and the probe's own "site SLO" lines."""
    before = journal.get("steady_states", {}).get("before") or {}
    said = [line for line in proc.stderr.splitlines() if "site SLO" in line]
    assert before.get("steady_state_met"), ([(p["activity"]["name"], p.get("output"))
                                             for p in before.get("probes", [])], said, proc.stderr[-2000:])
