"""Exporting a game day's results to Cloud Monitoring: the real client, a local gRPC MetricService, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from gameday.gcp import export
from gameday.gcp.client import GcpError, Monitoring, metric_client
from tests.support.monitoring import monitoring  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def scenario(name: str, layer: str, *, rto: float | None, passed: bool, rpo_lost: int | None = 0) -> dict:
    checks = [{"name": "RTO", "value": rto, "target": 30.0, "unit": "s"},
              {"name": "time to detect", "value": 1.5, "target": None, "unit": "s"},
              {"name": "availability", "value": 0.97, "target": 0.95, "unit": "%"}]
    if rpo_lost is not None:
        checks += [{"name": "RPO (records lost)", "value": rpo_lost, "target": 0, "unit": "records"},
                   {"name": "RPO (time span lost)", "value": 0.0, "target": None, "unit": "s"}]
    return {"name": name, "layer": layer, "status": "completed", "passed": passed, "checks": checks}


def report(*scenarios: dict, ended_at: float | None = None, run_id: str = "20270115T020000Z") -> dict:
    ended = time.time() - 60 if ended_at is None else ended_at
    return {"schema": "gameday.report/v1", "run_id": run_id, "started_at": ended - 600, "ended_at": ended,
            "target": {"name": "gke-staging", "kind": "kubernetes"}, "suite": "default", "verdict": "failed",
            "score": 83.3, "targets_met": 5, "targets_judged": 6, "scenarios": list(scenarios)}


def write(tmp_path: Path, data: dict) -> Path:
    folder = tmp_path / data["run_id"]
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(data))
    return folder


def cli(*args: str, endpoint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GAMEDAY_MONITORING_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "gameday", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_export_writes_each_figure_once_with_descriptors(monitoring):
    data = report(scenario("web-one-pod", "web", rto=4.2, passed=True),
                  scenario("kafka-two-brokers", "kafka", rto=None, passed=False, rpo_lost=3))
    result = export.export_report(data, "sps-staging", client=metric_client(monitoring.address))
    assert sorted(monitoring.descriptors) == sorted(m.type for m in export.METRICS.values())
    assert result["descriptors_created"] and result["calls"] == 1
    rto = {ts.metric.labels["scenario"]: ts for ts in monitoring.written(export.PREFIX + "rto_seconds")}
    assert set(rto) == {"web-one-pod"}  # an RTO that never came is not a number: skipped, and said so
    assert any("kafka-two-brokers: RTO" in s and "never reached" in s for s in result["skipped"])
    web = rto["web-one-pod"]
    assert dict(web.metric.labels) == {"target": "gke-staging", "suite": "default", "scenario": "web-one-pod",
                                       "layer": "web"}
    assert web.points[0].value.double_value == 4.2 and web.resource.type == "global"
    assert web.points[0].interval.end_time.timestamp() == pytest.approx(data["ended_at"], abs=1e-3)
    lost = monitoring.written(export.PREFIX + "rpo_records_lost")
    assert {ts.metric.labels["scenario"]: ts.points[0].value.int64_value for ts in lost} == {
        "web-one-pod": 0, "kafka-two-brokers": 3}
    passed = {ts.metric.labels["scenario"]: ts.points[0].value.bool_value
              for ts in monitoring.written(export.PREFIX + "scenario_passed")}
    assert passed == {"web-one-pod": True, "kafka-two-brokers": False}
    (score,) = monitoring.written(export.PREFIX + "score")
    assert score.points[0].value.double_value == 83.3 and set(score.metric.labels) == {"target", "suite"}
    (run_passed,) = monitoring.written(export.PREFIX + "passed")
    assert run_passed.points[0].value.bool_value is False
    assert all(len(ts.points) == 1 for ts in monitoring.written())
    assert result["series_written"] == len(monitoring.written())


def test_large_game_days_go_in_batches_of_at_most_200(monitoring):
    data = report(*[scenario(f"s{i:02d}", "web", rto=float(i), passed=True) for i in range(45)])
    result = export.export_report(data, "p", client=metric_client(monitoring.address))
    sizes = [len(req.time_series) for req in monitoring.calls("CreateTimeSeries")]
    assert result["calls"] == len(sizes) >= 2 and max(sizes) <= 200
    assert sum(sizes) == result["series_written"] == 45 * 6 + 3


def test_second_export_names_the_cause_and_descriptors_are_not_recreated(monitoring):
    data = report(scenario("a", "web", rto=1.0, passed=True))
    export.export_report(data, "p", client=metric_client(monitoring.address))
    created = len(monitoring.calls("CreateMetricDescriptor"))
    with pytest.raises(GcpError, match="exported already"):
        export.export_report(data, "p", client=metric_client(monitoring.address))
    assert len(monitoring.calls("CreateMetricDescriptor")) == created


def test_quota_on_a_later_batch_says_how_much_was_written(monitoring):
    data = report(*[scenario(f"s{i:02d}", "web", rto=1.0, passed=True) for i in range(40)])
    monitoring.fail("CreateTimeSeries", grpc.StatusCode.RESOURCE_EXHAUSTED, "Quota exceeded for time series writes",
                    after=1)  # the second batch
    with pytest.raises(GcpError) as err:
        export.export_report(data, "p", monitoring=Monitoring("p", metric_client(monitoring.address)))
    assert "quota exhausted" in str(err.value) and f"200 of {40 * 6 + 3} series were written" in str(err.value)


def test_a_report_older_than_25_hours_needs_now(monitoring):
    data = report(scenario("a", "web", rto=1.0, passed=True), ended_at=time.time() - 3 * 86400)
    with pytest.raises(Exception, match="--now"):
        export.export_report(data, "p", client=metric_client(monitoring.address))
    assert export.export_report(data, "p", client=metric_client(monitoring.address), now=True)["series_written"] == 9


def test_cli_exports_and_reports_errors_in_one_line(monitoring, tmp_path):
    folder = write(tmp_path, report(scenario("web-one-pod", "web", rto=2.0, passed=True)))
    ok = cli("export", "cloud-monitoring", str(folder), "--project", "sps-staging", "--json",
             endpoint=monitoring.address)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["series_written"] == 9

    monitoring.fail("CreateTimeSeries", grpc.StatusCode.PERMISSION_DENIED,
                    "Permission monitoring.timeSeries.create denied", times=None)
    again = write(tmp_path, report(scenario("web-one-pod", "web", rto=2.0, passed=True), run_id="second"))
    denied = cli("export", "cloud-monitoring", str(again), "--project", "sps-staging", endpoint=monitoring.address)
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert "denied permission" in denied.stderr and "roles/monitoring.metricWriter" in denied.stderr
    assert denied.stderr.startswith("error:") and denied.stderr.count("error:") == 1


def test_cli_unavailable_service_is_one_line(monitoring, tmp_path):
    folder = write(tmp_path, report(scenario("a", "web", rto=2.0, passed=True)))
    monitoring.fail("CreateTimeSeries", grpc.StatusCode.UNAVAILABLE, "connection reset", times=None)
    out = cli("export", "cloud-monitoring", str(folder), "--project", "p", endpoint=monitoring.address)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "unavailable" in out.stderr


def test_cli_bad_input(monitoring, tmp_path):
    missing = cli("export", "cloud-monitoring", str(tmp_path / "nope"), "--project", "p", endpoint=monitoring.address)
    assert missing.returncode == 2 and "no game-day report" in missing.stderr and "Traceback" not in missing.stderr
    load = tmp_path / "load"
    load.mkdir()
    (load / "summary.json").write_text(json.dumps({"schema": "gameday.load.summary/v1"}))
    wrong = cli("export", "cloud-monitoring", str(load), "--project", "p", endpoint=monitoring.address)
    assert wrong.returncode == 2 and "not a game-day summary" in wrong.stderr
    folder = write(tmp_path, report(scenario("a", "web", rto=2.0, passed=True)))
    no_project = cli("export", "cloud-monitoring", str(folder), endpoint=monitoring.address)
    assert no_project.returncode == 2 and "--project" in no_project.stderr
    from_env = cli("export", "cloud-monitoring", str(folder), "--env", "gke-staging.example", "--json",
                   endpoint=monitoring.address)
    assert from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout)["project"] == "sps-staging"


def test_the_runner_exports_only_when_the_environment_asks(monitoring):
    data = report(scenario("web-one-pod", "web", rto=4.2, passed=True))
    assert export.export_configured(data, {}) is None
    assert export.export_configured(data, {"project": "sps-staging", "url_map": "um", "export": False}) is None
    assert not monitoring.written(export.PREFIX + "rto_seconds")
    done = export.export_configured(data, {"project": "sps-staging", "url_map": "um", "export": True})
    assert done["project"] == "sps-staging" and done["series_written"] > 0
    assert [ts.metric.labels["scenario"] for ts in monitoring.written(export.PREFIX + "rto_seconds")] == ["web-one-pod"]
