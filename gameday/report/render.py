"""Render a report dict: ``report.html`` (self-contained), ``summary.json``, ``junit.xml``; the
history index; ``report.pdf`` through headless Chromium.

    paths = write(report, Path("reports") / run_id, secrets)   # html, json, junit; secrets masked
    pdf(paths["html"])                                     # optional, needs Debian's chromium
    write_index(Path("reports"))
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from jinja2 import Environment, PackageLoader, select_autoescape

from ..coverage.report_section import section as coverage_section
from ..coverage.report_section import write_pages as coverage_pages
from .zones import outages as zone_outages
from .regions import section as region_section
from .. import redact
from ..errors import GamedayError
from ..measure.backup_age import age_text
from ..measure.phases import Phases
from .charts import phase_chart, scenario_chart, trend_chart
from .region_charts import drill_timeline, rto_trend
from .model import figure as _figure


def _datetime(ts: float | None) -> str:
    return "-" if not ts else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _env() -> Environment:
    env = Environment(loader=PackageLoader("gameday.report", "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(datetime=_datetime, duration=_duration, figure=_figure, age=age_text)
    return env


def html(report: dict[str, Any]) -> str:
    check_names: list[str] = []
    for s in report["scenarios"]:
        for c in s["checks"]:
            if c["name"] not in check_names:
                check_names.append(c["name"])
    charts = {s["name"]: scenario_chart(s["series"], s["marks"]) for s in report["scenarios"]}
    timelines = {s["name"]: phase_chart(Phases.from_dict(s["phases"])) for s in report["scenarios"] if s.get("phases")}
    regions = report.get("regions") or {}
    region_charts = {"drills": {d.get("id") or d["scenario"]: drill_timeline(d) for d in regions.get("drills", [])},
                     "trend": rto_trend(regions["trend"]) if regions.get("drills") else ""}
    return _env().get_template("report.html").render(r={**report, "started": report["started_at"]},
                                                     charts=charts, timelines=timelines, check_names=check_names,
                                                     region_charts=region_charts)


def junit(report: dict[str, Any]) -> str:
    """One test case per scenario and target (CI systems show each missed target as a failure)."""
    suite = ET.Element("testsuite", name=f"gameday.{report['suite']}", timestamp=_datetime(report["started_at"]),
                       time=str(report["duration_s"]))
    tests = failures = errors = 0
    for s in report["scenarios"]:
        if s["status"] != "completed":
            tests += 1
            errors += 1
            case = ET.SubElement(suite, "testcase", classname=f"gameday.{s['layer']}.{s['name']}", name="scenario")
            ET.SubElement(case, "error", message=f"scenario {s['status']}").text = s.get("error") or s["status"]
        for c in s["checks"]:
            if c["met"] is None:
                continue
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=f"gameday.{s['layer']}.{s['name']}", name=c["name"])
            if not c["met"]:
                failures += 1
                ET.SubElement(case, "failure", message=f"{c['name']} {_figure(c['value'], c['unit'])} "
                                                       f"missed target {_figure(c['target'], c['unit'])}")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def write(report: dict[str, Any], out: Path, secrets: list[str] | tuple[str, ...] = ()) -> dict[str, Path]:
    """Write html, json and junit into ``out``. The report is redacted as data first (registered
    secrets, ``secrets`` and credential assignments, in :mod:`gameday.redact`), then each encoded
    file passes through the same redactor as text. Adds ``report["coverage"]`` (the run's coverage
    section) and ``report["regions"]`` (its region drills and their trend) unless the report has them."""
    out.mkdir(parents=True, exist_ok=True)
    if "regions" not in report:  # each region drill: RTO by phase, RPO by name, the trend (gameday.report.regions)
        report["regions"] = region_section(report, out, out.parent)
    if "coverage" not in report:  # what this run exercised, and coverage once it counts (gameday.coverage); after
        # the regions: a run of region drills names its own two regions there (gameday.coverage.run_regions)
        report["coverage"] = coverage_section(report, out.parent)
        if "error" not in report["coverage"]:  # what each layer kept while a zone was down (gameday.report.zones)
            report["coverage"]["zone_outages"] = zone_outages(report, out)
    red = redact.redactor(secrets)
    clean = red.data(report)
    paths = {"html": out / "report.html", "json": out / "summary.json", "junit": out / "junit.xml"}
    red.write_text(paths["json"], json.dumps(clean, indent=2, default=str))
    red.write_text(paths["html"], html(clean))
    red.write_text(paths["junit"], junit(clean))
    return paths


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pdf(html_path: Path, *, timeout: float = 120) -> Path:
    """Print the HTML to ``report.pdf`` beside it with headless Chromium (Debian's ``chromium``)."""
    browser = chromium()
    if not browser:
        raise GamedayError("cannot print report.pdf: chromium is not installed",
                           hint="run `gameday sandbox install` (installs Debian's chromium)")
    target = html_path.with_suffix(".pdf")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
                               f"--print-to-pdf={target}", html_path.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not target.exists():
        raise GamedayError(f"chromium could not print {html_path} (exit {proc.returncode})",
                           hint=proc.stderr.strip()[-300:])
    return target


def write_index(reports_dir: Path, secrets: list[str] | tuple[str, ...] = ()) -> Path:
    """``reports/index.html``: every past game day (from each ``*/summary.json``) with a trend chart, and
    the recovery coverage page(s) it links; written through the redactor like every report file."""
    runs = []
    for summary in sorted(reports_dir.glob("*/summary.json")):
        try:
            data = json.loads(summary.read_text())
        except ValueError:
            continue
        if data.get("schema") == "gameday.report/v1":
            runs.append(data)
    runs.sort(key=lambda r: r["started_at"])
    trend = trend_chart([(_datetime(r["started_at"])[:16], float(r["score"])) for r in runs])
    path = reports_dir / "index.html"
    coverage = coverage_pages(reports_dir)  # reports/coverage.html, linked from the index
    red = redact.redactor(secrets)
    return red.write_text(path, _env().get_template("index.html").render(runs=red.data(runs), trend=trend,
                                                                          coverage=coverage))
