"""The data behind the local Cloud SQL Admin server's instances (tests/support/cloudsql.py): a real
MariaDB, so that a backup is a real dump and a point-in-time clone is a real server holding the
source's data as it was at the moment asked for, the way Cloud SQL makes one (a backup, then the
binary log replayed up to the moment)::

    source = SourceDatabase(socket=..., binlog_dir=..., database="wordpress", clone_hosts=["127.39.200.1"],
                            workdir=tmp)
    server.add_instance("sps-db", database=source)    # backupRuns.insert dumps it; instances.clone clones it
    ... server.stop()                                 # stops every clone's server, removes their files

- **Backup** (``backup()``): ``mariadb-dump --single-transaction --master-data=2`` of the site's
  database, root over the source's Unix socket; the dump's binary log coordinates are kept with it.
- **Clone at T** (``clone_at(T)``): the newest dump that ended at or before T is loaded into a new
  ``mariadbd`` (its own data directory, listening on the next of ``clone_hosts``, port 3306), then the
  source's binary log from the dump's coordinates is replayed with ``mariadb-binlog --stop-datetime``
  and the source's own users (not in the dump, never in the binary log) are created there as they are
  on the source (``SHOW CREATE USER``, ``SHOW GRANTS``: password hashes only, through stdin).
  Binary log events carry whole seconds: the clone holds what was committed before the second T
  falls in (``--stop-datetime`` at T rounded down), a restore that errs on the early side. A test
  that needs writes just before T in the clone lets a second pass between them and T.

Every command has a deadline; a failure raises :class:`CloneFailed` naming the command and the end
of its output (the Admin server turns it into the operation's error).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pymysql
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gameday import children
from gameday.kube.pki import _builder, _key_pem, _name
from gameday.sandbox.db_binlog import MAX_ALLOWED_PACKET, PACKET_ARGS

COORDS = re.compile(r"MASTER_LOG_FILE='(?P<file>[^']+)',\s*MASTER_LOG_POS=(?P<pos>\d+)")
SYSTEM_USERS = ("root", "mariadb.sys", "mysql", "PUBLIC", "")
STEP_TIMEOUT_S = 60.0
RUNNING: set["CloneServer"] = set()  # the clones' servers running: stopped at exit too, should a test not stop them


def _utc() -> dict[str, str]:
    """This process's environment (as it is now) with TZ=UTC: mariadb-binlog reads --stop-datetime,
    and the replayed events set timestamps, in the local time zone."""
    return {**os.environ, "TZ": "UTC"}


@atexit.register
def _stop_running() -> None:
    """A clone's mariadbd runs in a session of its own (a Ctrl-C to the tests does not reach it): one a
    test left running is stopped when this process exits, so it does not keep its address and port."""
    for clone in list(RUNNING):
        clone.stop()


class CloneFailed(Exception):
    """A backup or clone could not be made; the message names the command and its output's end."""


def _run(argv: list[str], *, stdin: Any = None, input_text: str | None = None, timeout: float = STEP_TIMEOUT_S,
         env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, stdin=stdin, input=input_text, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        raise CloneFailed(f"{argv[0]} did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        raise CloneFailed(f"{Path(argv[0]).name} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return done.stdout


def _sql(socket: Path, statement: str, *, timeout: float = STEP_TIMEOUT_S) -> list[list[str]]:
    """Rows of one statement run as root over ``socket`` (unix_socket authentication), tab-separated."""
    out = _run(["mariadb", "--no-defaults", f"--socket={socket}", "-uroot", "-N", "-B", "-e", statement],
               timeout=timeout)
    return [line.split("\t") for line in out.splitlines() if line]


def server_ca_and_cert(common_name: str, folder: Path) -> str:
    """As Cloud SQL makes one per instance: a CA of the instance's own and its server certificate, whose
    only name is ``common_name`` (``project:instance``; no address: a client verifies the CA, not the
    name). Writes ``ca.crt``, ``server.crt`` and ``server.key`` (0600) into ``folder``; returns the CA's
    PEM (the instance resource's ``serverCaCert.cert``)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Google Cloud SQL Server CA {common_name}", ["Google, Inc"])
    ca = (_builder(ca_name, ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _builder(_name(common_name, ["Google, Inc"]), ca_name, key.public_key()).sign(ca_key, hashes.SHA256())
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (folder / "ca.crt").write_bytes(ca_pem)
    (folder / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(folder / "server.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_key_pem(key))
    for name in ("ca.crt", "server.crt", "server.key"):
        shutil.chown(folder / name, "mysql", "mysql")
    return ca_pem.decode()


class CloneServer:
    """One clone: a mariadbd of its own, with TLS from a CA of its own (:attr:`server_ca`), stopped by
    :meth:`stop`."""

    def __init__(self, name: str, host: str, root: Path):
        self.name, self.host, self.root = name, host, root
        self.datadir = root / "data"
        self.socket = root / "mysqld.sock"
        self.proc: subprocess.Popen | None = None
        self.server_ca: str | None = None

    def start(self) -> None:
        self.datadir.mkdir(parents=True)
        shutil.chown(self.root, "mysql", "mysql")
        shutil.chown(self.datadir, "mysql", "mysql")
        self.server_ca = server_ca_and_cert(f"gameday-test:{self.name}", self.root)
        _run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=mysql",
              "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=120)
        log = open(self.root / "mariadbd.log", "ab")
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=mysql", f"--bind-address={self.host}",
             "--port=3306", f"--socket={self.socket}", f"--pid-file={self.root / 'mysqld.pid'}", "--skip-name-resolve",
             "--innodb-buffer-pool-size=16M", "--skip-log-bin", "--log-error=",
             f"--ssl-cert={self.root / 'server.crt'}", f"--ssl-key={self.root / 'server.key'}",
             f"--ssl-ca={self.root / 'ca.crt'}",
             # a replayed bulk change is one BINLOG statement of all its row events: up to 1 GB, as the twin's members
             f"--max-allowed-packet={MAX_ALLOWED_PACKET}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        children.keep_nice(self.proc.pid)  # the quick lane's priority, as the twins' members
        log.close()
        RUNNING.add(self)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CloneFailed(f"the clone {self.name}'s mariadbd exited {self.proc.returncode} at start: "
                                  + (self.root / "mariadbd.log").read_text(errors="replace")[-400:])
            try:
                pymysql.connect(unix_socket=str(self.socket), user="nobody", connect_timeout=1).close()
            except pymysql.err.OperationalError as err:
                if err.args and err.args[0] in (1045, 1698):  # it answered (and refused an unknown user): up
                    return
            time.sleep(0.1)
        raise CloneFailed(f"the clone {self.name}'s mariadbd did not answer within {STEP_TIMEOUT_S:g} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        RUNNING.discard(self)
        shutil.rmtree(self.root, ignore_errors=True)


class SourceDatabase:
    """The MariaDB behind a Cloud SQL instance of the local Admin server: dumped on a backup, cloned
    at a moment (see the module docstring)."""

    def __init__(self, *, socket: Path, binlog_dir: Path, database: str, clone_hosts: list[str], workdir: Path):
        self.socket, self.binlog_dir, self.database = Path(socket), Path(binlog_dir), database
        self.clone_hosts = list(clone_hosts)
        self.workdir = Path(workdir)
        self.backups: list[dict[str, Any]] = []  # {"path", "file", "pos", "ended_at"}
        self.clones: list[CloneServer] = []
        self.replayed: list[dict[str, Any]] = []  # what each clone was made of (the tests read it)
        self.clone_late_s = 0.0  # a faulty server that clones this much later than asked (a test's fault to catch)

    def backup(self) -> dict[str, Any]:
        """A consistent dump of the site's database with its binary log coordinates."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"backup-{len(self.backups) + 1}.sql"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(_run(["mariadb-dump", "--no-defaults", f"--socket={self.socket}", "-uroot", *PACKET_ARGS,
                            "--single-transaction", "--master-data=2", "--databases", self.database]))
        head = path.read_text()[:20000]
        found = COORDS.search(head)
        if found is None:
            raise CloneFailed(f"the dump {path.name} names no binary log coordinates (is the source's log on?)")
        made = {"path": path, "file": found["file"], "pos": int(found["pos"]), "ended_at": time.time()}
        self.backups.append(made)
        return made

    def _binlogs_from(self, first: str) -> list[Path]:
        names = [Path(line.strip()).name for line in (self.binlog_dir / "binlog.index").read_text().splitlines()
                 if line.strip()]
        if first not in names:
            raise CloneFailed(f"the binary log {first} the backup starts from is gone (have {', '.join(names)})")
        return [self.binlog_dir / n for n in names[names.index(first):]]

    def _users_sql(self) -> str:
        users = [(u, h) for u, h in _sql(self.socket, "SELECT user, host FROM mysql.user") if u not in SYSTEM_USERS]
        lines = []
        for user, host in users:
            who = f"'{user}'@'{host}'"
            lines += [row[0] for row in _sql(self.socket, f"SHOW CREATE USER {who}")]
            lines += [row[0] for row in _sql(self.socket, f"SHOW GRANTS FOR {who}") if not row[0].startswith("GRANT USAGE")]
        return "".join(f"{line};\n" for line in lines)

    def clone_at(self, name: str, moment: float) -> str:
        """A new server holding this database as it was at ``moment`` (plus :attr:`clone_late_s`); its
        address (its server CA: :meth:`server_ca`)."""
        moment += self.clone_late_s
        usable = [b for b in self.backups if b["ended_at"] <= moment]
        if not usable:
            raise CloneFailed(f"no backup ended before {datetime.fromtimestamp(moment, timezone.utc).isoformat()}: "
                              "nothing to restore from")
        if len(self.clones) >= len(self.clone_hosts):
            raise CloneFailed(f"no address left for another clone (clone_hosts: {', '.join(self.clone_hosts)})")
        backup = usable[-1]
        clone = CloneServer(name, self.clone_hosts[len(self.clones)], Path(tempfile.mkdtemp(prefix=f"clone-{name}-",
                                                                                          dir=self.workdir)))
        self.clones.append(clone)
        clone.start()
        with open(backup["path"]) as dump:
            _run(["mariadb", "--no-defaults", f"--socket={clone.socket}", "-uroot", *PACKET_ARGS], stdin=dump)
        stop = datetime.fromtimestamp(int(moment), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        logs = self._binlogs_from(backup["file"])
        events = _run(["mariadb-binlog", "--no-defaults", f"--database={self.database}",
                       f"--start-position={backup['pos']}", f"--stop-datetime={stop}", *map(str, logs)], env=_utc())
        _run(["mariadb", "--no-defaults", f"--socket={clone.socket}", "-uroot", *PACKET_ARGS], input_text=events, env=_utc())
        _run(["mariadb", "--no-defaults", f"--socket={clone.socket}", "-uroot"], input_text=self._users_sql())
        self.replayed.append({"clone": name, "backup": backup["path"].name, "from": f"{backup['file']}:{backup['pos']}",
                              "stop_datetime": stop, "logs": [p.name for p in logs]})
        return clone.host

    def server_ca(self, host: str) -> str | None:
        """The CA of the clone at ``host`` (PEM), as its instance resource's ``serverCaCert.cert``."""
        return next((c.server_ca for c in self.clones if c.host == host), None)

    def stop(self) -> None:
        for clone in self.clones:
            clone.stop()
        self.clones.clear()
