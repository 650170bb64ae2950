"""The twin database's replication settings and roles, without a server: the mode is validated with
a clear error, the roles file round-trips, each member's init file follows its recorded role, and the
GTID arithmetic the rebuild relies on (a history that is a prefix, or one that diverged)."""

from __future__ import annotations

import sys

import pytest

from gameday.errors import UsageError
from gameday.sandbox import db_roles
from gameday.gtid import beyond, merge
from gameday.sandbox.install import locations
from gameday.sandbox.members import db
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import Twin


@pytest.fixture
def twin(tmp_path, monkeypatch):
    monkeypatch.delenv(db_roles.ENV_VAR, raising=False)
    t = Twin(name="repl-unit", net=33, paths=SandboxPaths(name="repl-unit", home=tmp_path / "twin"),
             loc=locations(), python=sys.executable)
    t.paths.ensure()
    return t


@pytest.mark.parametrize("bad", ["sync", "SEMISYNC", "semi-sync", "1", None])
def test_an_unknown_mode_is_refused_naming_the_modes(bad):
    with pytest.raises(UsageError) as err:
        db_roles.check_mode(bad)
    assert "async, semisync" in str(err.value) and repr(bad) in str(err.value)
    assert err.value.hint and db_roles.ENV_VAR in err.value.hint


def test_the_environment_variable_is_validated_when_the_twin_is_prepared(twin, monkeypatch):
    monkeypatch.setenv(db_roles.ENV_VAR, "semi")
    with pytest.raises(UsageError, match=f"{db_roles.ENV_VAR} must be one of async, semisync, not 'semi'"):
        db_roles.ensure(twin)
    monkeypatch.setenv(db_roles.ENV_VAR, "semisync")
    assert db_roles.ensure(twin).mode == "semisync"
    monkeypatch.delenv(db_roles.ENV_VAR)
    assert db_roles.ensure(twin).mode == "semisync"  # kept from then on
    monkeypatch.setenv(db_roles.ENV_VAR, "")
    assert db_roles.load(twin).mode == "semisync"  # empty counts as unset


def test_a_new_twin_has_db_1_primary_and_db_2_its_replica_asynchronous(twin):
    roles = db_roles.load(twin)
    assert (roles.primary, roles.replicas, roles.fenced, roles.lost, roles.mode) == ("db-1", ["db-2"], [], [], "async")


def test_a_roles_file_with_a_bad_mode_names_the_file(twin):
    roles = db_roles.ensure(twin)
    roles.mode = "eventually"
    db_roles.save(twin, roles)
    with pytest.raises(UsageError, match="mode in .*db-roles.json must be one of"):
        db_roles.load(twin)


def test_init_files_follow_the_recorded_roles_and_keep_passwords_out_of_the_binlog(twin):
    roles = db_roles.ensure(twin)
    repl = db._literal(twin.db_replication_password())
    primary, replica = db.init_sql(twin, "db-1"), db.init_sql(twin, "db-2")
    for text in (primary, replica):
        assert text.startswith("SET sql_log_bin = 0;\n")  # CREATE/ALTER USER never reach the binary log
        assert f"IDENTIFIED BY {repl}" in text and "rpl_semi_sync_master_enabled = OFF" in text
    assert "SET GLOBAL read_only = 0;" in primary and "CHANGE MASTER" not in primary
    assert "SET GLOBAL read_only = 0" not in replica
    assert f"MASTER_HOST='{twin.address('db', 1)}'" in replica and "MASTER_USE_GTID=slave_pos" in replica
    assert f"MASTER_PASSWORD={repl}" in replica and replica.rstrip().endswith("START SLAVE;")
    # after a failover: db-2 primary, db-1 fenced (neither writable nor replicating), semi-synchronous
    roles.primary, roles.replicas, roles.fenced, roles.mode = "db-2", [], ["db-1"], "semisync"
    db_roles.save(twin, roles)
    fenced = db.init_sql(twin, "db-1")
    assert "read_only = 0" not in fenced and "CHANGE MASTER" not in fenced and "START SLAVE" not in fenced
    assert "rpl_semi_sync_master_enabled = ON" in fenced and "rpl_semi_sync_master_timeout = 2000" in fenced
    assert "SET GLOBAL read_only = 0;" in db.init_sql(twin, "db-2")
    # and argv fences every member until its init file says otherwise; no secret in argv
    for name in db.MEMBERS:
        argv = db.member(twin, name).argv
        assert "--read-only" in argv and "--skip-slave-start" in argv and "--log-slave-updates" in argv
        assert twin.db_replication_password() not in " ".join(argv) and twin.db_password() not in " ".join(argv)
    assert "GAMEDAY_DB_REPLICATION_PASSWORD" in twin.db_replication_env_file.read_text()
    assert twin.db_replication_env_file.stat().st_mode & 0o777 == 0o600


def test_a_quote_in_a_password_stays_inside_its_string_literal():
    assert db._literal("a'b\\c") == "'a''b\\\\c'"


def test_gtid_history_prefix_or_diverged():
    assert beyond("0-1-100", "0-1-100") == {} and beyond("0-1-90", "0-1-100") == {}
    assert beyond("0-1-105", "0-1-100") == {0: (101, 105)}  # five commits the new primary never got
    assert beyond("0-1-5,1-1-3", "0-2-7") == {1: (1, 3)}
    assert beyond("", "0-1-1") == {}
    assert merge("0-1-100", "0-2-120,1-1-4") == "0-2-120,1-1-4" and merge(None, "") == ""
