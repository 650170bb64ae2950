"""Parts of the Cloud SQL point-in-time restore drill that need no server: the GTID read after the
fault, the address a clone is queried at."""

from __future__ import annotations

import pymysql
import pytest

from gameday.chaos.db import actions


class Cursor:
    def __init__(self, error: Exception | None = None, row: tuple = ("0-1-42",)):
        self.error, self.row = error, row

    def execute(self, statement: str) -> None:
        if self.error is not None:
            raise self.error

    def fetchone(self) -> tuple:
        return self.row


def test_the_last_gtid_is_none_only_where_the_server_has_no_such_variable():
    assert actions._last_gtid(Cursor()) == "0-1-42"
    assert actions._last_gtid(Cursor(pymysql.err.InternalError(1193, "Unknown system variable 'last_gtid'"))) is None
    with pytest.raises(pymysql.err.OperationalError):  # a lost connection is not "MySQL": it is raised
        actions._last_gtid(Cursor(pymysql.err.OperationalError(2013, "Lost connection to server during query")))


def test_a_clone_is_queried_at_its_private_address_when_it_has_one():
    from gameday.targets.kubernetes_cloudsql import clone_ips

    public = {"type": "PRIMARY", "ip": "34.89.1.2"}
    private = {"type": "PRIVATE", "ip": "10.20.0.7"}
    assert clone_ips([public, private]) == ["10.20.0.7", "34.89.1.2"]
    assert clone_ips([public]) == ["34.89.1.2"] and clone_ips([{"type": "PRIVATE", "ip": ""}]) == []


def test_a_clone_restore_is_told_apart_by_its_kind_not_by_how():
    from types import SimpleNamespace

    from gameday.recovery.layers import db_content

    ctx = SimpleNamespace(env=SimpleNamespace(name="parts-test"))
    try:
        db_content.LAST_RESTORE["parts-test"] = {"kind": "clone", "how": "clone", "restored_instance": "sps-db-pitr"}
        assert "sps-db-pitr" in db_content.matches_backup(ctx).detail
        db_content.LAST_RESTORE["parts-test"] = {"how": "clone", "tables": {}}  # a sandbox-shaped restore: not a clone
        assert db_content._clone_checked(ctx) is None
    finally:
        db_content.LAST_RESTORE.pop("parts-test", None)


def test_the_fault_and_the_clone_digest_the_same_rows_the_same_way():
    import hashlib

    from gameday.db_figures import digest, range_figures

    rows = [(1002, 3), (7, 1), (1001, 1), (2001, 2)]
    assert digest(rows) == hashlib.sha256(b"7:1\n1001:1\n1002:3\n2001:2\n").hexdigest()
    assert range_figures(rows, 1001, 2000) == {"rows": 2, "min_id": 1001, "max_id": 1002,
                                               "sha256": digest([(1001, 1), (1002, 3)])}
    assert range_figures(rows, None, 1000)["rows"] == 1 and range_figures([], 1, 2)["min_id"] is None
