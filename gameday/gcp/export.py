"""Export a game day's results to Cloud Monitoring as custom metrics, so dashboards and alerts see
resilience over time.

One point per series, stamped at the game day's end (``--now``: the export's own time), on the
``global`` monitored resource. Per scenario (labels ``target``, ``suite``, ``scenario``, ``layer``):
``rto_seconds``, ``time_to_detect_seconds``, ``availability_ratio``, ``rpo_records_lost``,
``rpo_seconds``, ``scenario_passed``; per game day (labels ``target``, ``suite``): ``score``,
``passed``, ``targets_missed``. All under ``custom.googleapis.com/gameday/``::

    result = export_report(json.load(open("reports/<run>/summary.json")), project="sps-staging")
    result["series_written"], result["calls"], result["skipped"]

Figures a run did not produce (an RTO that never came, an RPO not measured) are left out and
listed in ``skipped``; ``scenario_passed`` and ``passed`` still say what happened. Metric
descriptors are created when missing; series go in batches of at most 200 per call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GamedayError, UsageError
from .client import Monitoring

PREFIX = "custom.googleapis.com/gameday/"
SCHEMA = "gameday.report/v1"
MAX_SERIES_PER_CALL = 200
MAX_AGE_S = 25 * 3600 - 600  # the service refuses points older than 25 hours; keep a margin
SCENARIO_LABELS = ("target", "suite", "scenario", "layer")
RUN_LABELS = ("target", "suite")


@dataclass(frozen=True)
class Metric:
    name: str
    value_type: str  # DOUBLE | INT64 | BOOL
    unit: str
    description: str
    labels: tuple[str, ...]

    @property
    def type(self) -> str:
        return PREFIX + self.name


METRICS = {m.name: m for m in (
    Metric("rto_seconds", "DOUBLE", "s", "Recovery time: fault to the first window meeting the SLO.", SCENARIO_LABELS),
    Metric("time_to_detect_seconds", "DOUBLE", "s", "Fault to the first second failing the SLO.", SCENARIO_LABELS),
    Metric("availability_ratio", "DOUBLE", "1", "Successful / all requests during the scenario (0..1).",
           SCENARIO_LABELS),
    Metric("rpo_records_lost", "INT64", "1", "Acknowledged canary records lost (target 0).", SCENARIO_LABELS),
    Metric("rpo_seconds", "DOUBLE", "s", "Time span covered by lost acknowledged records.", SCENARIO_LABELS),
    Metric("scenario_passed", "BOOL", "", "The scenario finished and met every target.", SCENARIO_LABELS),
    Metric("score", "DOUBLE", "%", "Targets met / targets judged over the game day, 0..100.", RUN_LABELS),
    Metric("passed", "BOOL", "", "The game day's verdict was 'passed'.", RUN_LABELS),
    Metric("targets_missed", "INT64", "1", "Targets judged and missed (an unfinished scenario counts one).",
           RUN_LABELS),
)}
CHECKS = {"RTO": "rto_seconds", "time to detect": "time_to_detect_seconds", "availability": "availability_ratio",
          "RPO (records lost)": "rpo_records_lost", "RPO (time span lost)": "rpo_seconds"}


def read_summary(report: str | Path) -> dict[str, Any]:
    """A report folder's ``summary.json`` (or the file itself), checked to be a game-day report."""
    path = Path(report)
    if path.is_dir():
        path = path / "summary.json"
    if not path.is_file():
        raise UsageError(f"no game-day report at {path}", hint="give a run folder from reports/ (it holds summary.json)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"{path} is not readable JSON ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(f"{path} is not a game-day summary (schema {SCHEMA})",
                         hint="a load-test summary.json (load/summary.json) cannot be exported; give the run folder")
    return data


def _value(metric: Metric, value: Any) -> dict[str, Any]:
    if metric.value_type == "BOOL":
        return {"bool_value": bool(value)}
    if metric.value_type == "INT64":
        return {"int64_value": int(round(float(value)))}
    return {"double_value": float(value)}


def series_for(report: dict[str, Any], project: str, at: float) -> tuple[list[Any], list[str]]:
    """(TimeSeries to write, figures skipped with why) for one report, all stamped at ``at``."""
    from google.cloud.monitoring_v3 import TimeSeries

    target = str((report.get("target") or {}).get("name", "unknown"))
    suite = str(report.get("suite", "unknown"))
    point_time = {"seconds": int(at), "nanos": int((at - int(at)) * 1e9)}
    out: list[Any] = []
    skipped: list[str] = []
    seen: set[tuple] = set()

    def add(metric_name: str, labels: dict[str, str], value: Any) -> None:
        metric = METRICS[metric_name]
        key = (metric.type, tuple(sorted(labels.items())))
        if key in seen:
            raise UsageError(f"the report names {labels} twice for {metric_name}",
                             hint="scenario names must be unique within a game day")
        seen.add(key)
        out.append(TimeSeries(metric={"type": metric.type, "labels": labels},
                              resource={"type": "global", "labels": {"project_id": project}},
                              metric_kind="GAUGE", value_type=metric.value_type,
                              points=[{"interval": {"end_time": point_time}, "value": _value(metric, value)}]))

    for s in report.get("scenarios") or []:
        labels = {"target": target, "suite": suite, "scenario": str(s.get("name")), "layer": str(s.get("layer"))}
        for check in s.get("checks") or []:
            name = CHECKS.get(check.get("name"))
            if name is None:
                skipped.append(f"{labels['scenario']}: {check.get('name')} (no metric for it)")
            elif check.get("value") is None:
                skipped.append(f"{labels['scenario']}: {check.get('name')} (no value: "
                               f"{'never reached' if name == 'rto_seconds' else 'not measured'})")
            else:
                add(name, labels, check["value"])
        add("scenario_passed", labels, bool(s.get("passed")))
    run_labels = {"target": target, "suite": suite}
    add("score", run_labels, float(report.get("score") or 0.0))
    add("passed", run_labels, report.get("verdict") == "passed")
    add("targets_missed", run_labels, int(report.get("targets_judged", 0)) - int(report.get("targets_met", 0)))
    return out, skipped


def ensure_descriptors(mon: Monitoring) -> list[str]:
    """Create the gameday metric descriptors the project lacks; returns the types created."""
    from google.api import label_pb2, metric_pb2

    have = mon.metric_types(PREFIX)
    created = []
    for metric in METRICS.values():
        if metric.type in have:
            continue
        mon.create_metric_descriptor(metric_pb2.MetricDescriptor(
            type=metric.type, display_name=f"gameday {metric.name.replace('_', ' ')}", description=metric.description,
            metric_kind=metric_pb2.MetricDescriptor.GAUGE,
            value_type=getattr(metric_pb2.MetricDescriptor, metric.value_type), unit=metric.unit,
            labels=[label_pb2.LabelDescriptor(key=k, value_type=label_pb2.LabelDescriptor.STRING) for k in metric.labels]))
        created.append(metric.type)
    return created


def export_report(report: dict[str, Any], project: str, *, client: Any = None, now: bool = False,
                  monitoring: Monitoring | None = None) -> dict[str, Any]:
    """Write one report's figures to ``project``; returns what was written. The runner calls this
    after a game day (``client``/``monitoring`` default to Application Default Credentials)."""
    ended = float(report.get("ended_at") or 0.0)
    at = time.time() if now else ended
    age = time.time() - at
    if age > MAX_AGE_S:
        raise UsageError(f"the game day {report.get('run_id')} ended {age / 3600:.0f} hours ago; Cloud Monitoring only "
                         "accepts points up to 25 hours old",
                         hint="pass --now to stamp its figures with the current time")
    if age < -300:
        raise UsageError(f"the game day {report.get('run_id')} ends {-age:.0f}s in the future by this clock",
                         hint="check the clock of the machine that ran it, or pass --now")
    mon = monitoring or Monitoring(project, client)
    series, skipped = series_for(report, project, at)
    created = ensure_descriptors(mon)
    written = calls = 0
    for i in range(0, len(series), MAX_SERIES_PER_CALL):
        batch = series[i:i + MAX_SERIES_PER_CALL]
        try:
            mon.create_time_series(batch)
        except GamedayError as err:
            if written:
                err.message = f"{err.message}; {written} of {len(series)} series were written before this"
            raise
        written += len(batch)
        calls += 1
    return {"project": project, "run_id": report.get("run_id"), "at": at, "series_written": written, "calls": calls,
            "descriptors_created": created, "skipped": skipped,
            "metrics": sorted({ts.metric.type for ts in series})}


def export_configured(report: dict[str, Any], cloud_monitoring: dict[str, Any]) -> dict[str, Any] | None:
    """What the runner calls after writing a report: export it when the environment's
    ``cloud_monitoring.export`` is true (None otherwise). Errors are raised as :class:`GamedayError`
    for the runner to record; a failed export never changes the game day's verdict."""
    if not cloud_monitoring.get("export"):
        return None
    return export_report(report, cloud_monitoring["project"])
