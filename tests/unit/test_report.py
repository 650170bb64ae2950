"""The report generator on recorded fixtures: schema pinned, judgement, JUnit, redaction, history."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from gameday.load.timeline import Timeline, make_row
from gameday.measure.recovery import Slo, measure
from gameday.report import model, render

T0 = 1_800_000_000
SLO = Slo(min_success_ratio=0.99, max_p95_ms=1000, window_s=5)  # passed in: measure has no default SLO
SECRET = "s3cr3t-db-Pa55"


def outage_timeline(start: int, down_from: int, down_for: int, length: int = 60) -> Timeline:
    rows = []
    for t in range(start, start + length):
        if down_from <= t < down_from + down_for:
            rows.append(make_row(t, "all", {2000: 10}, 10, {"503": 10}))
        else:
            rows.append(make_row(t, "all", {12: 18, 40: 2}, 0, {"200": 20}))
    return Timeline({}, rows)


def scenario(name: str, *, rto_target: float, down_for: int, error: str | None = None) -> model.Scenario:
    tl = outage_timeline(T0, T0 + 10, down_for)
    rec = measure(tl, t_fault=T0 + 9.7, slo=SLO)
    series = [{"t": r.t, "rps": r.rps, "error_ratio": r.failures / r.requests if r.requests else None,
               "p95_ms": r.p95_ms} for r in tl.series()]
    return model.Scenario(
        name=name, title=f"Scenario {name}", description="A fault we caused on purpose.", layer="web",
        experiment=f"experiments/web/{name}.yaml", status="completed" if error is None else "error",
        fault_at=T0 + 9.7, error=error,
        checks=[model.Check("RTO", rec.rto_s, rto_target, "s", explain="Scale the web tier out."),
                model.Check("time to detect", rec.ttd_s, None, "s"),
                model.Check("availability", rec.availability, 0.9, "%", higher_is_better=True),
                model.Check("RPO (records lost)", 0, 0, "records")],
        recovery=rec.as_dict(), series=series,
        marks={"fault": T0 + 9.7, "detected": rec.first_failed_second, "recovered": rec.recovered_at},
        playbook={"steps": [{"description": "bring the replica count back", "outcome": "done", "seconds": 1.2}]},
    )


def build(*scenarios: model.Scenario, interrupted: bool = False) -> dict:
    return model.build(run_id="20270115T020000Z", started_at=T0, ended_at=T0 + 300,
                       target={"name": "sandbox", "kind": "sandbox"}, suite="default", scenarios=list(scenarios),
                       versions={"gameday": "0.1.0", "kafka": "4.3.1"}, interrupted=interrupted)


def test_measured_recovery_of_a_known_outage():
    rec = measure(outage_timeline(T0, T0 + 10, 8), t_fault=T0 + 9.7, slo=SLO)
    assert rec.first_failed_second == T0 + 10 and rec.ttd_s == pytest.approx(0.3)
    assert rec.recovered_at == T0 + 18 and rec.rto_s == pytest.approx(8.3)
    assert rec.failed_seconds == 8


def test_summary_schema_is_pinned():
    report = build(scenario("a", rto_target=30, down_for=8))
    assert report["schema"] == "gameday.report/v1"
    assert set(report) == {"schema", "run_id", "started_at", "ended_at", "duration_s", "target", "suite", "versions",
                           "verdict", "headline", "interrupted", "score", "score_formula", "targets_met",
                           "targets_judged", "scenarios", "action_items", "load", "preflight"}
    assert set(report["scenarios"][0]) == {"name", "title", "description", "layer", "experiment", "status", "passed",
                                           "fault_at", "checks", "recovery", "rpo", "playbook", "series", "marks",
                                           "artifacts", "error", "phases", "full_redundancy", "edge"}
    assert set(report["scenarios"][0]["checks"][0]) == {"name", "value", "target", "unit", "met",
                                                        "higher_is_better", "explain"}


def test_all_targets_met_passes_with_full_score():
    report = build(scenario("a", rto_target=30, down_for=8), scenario("b", rto_target=30, down_for=3))
    assert report["verdict"] == "passed" and report["score"] == 100.0 and report["action_items"] == []
    assert report["targets_judged"] == 6  # RTO, availability, RPO per scenario; TTD reported only


def test_missed_target_fails_with_an_action_item_and_a_failing_junit_case(tmp_path):
    report = build(scenario("fast", rto_target=30, down_for=3), scenario("slow", rto_target=5, down_for=20))
    assert report["verdict"] == "failed" and report["score"] < 100
    assert any("Scenario slow: RTO was" in item and "Scale the web tier out" in item for item in report["action_items"])
    paths = render.write(report, tmp_path / "run")
    suite = ET.parse(paths["junit"]).getroot()
    failed = [c.get("classname") + ":" + c.get("name") for c in suite if c.find("failure") is not None]
    assert failed == ["gameday.web.slow:RTO", "gameday.web.slow:availability"]
    assert suite.get("tests") == "6" and suite.get("failures") == "2"


def test_interrupted_run_is_partial_and_errors_in_junit(tmp_path):
    report = build(scenario("a", rto_target=30, down_for=3, error="interrupted by SIGTERM"), interrupted=True)
    assert report["verdict"] == "partial"
    suite = ET.parse(render.write(report, tmp_path / "run")["junit"]).getroot()
    assert suite.get("errors") == "1"


def test_html_is_self_contained_and_shows_each_figure_beside_its_target(tmp_path):
    report = build(scenario("a", rto_target=30, down_for=8))
    text = render.write(report, tmp_path / "run")["html"].read_text()
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert text.count("<svg") == 1 and "fault" in text and "recovered" in text
    assert "8.3 s" in text and "/ 30.0 s" in text
    assert "bring the replica count back" in text


def test_no_secret_reaches_any_artifact(tmp_path):
    bad = scenario("a", rto_target=30, down_for=3,
                   error=f"db said: password={SECRET} and token: abcdef123456 for user sps ({SECRET})")
    paths = render.write(build(bad), tmp_path / "run", secrets=[SECRET])
    for path in paths.values():
        text = path.read_text()
        assert SECRET not in text and "abcdef123456" not in text
        assert "[redacted]" in text


def test_history_index_lists_every_run_with_a_trend(tmp_path):
    for i, down in enumerate((20, 8, 3)):
        report = build(scenario("a", rto_target=10, down_for=down))
        report["run_id"] = f"run{i}"
        report["started_at"] = T0 + i * 86400
        render.write(report, tmp_path / f"run{i}")
    index = render.write_index(tmp_path).read_text()
    assert index.count('/report.html"') == 3 and "<polyline" in index
    assert json.loads((tmp_path / "run2" / "summary.json").read_text())["verdict"] == "passed"


def test_the_live_line_says_where_the_game_day_is_and_how_the_site_is_doing():
    from gameday.cli.run import live_text
    line = live_text({"scenario": "web-full-outage", "phase": "experiment", "rps": 19.8, "target_rps": 20.0,
                      "error_ratio": 0.41, "p95_ms": 310.4})
    assert line == "[web-full-outage · experiment] load 19.8 req/s (target 20.0), errors 41.0%, p95 310 ms"
    assert "errors -" in live_text({"phase": "baseline", "rps": 0, "error_ratio": None, "p95_ms": 0})
