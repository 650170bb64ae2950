"""Data loss is measured, never assumed: a canary whose read-back cannot reach its layer reports its
acknowledged records as *unverified* (RPO not measured, a missed check), never as lost; a layer that
answers reports exactly the records it does not hold. The database here is a loopback port nobody
listens on (refused at once, as a database that is down is)."""

from __future__ import annotations

import socket
import time

from gameday.load.timeline import Timeline, make_row
from gameday.measure.canary import CanaryEndpoints, Canaries, CanaryReport
from gameday.measure.recovery import Slo
from gameday.report.model import action_items, figure
from gameday.runner import suite
from gameday.runner.judge import judge
from gameday.runner.scenario import ScenarioRun

T0 = 1_800_000_000


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoints(db_port: int) -> CanaryEndpoints:
    return CanaryEndpoints(kafka_bootstrap="127.0.0.1:1", db_host="127.0.0.1", db_port=db_port, db_user="site",
                           db_password="not-used", db_name="site", site_url="http://127.0.0.1:1",
                           search_urls=("http://127.0.0.1:1",))


def test_a_database_that_never_answers_the_read_back_leaves_its_records_unverified_not_lost():
    canaries = Canaries(endpoints(closed_port()), layers=("db",), interval=0.2)
    writer = canaries.writers[0]
    writer.conn = None  # set up, and two records acknowledged, before the database went away
    writer.acked = {1: time.time() - 2, 2: time.time() - 1}
    writer.start()  # its writes are refused now: counted as failed writes, never acknowledged
    started = time.monotonic()
    report = canaries.verify(timeout=3)["db"]
    assert time.monotonic() - started >= 2  # retried until the deadline, not given up at the first refusal
    assert report.lost == [] and report.unverified == 2 and not report.ok
    assert report.failed_writes >= 1 and "read-back failed" in report.last_error
    figures = report.to_dict()
    assert figures["rpo_records"] is None and figures["rpo_s"] is None


def test_the_judge_calls_an_unread_rpo_not_measured_and_the_scenario_fails(tmp_path):
    rows = [make_row(t, "all", {12: 20}, 0, {"200": 20}) for t in range(T0, T0 + 60)]
    spec = suite.load("smoke").scenarios[0]
    unread = CanaryReport(layer="db", run="r", attempts=10, acknowledged=14, failed_writes=3, lost=[],
                          lost_span_s=0.0, first_lost_at=None, last_lost_at=None,
                          last_error="read-back failed: OperationalError: refused", unverified=14).to_dict()
    measured = CanaryReport(layer="kafka", run="r", attempts=10, acknowledged=9, failed_writes=0, lost=[],
                            lost_span_s=0.0, first_lost_at=None, last_lost_at=None).to_dict()
    run = ScenarioRun(spec=spec, started=T0 + 5, ended=T0 + 55, journal={"status": "completed"}, exit_code=0,
                      journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=T0 + 9.7,
                      rpo={"db": unread, "kafka": measured})
    scenario = judge(run, Timeline({}, rows), Slo(min_success_ratio=0.95, max_p95_ms=2000, window_s=5))
    rpo = {c.name: c for c in scenario.checks}["RPO (records lost)"]
    assert rpo.value is None and rpo.target == 0 and rpo.met is False
    assert "not measured" in rpo.explain and "db: 14 acknowledged record(s) could not be read back" in rpo.explain
    assert not scenario.passed
    item = next(i for i in action_items([scenario]) if "RPO" in i)
    assert "was not measured against a target of 0 records" in item
    assert figure(None, "records") == "not measured" and figure(None, "s") == "never" and figure(None, "s", False) == "-"
