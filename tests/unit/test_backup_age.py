"""Preflight's backup check (issue 15, drill 6): the last database backup and the last search snapshot
against the age the layer allows (targets.yaml backup_age_s, else rpo_s). The snapshot side talks
HTTP to a small local server that answers as the search cluster's snapshot API does (GET _snapshot,
GET _snapshot/<repo>/_all); the database side reads through the callable the runner passes
(Target.last_db_backup)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gameday.errors import GamedayError
from gameday.measure import backup_age
from gameday.measure.backup_age import NONE, OK, STALE, UNKNOWN, db_backup_age, search_snapshot_age
from gameday.report import model, render
from gameday.search_admin import SearchAdmin

NOW = 1_800_000_000.0


class SnapshotApi:
    """A local HTTP server answering the snapshot API from ``repos``: {repo: [snapshot, ...]}."""

    def __init__(self, repos: dict[str, list[dict]] | None = None, status: int = 200):
        self.repos, self.status, self.paths = repos or {}, status, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                api.paths.append(self.path)
                path = self.path.split("?")[0]
                if api.status != 200:
                    body, code = {"error": "boom"}, api.status
                elif path == "/_snapshot":
                    body, code = {name: {"type": "fs", "settings": {}} for name in api.repos}, 200
                elif path.startswith("/_snapshot/") and path.endswith("/_all") and path.split("/")[2] in api.repos:
                    body, code = {"snapshots": api.repos[path.split("/")[2]]}, 200
                else:
                    body, code = {"error": f"no such path {path}"}, 404
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # the test's output stays readable
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SearchAdmin:
        self.thread.start()
        return SearchAdmin([f"http://127.0.0.1:{self.server.server_address[1]}"], timeout=2)

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def snap(name: str, end: float, state: str = "SUCCESS") -> dict:
    return {"snapshot": name, "state": state, "start_time_in_millis": int((end - 30) * 1000),
            "end_time_in_millis": int(end * 1000), "indices": ["content"]}


def test_the_newest_successful_snapshot_of_every_repository_is_the_one_judged():
    repos = {"gameday-fs": [snap("nightly-1", NOW - 90_000), snap("nightly-2", NOW - 3_600),
                            snap("half-done", NOW - 60, state="PARTIAL")],
             "other": [snap("old", NOW - 200_000), snap("running", NOW - 10, state="IN_PROGRESS")]}
    with SnapshotApi(repos) as api:
        within = search_snapshot_age(api, max_age_s=86_400, now=NOW)
        beyond = search_snapshot_age(api, max_age_s=900, now=NOW)
    assert (within.status, within.id, within.age_s, within.where) == (OK, "nightly-2", 3600.0, "repository gameday-fs")
    assert within.warning is None
    assert beyond.status == STALE and beyond.age_s == 3600.0
    assert beyond.warning.startswith("RPO exposure: the last search snapshot (nightly-2, repository gameday-fs) is 1 h 00 min old")
    assert "RPO target of 15 min" in beyond.warning


def test_no_repository_and_no_successful_snapshot_are_warnings_not_failures():
    with SnapshotApi({}) as api:
        none = search_snapshot_age(api, max_age_s=0, now=NOW)
    assert none.status == NONE and "no snapshot repository registered" in none.warning
    with SnapshotApi({"gameday-fs": [snap("broken", NOW - 5, state="FAILED")]}) as api:
        failed = search_snapshot_age(api, max_age_s=0, now=NOW)
    assert failed.status == NONE and failed.reason == "no successful snapshot in gameday-fs"
    assert failed.warning.startswith("RPO exposure: no search snapshot found")


def test_a_search_cluster_that_cannot_answer_gives_an_unknown_age_with_its_reason():
    with SnapshotApi({"gameday-fs": []}, status=500) as api:
        broken = search_snapshot_age(api, max_age_s=0, now=NOW)
    assert broken.status == UNKNOWN and "HTTP 500" in broken.reason
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = search_snapshot_age(SearchAdmin([f"http://127.0.0.1:{port}"], timeout=1), max_age_s=0, now=NOW)
    assert gone.status == UNKNOWN and gone.warning.startswith("search snapshot age unknown: no search node answered")


def test_the_database_backup_through_the_targets_answer():
    ok = db_backup_age(lambda: {"id": "full-7", "at": NOW - 600, "kind": "mariadb-backup"}, max_age_s=3600, now=NOW)
    assert (ok.status, ok.id, ok.age_s, ok.warning) == (OK, "full-7", 600.0, None)
    stale = db_backup_age(lambda: {"id": "full-6", "at": NOW - 7_200}, max_age_s=0, now=NOW)
    assert stale.status == STALE and "the last database backup (full-6) is 2 h 00 min old" in stale.warning
    none = db_backup_age(lambda: None, max_age_s=60, now=NOW)
    assert none.status == NONE and none.warning.startswith("RPO exposure: no database backup found")


def test_a_target_that_cannot_tell_gives_backup_age_unknown_and_never_raises():
    def refuses():
        raise GamedayError("sandbox: database backups are not known for targets of kind 'sandbox'")

    unknown = db_backup_age(refuses, max_age_s=0, now=NOW)
    assert unknown.status == UNKNOWN
    assert unknown.warning == "database backup age unknown: sandbox: database backups are not known for targets of kind 'sandbox'"
    malformed = db_backup_age(lambda: {"id": "x", "at": "yesterday"}, max_age_s=0, now=NOW)
    assert malformed.status == UNKNOWN and "no numeric 'at'" in malformed.reason and "['at', 'id']" in malformed.reason


def test_the_limit_comes_from_backup_age_s_and_the_warning_names_that_key():
    from gameday.recovery import targets_yaml
    targets = targets_yaml.load()
    db = targets.for_layer("db", environment="sandbox")
    assert db.rpo_s == 0 and db.backup_limit() == ("backup_age_s", 600.0)  # no warning for every 5-min dump
    assert targets.for_layer("db", environment="gke-production").backup_limit() == ("backup_age_s", 90_000.0)
    assert targets.for_layer("kafka").backup_limit() == ("rpo_s", 0.0)  # not set: rpo_s, as before
    fresh = db_backup_age(lambda: {"id": "sched-4", "at": NOW - 290}, max_age_s=600, objective="backup_age_s", now=NOW)
    assert fresh.status == OK and fresh.warning is None
    old = db_backup_age(lambda: {"id": "sched-1", "at": NOW - 1_500}, max_age_s=600, objective="backup_age_s", now=NOW)
    assert old.status == STALE and "the db layer's backup age target of 10 min (targets.yaml backup_age_s)" in old.warning
    assert old.as_dict()["objective"] == "backup_age_s" and old.as_dict()["max_age_s"] == 600


def test_backup_age_s_is_a_layers_objective_checked_like_the_others():
    from gameday.errors import UsageError
    from gameday.recovery import targets_yaml
    base = targets_yaml.DEFAULT_FILE.read_text()
    bad = base.replace("backup_age_s: 600 ", "backup_age_s: -5 ", 1)
    with pytest.raises(UsageError, match=r"defaults\.layers\.db\.backup_age_s"):
        targets_yaml.parse(bad)
    per_scenario = base.replace("kill-two-brokers: {rto_s: 360}", "kill-two-brokers: {rto_s: 360, backup_age_s: 60}", 1)
    with pytest.raises(UsageError, match="backup_age_s"):  # a layer's, not a scenario's
        targets_yaml.parse(per_scenario)


@pytest.mark.parametrize("seconds, text", [(45, "45 s"), (720, "12 min"), (11_100, "3 h 05 min"), (187_200, "2 d 4 h")])
def test_ages_read_as_people_say_them(seconds, text):
    assert backup_age.age_text(seconds) == text


def test_the_report_warns_about_the_exposure_in_html_and_json_and_still_passes(tmp_path):
    with SnapshotApi({"gameday-fs": [snap("nightly-2", NOW - 3_600)]}) as api:
        search = search_snapshot_age(api, max_age_s=0, now=NOW)
    db = db_backup_age(lambda: (_ for _ in ()).throw(GamedayError("not built yet")), max_age_s=0, now=NOW)
    report = model.build(run_id="r1", started_at=NOW, ended_at=NOW + 60, target={"name": "sandbox", "kind": "sandbox"},
                         suite="smoke", scenarios=[], versions={}, backups=[db, search])
    assert report["preflight"]["warnings"] == [db.warning, search.warning]
    assert [b["status"] for b in report["preflight"]["backups"]] == ["unknown", "stale"]
    assert report["preflight"]["backups"][1]["age_s"] == 3600.0 and report["preflight"]["backups"][1]["max_age_s"] == 0
    assert report["action_items"][:2] == [db.warning, search.warning]
    paths = render.write(report, tmp_path / "run")
    text = paths["html"].read_text()
    assert 'id="backup-warnings"' in text and "database backup age unknown: not built yet" in text
    assert "RPO exposure: the last search snapshot (nightly-2, repository gameday-fs) is 1 h 00 min old" in text
    assert json.loads(paths["json"].read_text())["preflight"]["warnings"] == report["preflight"]["warnings"]
    ok = model.build(run_id="r2", started_at=NOW, ended_at=NOW + 60, target={"name": "sandbox", "kind": "sandbox"},
                     suite="smoke", scenarios=[], versions={},
                     backups=[db_backup_age(lambda: {"id": "b", "at": NOW - 5}, max_age_s=60, now=NOW)])
    assert ok["preflight"]["warnings"] == [] and 'id="backup-warnings"' not in render.html(ok)
