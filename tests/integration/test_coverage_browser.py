"""The coverage page in a real headless browser (Debian's chromium): it renders, the dependency diagram
is there with a box per component and an arrow per dependency, the matrix has a row per failure mode,
the page logs no console error, and the history index links it. Screenshot: reports/test-artifacts/."""

from __future__ import annotations

import re

from gameday.coverage import claims, inventory, matrix, page
from gameday.report import render
from tests.integration.test_report_browser import ARTIFACTS, chromium
from tests.unit.test_coverage import recorded  # noqa: F401 - the recorded game days fixture

ROOT = inventory.ROOT


def test_coverage_page_renders_with_the_dependency_diagram(recorded, tmp_path):  # noqa: F811
    reports, now = recorded
    for name in (None, "gke-production"):
        inv = inventory.load(name)
        data = matrix.build(inv, claims.scan(ROOT), reports, now=now)
        html = page.write(data, reports / f"coverage-{inv.platform}.html")
        dom = chromium("--dump-dom", html.as_uri())
        assert dom.returncode == 0, dom.stderr[-1000:]
        assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
        svg = re.search(r'<svg class="diagram" id="dependency-diagram".*?</svg>', dom.stdout, re.S)
        assert svg, "no dependency diagram in the rendered page"
        nodes = re.findall(r'<g class="node status-([a-z-]+)" data-component="([^"]+)"', svg.group(0))
        assert sorted(c for _, c in nodes) == sorted(c.id for c in inv.components)
        edges = set(re.findall(r'<line class="edge" data-from="([^"]+)" data-to="([^"]+)"', svg.group(0)))
        assert edges == {(c.id, d) for c in inv.components for d in c.depends_on}
        assert dom.stdout.count('data-cell="') == len(inv.cells())
        statuses = dict((c, s) for s, c in nodes)
        if inv.platform == "sandbox":  # coloured by coverage: web's last half-the-pods run failed
            assert statuses["web"] == "failed" and statuses["db"] == "untested"  # destroy-content: never run here
            assert 'href="run-new/report.html"' in dom.stdout
        else:
            assert set(statuses.values()) <= {"untested", "no-experiment"}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"coverage-{inv.platform}.png"
        out = chromium("--window-size=1100,1400", f"--screenshot={shot}", html.as_uri())
        assert out.returncode == 0 and shot.stat().st_size > 20_000


def test_history_index_and_report_link_the_coverage_page_in_a_browser(recorded):  # noqa: F811
    reports, _ = recorded
    index = render.write_index(reports)
    dom = chromium("--dump-dom", index.as_uri())
    assert dom.returncode == 0 and 'id="coverage-sandbox"' in dom.stdout and 'href="coverage.html"' in dom.stdout
    cov = chromium("--dump-dom", (reports / "coverage.html").as_uri())
    assert cov.returncode == 0 and 'id="dependency-diagram"' in cov.stdout
    report = chromium("--dump-dom", (reports / "run-mid" / "report.html").as_uri())
    assert 'id="coverage"' in report.stdout and 'href="../coverage.html"' in report.stdout
