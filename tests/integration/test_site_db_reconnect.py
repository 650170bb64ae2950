"""The site's database access (gameday.site.db) across a database crash, on a real MariaDB: the web
threads' connections, left stale by the restart, cost no reader an error once the server is back (a
read, and a write whose BEGIN found the connection lost, retry once on a fresh connection); a write
that reached the server is never replayed, and a frozen server's timeout is not retried.

A server of its own (not a twin's): 127.81.0.1:3306, data in a temporary directory, stopped after the
module::

    .venv/bin/pytest tests/integration/test_site_db_reconnect.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pymysql
import pytest

from gameday.chaos.db.probes import _accepts
from gameday.deadline import wait_until
from gameday.site import db
from gameday.site.config import SiteConfig

HOST, PORT = "127.81.0.1", 3306
USER, PASSWORD, DATABASE = "sps", "s3cret'\"pw", "sps"
STARTUP_S = 60.0


class Server:
    """One mariadbd on ``datadir``: started, SIGKILLed and started again on the same data."""

    def __init__(self, root: Path):
        self.root = root
        self.datadir = root / "data"
        self.proc: subprocess.Popen | None = None

    def install(self) -> None:
        self.datadir.mkdir(parents=True)
        os.chown(self.datadir, *_mysql_ids())
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=mysql",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        log = open(self.root / "mariadbd.log", "ab")
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=mysql", f"--bind-address={HOST}",
             f"--port={PORT}", f"--socket={self.datadir / 'mysqld.sock'}", f"--pid-file={self.datadir / 'mysqld.pid'}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--log-error="],
            stdout=log, stderr=log, start_new_session=True)
        wait_until(self.serves, timeout=STARTUP_S, interval=0.2, what=f"mariadbd at {HOST}:{PORT}")

    def serves(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mariadbd exited {self.proc.returncode}: "
                                 + (self.root / "mariadbd.log").read_text(errors="replace")[-600:])
        return _accepts(HOST, PORT)  # MariaDB's handshake: what the drills' wait_for_database checks

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def root_sql(self, *statements: str) -> list[tuple]:
        conn = pymysql.connect(unix_socket=str(self.datadir / "mysqld.sock"), user="root", autocommit=True,
                               connect_timeout=5, read_timeout=30)
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return list(cur.fetchall())

    def connections(self) -> int:
        """The server's count of connection attempts (``Connections``), this query's own included."""
        return int(self.root_sql("SHOW GLOBAL STATUS LIKE 'Connections'")[0][1])


def _mysql_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("mysql")
    return entry.pw_uid, entry.pw_gid


@pytest.fixture(scope="module")
def server():
    root = Path(tempfile.mkdtemp(prefix="gameday-site-db-"))  # not pytest's: its folders are root's alone
    os.chmod(root, 0o755)  # mariadbd runs as mysql
    srv = Server(root)
    srv.install()
    srv.start()
    escaped = PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
    srv.root_sql(f"CREATE DATABASE {DATABASE}", f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{escaped}'",
                 f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'%'",
                 f"CREATE TABLE {DATABASE}.marks (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64) NOT NULL)")
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.terminate()
        srv.proc.wait(timeout=60)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database(server):
    cfg = SiteConfig(db_host=HOST, db_port=PORT, db_name=DATABASE, db_user=USER, db_password=PASSWORD,
                     search_urls=("http://127.0.0.1:9",), kafka_bootstrap=("127.0.0.1:9",))
    return db.Database(cfg, connect_timeout=1.0, read_timeout=1.0, write_timeout=1.0)


def count(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM marks")
        return int(cur.fetchone()["n"])


def mark(note: str):
    def insert(conn) -> int:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO marks (note) VALUES (%s)", (note,))
            return cur.lastrowid
    return insert


def on_threads(n: int, fn) -> list:
    """``fn()`` on ``n`` threads of their own (each keeps its connection while it lives), returning what
    each returned or raised; the threads stay alive until ``release`` is set."""
    results: list = [None] * n
    go = [threading.Event() for _ in range(n)]
    done = [threading.Event() for _ in range(n)]
    stop = threading.Event()

    def worker(i: int) -> None:
        for _round in range(2):
            if not go[i].wait(timeout=120) or stop.is_set():
                return
            go[i].clear()
            try:
                results[i] = fn()
            except db.DatabaseUnavailable as err:
                results[i] = err
            done[i].set()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()

    def run_round() -> list:
        for event in done:
            event.clear()
        for event in go:
            event.set()
        for event in done:
            assert event.wait(timeout=60), "a worker did not finish its call"
        return list(results)

    def finish() -> None:
        stop.set()
        for event in go:
            event.set()
        for t in threads:
            t.join(timeout=10)

    return run_round, finish


def test_stale_connections_after_a_crash_cost_no_reader_an_error(server, database):
    run_round, finish = on_threads(6, lambda: database.read(count))
    try:
        assert all(isinstance(r, int) for r in run_round())  # each thread holds a connection now
        server.kill()
        server.start()  # the same data; every thread's connection is now stale
        after = run_round()
    finally:
        finish()
    assert all(isinstance(r, int) for r in after), after


def test_a_write_whose_begin_finds_the_connection_stale_is_retried_once_and_saved_once(server, database):
    run_round, finish = on_threads(1, lambda: database.write(mark("stale write")))
    try:
        first = run_round()[0]
        assert not isinstance(first, Exception), first
        server.kill()
        server.start()
        second = run_round()[0]
    finally:
        finish()
    assert not isinstance(second, Exception), second
    rows = server.root_sql(f"SELECT COUNT(*) FROM {DATABASE}.marks WHERE note = 'stale write'")
    assert rows[0][0] == 2  # the first write and the retried one, each once


def test_a_frozen_servers_timeout_is_not_retried(server, database):
    run_round, finish = on_threads(1, lambda: database.read(count))
    try:
        assert isinstance(run_round()[0], int)
        before = server.connections()
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            frozen = run_round()[0]
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
    finally:
        finish()
    assert isinstance(frozen, db.DatabaseUnavailable) and "timed out" in str(frozen), frozen
    # a retry would have opened a connection: the kernel queues it while the server is stopped, and the
    # server accepts and counts it, in order, before this check's own connection
    assert server.connections() - before == 1, "the timed-out read was retried"
