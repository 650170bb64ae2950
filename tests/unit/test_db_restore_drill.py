"""The backup drill's parts that need no database: the fault's arguments refused before anything is
touched, the Kubernetes target refusing the drill rather than pretending, the db playbook's plan for
destroyed content, the milestones from the fault, and the twin's backup directory (newest complete
backup, none before a moment). The drill itself runs in tests/integration/test_db_restore.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from chaoslib.exceptions import ActivityFailed, InterruptExecution

from gameday.chaos.db import actions
from gameday.chaos.db.restore import milestones
from gameday.chaos.undo import UNDO
from gameday.errors import GamedayError
from gameday.recovery import Finding, load_playbook
from gameday.sandbox import db_backup
from gameday.targets import kubernetes as k8s
from gameday.targets.environment import from_mapping

ROOT = Path(__file__).resolve().parents[2]


# ---- the fault's arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, says", [
    ({"how": "truncate"}, "how must be 'delete' or 'drop', not 'truncate'"),
    ({"table": "articles; DROP DATABASE sps"}, "table must be a table name"),
    ({"first_id": 0}, "first_id must be a positive integer, not 0"),
    ({"last_id": "2000"}, "last_id must be a positive integer, not '2000'"),
    ({"first_id": 20, "last_id": 10}, "first_id 20 is above last_id 10"),
    ({"how": "drop", "first_id": 5}, "argument 'first_id' is used only with how: delete"),
])
def test_bad_arguments_are_refused_before_any_target_is_asked(monkeypatch, kwargs, says):
    monkeypatch.setattr(actions, "target", lambda *a, **k: pytest.fail("the target was asked"))
    with pytest.raises(InterruptExecution, match="nothing was touched") as err:
        actions.destroy_content(**kwargs)
    assert says in str(err.value)


def test_every_problem_is_named_at_once(monkeypatch):
    monkeypatch.setattr(actions, "target", lambda *a, **k: pytest.fail("the target was asked"))
    with pytest.raises(InterruptExecution) as err:
        actions.destroy_content(table="x y", how="wipe", first_id=-1)
    assert all(s in str(err.value) for s in ("table must be", "how must be", "first_id must be"))


@pytest.mark.parametrize("content, table, says", [
    (None, "outbox", "table must be 'articles' (the table the db playbook checks and restores), not 'outbox'"),
    ("wordpress", "articles", "table must be 'wp_posts' (the table the db playbook checks and restores), not 'articles'"),
])
def test_a_table_other_than_the_targets_content_table_is_refused_before_anything_is_touched(monkeypatch, content,
                                                                                            table, says):
    raw = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    env = copy.deepcopy(raw["configuration"]["gameday_environment"])
    if content:
        env["kubernetes"]["db"]["content"] = content
    kube = k8s.KubernetesTarget(from_mapping(env, "test"))
    touched = []
    monkeypatch.setattr(actions, "target", lambda configuration, *, lock=True: touched.extend(["lock"] * lock) or kube)
    monkeypatch.setattr(actions, "lock_for", lambda env: touched.append("lock"))
    monkeypatch.setattr("gameday.chaos.ledger.write", lambda *a, **k: touched.append("ledger"))
    monkeypatch.setattr("pymysql.connect", lambda *a, **k: touched.append("database"))
    with pytest.raises(InterruptExecution, match="nothing was touched") as err:
        actions.destroy_content(table=table, configuration={"gameday_environment": env})
    assert says in str(err.value) and touched == []


# ---- Kubernetes: not built, and says so ------------------------------------------------------------
def test_the_action_refuses_on_kubernetes_before_any_lock_or_record(monkeypatch):
    raw = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    kube = k8s.KubernetesTarget(from_mapping(copy.deepcopy(raw["configuration"]["gameday_environment"]), "test"))
    touched = []

    def target(configuration, *, lock=True):  # the target the kubeconfig would give, without one
        touched.extend(["lock"] if lock else [])
        return kube
    monkeypatch.setattr(actions, "target", target)
    monkeypatch.setattr(actions, "lock_for", lambda env: touched.append("lock"))
    monkeypatch.setattr("gameday.chaos.ledger.write", lambda *a, **k: touched.append("ledger"))
    monkeypatch.setattr("pymysql.connect", lambda *a, **k: touched.append("database"))
    with pytest.raises(ActivityFailed, match="not built for targets of kind 'kubernetes'.*nothing was touched"):
        actions.destroy_content(configuration=copy.deepcopy(raw["configuration"]))
    assert touched == []


# ---- the playbook ------------------------------------------------------------------------------------
def test_destroyed_content_is_restored_then_verified_against_the_backup():
    plan = [step.name for _part, step in load_playbook("db").plan([Finding("db.content-lost", "x")])]
    assert plan == ["restore-db-content", "flush-site-caches", "verify-db", "verify-db-content", "verify-db-replication",
                    "verify-site-after-db"]  # the site's caches emptied after the restore (R8)


def test_a_killed_database_is_not_a_content_restore():
    plan = [step.name for _part, step in load_playbook("db").plan([Finding("db.members-missing", "x")])]
    assert "restore-db-content" not in plan and "verify-db-content" in plan


def test_the_undo_is_registered_by_name_and_reports_milestones_from_the_fault():
    assert UNDO["restore_db_content"].__name__ == "restore_db_content"
    steps = {"restore-db-content": {"ended_at": 1012.34}, "verify-db-content": {"ended_at": 1013.0}}
    assert milestones(steps, 1000.0) == {"content_restored": 12.3, "content_verified": 13.0}
    assert milestones({}, 1000.0) == {"content_restored": None, "content_verified": None}


# ---- the twin's backup directory -----------------------------------------------------------------------
def host(tmp_path: Path) -> db_backup.DbHost:
    return db_backup.DbHost(socket=tmp_path / "no.sock", binlog_dir=tmp_path / "binlog", backup_dir=tmp_path / "backups",
                            database="sps")


def put_backup(h: db_backup.DbHost, bid: str, at: float, *, dump: bool = True) -> None:
    h.backup_dir.mkdir(exist_ok=True)
    if dump:
        (h.backup_dir / f"{bid}.sql").write_text("-- dump\n")
    (h.backup_dir / f"{bid}.json").write_text(json.dumps({"id": bid, "at": at, "path": str(h.backup_dir / f"{bid}.sql"),
                                                          "binlog": {"file": "binlog.000001", "position": 4}}))


def test_the_newest_complete_backup_is_the_last_one(tmp_path):
    h = host(tmp_path)
    assert db_backup.newest(h) is None  # no directory yet: no backup, not an error
    put_backup(h, "db-b", 200.0)
    put_backup(h, "db-a", 100.0)
    put_backup(h, "db-c", 300.0, dump=False)  # its dump is gone: not a backup one can restore
    (h.backup_dir / "db-d.json").write_text("{half")  # a crashed run's manifest
    assert db_backup.newest(h)["id"] == "db-b"
    assert db_backup.before(h, 150.0)["id"] == "db-a"
    with pytest.raises(GamedayError, match="no database backup was taken before .* \\(2 backup\\(s\\) in "):
        db_backup.before(h, 100.0)


def test_a_restore_names_a_bad_gtid_before_touching_anything(tmp_path):
    with pytest.raises(GamedayError, match="not a GTID .*'binlog.000002:1594'"):
        db_backup.restore_to(host(tmp_path), 100.0, skip=["0-1-8", "binlog.000002:1594"])
