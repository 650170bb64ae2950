"""MariaDB from Debian: the CMS content store (one member, ``db-1``).

It keeps a binary log (ROW format, server id 1; MariaDB's GTIDs are always on) in :func:`binlog_dir`,
outside its data directory, so that a backup (:mod:`gameday.sandbox.db_backup`, kept in
:func:`backup_dir`) plus the log can bring the database to any moment since the backup
(the point-in-time restore drill of issue 15). The logs are never expired by the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ...errors import GamedayError
from ..spec import MemberSpec, Workload
from ..twin import DB_NAME, DB_USER, PORTS, Twin

NAME = "db-1"


def _datadir(twin: Twin):
    return twin.paths.data / NAME


def socket_path(twin: Twin):
    """The server's Unix socket: root reaches it without a password (``unix_socket`` authentication),
    which is how the backups and the restore run (:mod:`gameday.sandbox.db_backup`)."""
    return _datadir(twin) / "mysqld.sock"


def binlog_dir(twin: Twin):
    """Where the binary log lives: outside the data directory (``binlog.000001``..., ``binlog.index``)."""
    return twin.paths.data / f"{NAME}-binlog"


def backup_dir(twin: Twin):
    """Where the backups live: outside the data directory, readable by root only."""
    return twin.paths.data / f"{NAME}-backups"


def _init_sql(twin: Twin):
    # Holds the password: readable only by mariadbd, which reads it after dropping to `mysql`.
    return twin.paths.data / f"{NAME}-init.sql"


def prepare(twin: Twin) -> None:
    """Create the data directory on first use, and the init file that (re)creates the CMS user."""
    datadir = _datadir(twin)
    password = twin.db_password().replace("\\", "\\\\").replace("'", "''")  # a MariaDB string literal
    sql = _init_sql(twin)
    # Not into the binary log: its CREATE/ALTER USER statements hold the password in clear text.
    text = ("SET sql_log_bin = 0;\n"
            f"CREATE DATABASE IF NOT EXISTS {DB_NAME} CHARACTER SET utf8mb4;\n"
            f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{password}';\n"
            f"ALTER USER '{DB_USER}'@'%' IDENTIFIED BY '{password}';\n"
            f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO '{DB_USER}'@'%';\n")
    # Never readable by anyone else, not even for a moment: created 0600 (umask cannot widen it),
    # owned by mysql, then moved into place.
    tmp = sql.with_name(f".{sql.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    shutil.chown(tmp, "mysql", "mysql")
    tmp.replace(sql)
    binlog_dir(twin).mkdir(parents=True, exist_ok=True)
    shutil.chown(binlog_dir(twin), "mysql", "mysql")
    backup_dir(twin).mkdir(parents=True, exist_ok=True, mode=0o700)
    if (datadir / "mysql").is_dir():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    log = twin.paths.member_log(NAME)
    with open(log, "ab") as out:
        proc = subprocess.run(
            [twin.loc.mariadb_install_db or "mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
             "--user=mysql", "--auth-root-authentication-method=socket", "--skip-test-db"],
            stdout=out, stderr=subprocess.STDOUT, timeout=300,
        )
    if proc.returncode != 0:
        raise GamedayError(f"{NAME}: initialising the MariaDB data directory failed", log=str(log))


def workload(twin: Twin) -> Workload:
    address = twin.address("db")
    datadir = _datadir(twin)
    member = MemberSpec(
        name=NAME, index=1, address=address, ports={"mysql": PORTS["db"]},
        argv=[twin.loc.mariadbd or "mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
              f"--bind-address={address}", f"--port={PORTS['db']}", f"--socket={socket_path(twin)}",
              f"--pid-file={datadir / 'mysqld.pid'}", f"--init-file={_init_sql(twin)}", "--skip-name-resolve",
              "--innodb-buffer-pool-size=128M", "--max-connections=500", "--innodb-flush-log-at-trx-commit=1",
              "--log-error=",
              # the change log point-in-time restore replays (ROW: every row a statement changed)
              f"--log-bin={binlog_dir(twin) / 'binlog'}", "--binlog-format=ROW", "--server-id=1", "--sync-binlog=1"],
        readiness={"type": "tcp", "host": address, "port": PORTS["db"]},
        labels={"app": "mariadb", "role": "primary"},
        stop_grace=15.0,
    )
    return Workload(name="db", layer="db", kind="service", replicas=1, members=[member],
                    labels={"layer": "db"})
