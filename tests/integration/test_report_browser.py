"""The report in a real headless browser (Debian's chromium): it renders, its charts are there, the
page logs no console error, and it prints to PDF. The screenshot is kept under reports/test-artifacts/."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from gameday.report import render
from tests.unit.test_report import build, scenario

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([render.chromium(), *render.CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--enable-logging=stderr", "--v=0", *args], capture_output=True, text=True, timeout=120)


def test_report_renders_in_a_browser_with_charts_and_no_console_errors(tmp_path):
    report = build(scenario("fast", rto_target=30, down_for=3), scenario("slow", rto_target=5, down_for=20))
    html = render.write(report, tmp_path / "run")["html"]
    dom = chromium("--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-1000:]
    assert 'id="verdict"' in dom.stdout and dom.stdout.count("<svg") == 2 and dom.stdout.count("<polyline") == 6
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    out = chromium("--window-size=1000,1600", f"--screenshot={shot}", html.as_uri())
    assert out.returncode == 0 and shot.stat().st_size > 20_000
    pdf = render.pdf(html)
    assert pdf.read_bytes()[:5] == b"%PDF-"
