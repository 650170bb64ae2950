"""MariaDB from Debian: the CMS content store, a primary and a replica (``db-1``, ``db-2``).

Each member keeps a binary log (ROW format, server id = the twin's ``server_id_base`` + its index,
unique across regions: a replica ignores events carrying its own server id; MariaDB's GTIDs are always on,
``log_slave_updates`` so a replica's log can serve replicas of its own once promoted) in
:func:`binlog_dir`, outside its data directory, so that a backup (:mod:`gameday.sandbox.db_backup`,
taken from the primary on a schedule by :mod:`gameday.sandbox.db_backup_schedule`, kept in
:func:`backup_dir`, which the members share) plus the current primary's log can bring the database
to any moment since the backup (the point-in-time restore drill of issue 15). The logs are never
expired by the server.

Which member is the primary is not in the argv: every member starts ``read_only`` and without
replication (``--skip-slave-start``: fenced), and its init file, rewritten whenever the roles change
(:mod:`gameday.sandbox.db_replication`), lifts ``read_only`` on the recorded primary only, or points
a recorded replica at the primary (GTID, ``MASTER_USE_GTID=slave_pos``). A restarted old primary
therefore never comes back writable. ``db-1`` is the primary of a new twin; both start empty before
any content and replication carries everything. The site reaches the primary through one stable
endpoint (:meth:`Twin.db_addr`, a toxiproxy proxy the roles repoint).

In a warm standby region (its roles name an ``upstream``) the primary stays read-only and replicates
from the active region's stable endpoint (asynchronous, GTID): :mod:`gameday.sandbox.db_region`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pymysql

from ...errors import GamedayError
from ...zones import zone_for
from .. import db_binlog, db_roles
from ..spec import MemberSpec, Workload
from ..twin import DB_MEMBERS, DB_NAME, DB_USER, PORTS, Twin

MEMBERS = DB_MEMBERS
NAME, REPLICA = MEMBERS  # the primary of a new twin (the one Kubernetes runs as a StatefulSet too); its replica
REPL_USER = "gameday_repl"


def index_of(name: str) -> int:
    if name not in MEMBERS:
        raise GamedayError(f"{name!r} is not a database member of the twin (members: {', '.join(MEMBERS)})")
    return MEMBERS.index(name) + 1


def _datadir(twin: Twin, name: str = NAME):
    return twin.paths.data / name


def address(twin: Twin, name: str = NAME) -> str:
    """The member's own address (``127.<net>.30.<index>``); clients use :meth:`Twin.db_addr` instead."""
    return twin.address("db", index_of(name))


def socket_path(twin: Twin, name: str = NAME):
    """The server's Unix socket: root reaches it without a password (``unix_socket`` authentication),
    which is how the backups, the restore and the replication controls run."""
    return _datadir(twin, name) / "mysqld.sock"


def root_connect(socket, *, connect_timeout: float, read_timeout: float, write_timeout: float,
                 autocommit: bool = True, charset: str = "utf8mb4") -> pymysql.connections.Connection:
    """A root connection to the server at ``socket`` (``unix_socket`` authentication: no password anywhere),
    without TLS: nothing crosses a network, and PyMySQL's default (TLS when the server offers it) builds a
    new context for every connection, loading the system's CA certificates: 30 ms of CPU each, most of a
    small restore's fixed cost (about 20 connections). Callers say what a failure means."""
    return pymysql.connect(unix_socket=str(socket), user="root", autocommit=autocommit, charset=charset,
                           connect_timeout=connect_timeout, read_timeout=read_timeout, write_timeout=write_timeout,
                           ssl_disabled=True)


def binlog_dir(twin: Twin, name: str = NAME):
    """Where the binary log lives: outside the data directory (``binlog.000001``..., ``binlog.index``)."""
    return twin.paths.data / f"{name}-binlog"


def backup_dir(twin: Twin):
    """Where the backups live: outside every data directory, readable by root only, one for the
    twin whichever member is the primary (a backup keeps its GTID position, valid on every member)."""
    return twin.paths.data / "db-backups"


def tls_dir(twin: Twin):
    """The members' certificate, key and CA (:func:`gameday.sandbox.tls.ensure_db_server`), copied where
    MariaDB, running as mysql, reads them: a directory of mysql's own (0700, the key 0600), outside
    every data directory (a drill that loses a member's data keeps them)."""
    return twin.paths.data / "db-tls"


def prepare_tls(twin: Twin) -> None:
    """A current server certificate for the members, copied into :func:`tls_dir` (rewritten only when
    it changed: a running member keeps reading the files it started with)."""
    from .. import tls
    f = tls.ensure_db_server(twin)
    folder = tls_dir(twin)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    shutil.chown(folder, "mysql", "mysql")
    for source, name in ((f.db_server_cert, "server.crt"), (f.db_server_key, "server.key"), (f.ca_cert, "ca.crt")):
        target = folder / name
        data = source.read_bytes()
        if target.exists() and target.read_bytes() == data:
            continue
        tmp = folder / f".{name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        shutil.chown(tmp, "mysql", "mysql")
        tmp.replace(target)


def _adopt_old_backups(twin: Twin) -> None:
    """A twin made before the directory was shared kept its backups in ``db-1-backups``: move them."""
    old = twin.paths.data / f"{NAME}-backups"
    if old.is_dir() and not backup_dir(twin).exists():
        old.rename(backup_dir(twin))


def _init_sql(twin: Twin, name: str = NAME):
    # Holds passwords: readable only by mariadbd, which reads it after dropping to `mysql`.
    return twin.paths.data / f"{name}-init.sql"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"  # a MariaDB string literal


def init_sql(twin: Twin, name: str) -> str:
    """What the member runs at every start: the CMS and replication users (never into the binary
    log: CREATE/ALTER USER hold passwords in clear text), the replication mode, then its role."""
    password = _literal(twin.db_password())
    repl = _literal(twin.db_replication_password())
    text = ("SET sql_log_bin = 0;\n"
            f"CREATE DATABASE IF NOT EXISTS {DB_NAME} CHARACTER SET utf8mb4;\n"
            f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY {password};\n"
            f"ALTER USER '{DB_USER}'@'%' IDENTIFIED BY {password};\n"
            f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO '{DB_USER}'@'%';\n"
            f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'127.%' IDENTIFIED BY {repl};\n"
            f"ALTER USER '{REPL_USER}'@'127.%' IDENTIFIED BY {repl};\n"
            f"GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO '{REPL_USER}'@'127.%';\n")
    return text + role_sql(twin, name, repl)


def change_master_to_sql(host: str, port: int, repl_password_literal: str) -> str:
    """CHANGE MASTER to ``host:port`` by GTID (the replica's own ``gtid_slave_pos``), retrying every second."""
    return (f"CHANGE MASTER TO MASTER_HOST='{host}', MASTER_PORT={int(port)}, "
            f"MASTER_USER='{REPL_USER}', MASTER_PASSWORD={repl_password_literal}, "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1")


def change_master_sql(twin: Twin, primary: str, repl_password_literal: str) -> str:
    """CHANGE MASTER to the twin's member ``primary`` (:func:`change_master_to_sql`)."""
    return change_master_to_sql(address(twin, primary), PORTS["db"], repl_password_literal)


def upstream_sql(upstream: str, repl_password_literal: str) -> str:
    """A standby region's primary: read-only, replicating from the active region's stable endpoint
    ``upstream`` (``host:port``) asynchronously, whatever the twin's own mode (it never acknowledges
    the other region's commits)."""
    host, _, port = upstream.rpartition(":")
    return ("SET GLOBAL read_only = 1;\n"
            "SET GLOBAL rpl_semi_sync_slave_enabled = OFF;\n"
            + change_master_to_sql(host, int(port), repl_password_literal) + ";\nSTART SLAVE;\n")


def role_sql(twin: Twin, name: str, repl_password_literal: str) -> str:
    """The end of ``name``'s init file: the replication mode, then its role as recorded
    (:mod:`gameday.sandbox.db_roles`): the primary becomes writable, or in a standby region
    replicates from the upstream region (read-only), or, in a region switched away from, stays
    read-only; a replica replicates from the primary; anything else stays fenced (read-only, not
    replicating)."""
    roles = db_roles.load(twin)
    text = db_roles.mode_sql(roles.mode)
    if name == roles.primary:
        if roles.upstream:
            return text + upstream_sql(roles.upstream, repl_password_literal)
        if roles.region_fenced:
            return text + "-- the region was switched away from: read-only until it is demoted to a standby\n"
        return text + "SET GLOBAL read_only = 0;\n"
    if name in roles.replicas:
        return text + change_master_sql(twin, roles.primary, repl_password_literal) + ";\nSTART SLAVE;\n"
    return text + "-- fenced: read-only, not replicating, until the db playbook rebuilds it\n"


def write_init_file(twin: Twin, name: str) -> None:
    """(Re)write the member's init file. Never readable by anyone else, not even for a moment:
    created 0600 (umask cannot widen it), owned by mysql, then moved into place."""
    sql = _init_sql(twin, name)
    tmp = sql.with_name(f".{sql.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(init_sql(twin, name))
    shutil.chown(tmp, "mysql", "mysql")
    tmp.replace(sql)


def prepare_member(twin: Twin, name: str) -> None:
    """Create the member's data directory on first use, the init file that (re)creates the users and
    the members' TLS files (:func:`prepare_tls`)."""
    datadir = _datadir(twin, name)
    write_init_file(twin, name)
    prepare_tls(twin)
    binlog_dir(twin, name).mkdir(parents=True, exist_ok=True)
    shutil.chown(binlog_dir(twin, name), "mysql", "mysql")
    if (datadir / "mysql").is_dir():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    log = twin.paths.member_log(name)
    with open(log, "ab") as out:
        proc = subprocess.run(
            [twin.loc.mariadb_install_db or "mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
             "--user=mysql", "--auth-root-authentication-method=socket", "--skip-test-db"],
            stdout=out, stderr=subprocess.STDOUT, timeout=300,
        )
    if proc.returncode != 0:
        raise GamedayError(f"{name}: initialising the MariaDB data directory failed", log=str(log))


def prepare(twin: Twin, *, replica: bool = True) -> None:
    """Both members (``replica=False``: db-1 only, as the Kubernetes twin runs it) and the backup directory."""
    _adopt_old_backups(twin)
    backup_dir(twin).mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in MEMBERS if replica else (NAME,):
        prepare_member(twin, name)


def server_id(twin: Twin, name: str) -> int:
    """The member's server id: the twin's ``server_id_base`` (its region's, :mod:`..shape`) + its index,
    so no two members of two regions share one (a replica ignores events carrying its own)."""
    return twin.shape.server_id_base + index_of(name)


def member(twin: Twin, name: str) -> MemberSpec:
    index = index_of(name)
    addr = address(twin, name)
    datadir = _datadir(twin, name)
    return MemberSpec(
        name=name, index=1, address=addr, ports={"mysql": PORTS["db"]},
        argv=[twin.loc.mariadbd or "mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
              f"--bind-address={addr}", f"--port={PORTS['db']}", f"--socket={socket_path(twin, name)}",
              f"--pid-file={datadir / 'mysqld.pid'}", f"--init-file={_init_sql(twin, name)}", "--skip-name-resolve",
              "--innodb-buffer-pool-size=96M", "--max-connections=500", "--innodb-flush-log-at-trx-commit=1",
              "--log-error=",
              # TLS for every client that asks (gameday's own always do, verifying the twin's CA and the
              # name: gameday.db_client), with the certificate of db.<twin>.gameday.test and its addresses
              f"--ssl-cert={tls_dir(twin) / 'server.crt'}", f"--ssl-key={tls_dir(twin) / 'server.key'}",
              f"--ssl-ca={tls_dir(twin) / 'ca.crt'}",
              # statements and rows up to 1 GB (MariaDB's maximum; 16 MB by default): a point-in-time
              # restore replays a bulk change as one BINLOG statement of all its row events
              # (db_binlog.MAX_ALLOWED_PACKET); a replica's applier already takes 1 GB
              f"--max-allowed-packet={db_binlog.MAX_ALLOWED_PACKET}",
              # the change log point-in-time restore replays (ROW: every row a statement changed)
              f"--log-bin={binlog_dir(twin, name) / 'binlog'}", "--binlog-format=ROW", f"--server-id={server_id(twin, name)}",
              "--sync-binlog=1", "--log-slave-updates", "--relay-log=relay",
              # fenced until its init file says otherwise: never a writable primary by accident
              "--read-only", "--skip-slave-start"],
        readiness={"type": "tcp", "host": addr, "port": PORTS["db"]},
        labels={"app": "mariadb", "db-member": str(index), "zone": zone_for(index)},
        stop_grace=15.0,
    )


def workload(twin: Twin) -> Workload:
    """``db-1`` (workload ``db``): the primary of a new twin."""
    return Workload(name="db", layer="db", kind="service", replicas=1, members=[member(twin, NAME)],
                    labels={"layer": "db"})


def replica_workload(twin: Twin) -> Workload:
    """``db-2`` (workload ``db-replica``): the replica of a new twin, started with db-1; declared but
    not running in a warm standby (its shape's ``db_replicas``: 0) until the region is scaled up."""
    return Workload(name="db-replica", layer="db", kind="service", replicas=twin.shape.db_replicas,
                    members=[member(twin, REPLICA)], labels={"layer": "db"})
