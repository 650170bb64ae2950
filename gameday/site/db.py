"""MariaDB access for the site: one PyMySQL connection per thread, short timeouts, schema, queries.

Used by the web app, the seed and the indexer's outbox relay::

    db = Database(cfg)                      # cheap; connects lazily, per thread
    row = db.read(lambda c: get_article(c, 42))
    saved = db.write(lambda c: save_article(c, fields))   # one transaction, committed

Each thread keeps its own connection (gunicorn gthread workers run requests on 8 threads).
``connect_timeout=1``, ``read_timeout=2``, ``write_timeout=2``, autocommit for reads, so a dead or
frozen database costs a request at most ~2 s (~5 s when a reused connection is found lost and the call
retried on a fresh one against a server that then stalls), never a hang. Any database error closes that
thread's connection (the next call opens a fresh one) and is raised as :class:`DatabaseUnavailable`
whose message never contains the password. A call whose *reused* connection turns out lost (the
server restarted since it was opened) is retried once on a fresh connection: a read whatever it had
sent, a write only when its ``BEGIN`` failed (nothing of it reached the server); a timeout is never
retried (the server may be frozen: a retry would double the wait). After a connection failure
all calls fail fast for 1 s, then one call at a time probes the server until it answers, so a
dead database does not tie up every web thread for the full timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from typing import Callable, TypeVar

import pymysql
import pymysql.cursors

from ..errors import GamedayError
from .catalog import slugify
from .config import SiteConfig

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "NotFound",
    "ensure_schema",
    "count_articles",
    "insert_articles",
    "get_article",
    "get_by_slug",
    "latest",
    "categories",
    "by_category",
    "all_articles",
    "save_article",
    "pending_outbox",
    "mark_sent",
]

T = TypeVar("T")

RETRY_AFTER = 1.0  # after a connection failure, calls fail fast; one probe per this many seconds

ARTICLE_COLUMNS = "id, kind, slug, title, category, summary, body, version, updated_at"
LIST_COLUMNS = "id, kind, slug, title, category, summary, version, updated_at"

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS articles (
      id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      kind VARCHAR(16) NOT NULL,
      slug VARCHAR(191) NOT NULL,
      title VARCHAR(255) NOT NULL,
      category VARCHAR(64) NOT NULL,
      summary TEXT NOT NULL,
      body MEDIUMTEXT NOT NULL,
      version INT NOT NULL DEFAULT 1,
      updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      UNIQUE KEY uq_articles_slug (slug),
      KEY ix_articles_updated (updated_at),
      KEY ix_articles_category (category, updated_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
    """,
    """
    CREATE TABLE IF NOT EXISTS outbox (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      article_id INT NOT NULL,
      version INT NOT NULL,
      payload JSON NOT NULL,
      created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      sent_at DATETIME(6) NULL,
      KEY ix_outbox_pending (sent_at, created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
    """,
)


class DatabaseUnavailable(GamedayError):
    """The database could not be reached or answered with an error (message has no secrets).

    ``connection_lost`` is true when the connection failed (refused, timed out, dropped), as
    opposed to the server rejecting one statement.
    """

    def __init__(self, message: str, *, connection_lost: bool = False, reason: str = ""):
        super().__init__(message)
        self.connection_lost = connection_lost
        self.reason = reason or message


class NotFound(GamedayError):
    """The requested article does not exist."""


class Database:
    """Thread-local PyMySQL connections to the site database described by ``cfg``."""

    def __init__(
        self,
        cfg: SiteConfig,
        *,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        write_timeout: float = 2.0,
    ):
        self._cfg = cfg
        self._timeouts = (connect_timeout, read_timeout, write_timeout)
        self._local = threading.local()
        self._state_lock = threading.Lock()
        self._down: tuple[float, str] | None = None  # (monotonic time, why) of the last connection failure
        self._probing = False

    def __repr__(self) -> str:
        return f"Database({self._cfg.db_user}@{self._cfg.db_addr}/{self._cfg.db_name})"

    def _connect(self) -> pymysql.connections.Connection:
        connect_timeout, read_timeout, write_timeout = self._timeouts
        cfg = self._cfg
        try:
            return pymysql.connect(
                host=cfg.db_host,
                port=cfg.db_port,
                user=cfg.db_user,
                password=cfg.db_password,
                database=cfg.db_name,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                cursorclass=pymysql.cursors.DictCursor,
                # plain text, as WordPress's mysqli connects by default (no MYSQL_CLIENT_FLAGS): the server
                # offers TLS (gameday's own clients use it), and PyMySQL would otherwise take it unverified
                ssl_disabled=True,
            )
        except pymysql.MySQLError as err:
            raise DatabaseUnavailable(f"cannot connect to the database at {cfg.db_addr}: {_describe(err)}",
                                      connection_lost=_is_connection_error(err), reason=_describe(err)) from None
        except OSError as err:
            raise DatabaseUnavailable(f"cannot connect to the database at {cfg.db_addr}: {err}",
                                      connection_lost=True, reason=str(err)) from None

    def _connection(self) -> tuple[pymysql.connections.Connection, bool]:
        """This thread's connection and whether it was reused (False: just opened)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        conn = self._connect()
        self._local.conn = conn
        return conn, False

    def discard(self) -> None:
        """Close and forget this thread's connection (the next call reconnects)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            # No COM_QUIT: the server may be frozen, and a polite close could block on write.
            conn._force_close()

    def _admit(self) -> bool:
        """Fail fast while the database is known down; True if this call is the one probe."""
        with self._state_lock:
            if self._down is None:
                return False
            since, reason = self._down
            age = time.monotonic() - since
            if age >= RETRY_AFTER and not self._probing:
                self._probing = True
                return True
        raise DatabaseUnavailable(
            f"database at {self._cfg.db_addr} is unavailable ({reason}, {age:.1f}s ago; retried every {RETRY_AFTER:g}s)")

    def _run(self, fn: Callable[[pymysql.connections.Connection], T], *, retry: Callable[[], bool]) -> T:
        probe = self._admit()
        try:
            result = self._attempt(fn, retry=retry)
        except DatabaseUnavailable as err:
            if err.connection_lost:
                with self._state_lock:
                    self._down = (time.monotonic(), err.reason)
            raise
        else:
            if self._down is not None:
                with self._state_lock:
                    self._down = None
            return result
        finally:
            if probe:
                with self._state_lock:
                    self._probing = False

    def _attempt(self, fn: Callable[[pymysql.connections.Connection], T], *, retry: Callable[[], bool]) -> T:
        """``fn`` on this thread's connection; ``retry()`` says, after a failure, whether ``fn`` may run
        again (a reused connection found lost, not timed out, is retried once on a fresh one)."""
        conn, reused = self._connection()
        try:
            return fn(conn)
        except (pymysql.MySQLError, OSError) as err:
            self.discard()
            lost = _is_connection_error(err)
            # A connection that went stale while idle (the server restarted) is found lost on its first
            # use: retry on a fresh one. Told by the error, not by how fast it failed (a fixed bound
            # guesses the host's speed: a busy one can take longer to find a stale connection). A
            # timeout is not retried: the server may be frozen.
            if reused and lost and not _timed_out(err) and retry():
                return self._attempt(fn, retry=_never)
            raise DatabaseUnavailable(f"database error at {self._cfg.db_addr}: {_describe(err)}",
                                      connection_lost=lost, reason=_describe(err)) from None

    def read(self, fn: Callable[[pymysql.connections.Connection], T]) -> T:
        """Run ``fn(conn)`` in autocommit mode; retried once on a fresh connection if it was stale, so
        ``fn`` must be safe to run twice (a query, or an idempotent update such as :func:`mark_sent`)."""
        return self._run(fn, retry=_always)

    def write(self, fn: Callable[[pymysql.connections.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction: commit if it returns, roll back if it raises."""

        began = False

        def transaction(conn: pymysql.connections.Connection) -> T:
            nonlocal began
            conn.begin()
            began = True  # the server has the transaction: a lost connection from here is not retried
            try:
                result = fn(conn)
            except BaseException:
                _rollback_quietly(conn)
                raise
            conn.commit()
            return result

        return self._run(transaction, retry=lambda: not began)

    def ping(self) -> None:
        """``SELECT 1``; raises :class:`DatabaseUnavailable` if that fails."""

        def select_one(conn: pymysql.connections.Connection) -> None:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchall()

        self._run(select_one, retry=_always)

    def close(self) -> None:
        """Close this thread's connection."""
        self.discard()


def _rollback_quietly(conn: pymysql.connections.Connection) -> None:
    try:
        conn.rollback()
    except (pymysql.MySQLError, OSError):
        conn._force_close()  # the original error is the one worth reporting


def _always() -> bool:
    return True


def _never() -> bool:
    return False


def _timed_out(err: BaseException) -> bool:
    """True when ``err`` is, or was raised for, a socket timeout (PyMySQL raises its "Lost connection"
    errors from the ``OSError`` it caught: a read timeout is a 2013 whose context is a ``TimeoutError``)."""
    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, TimeoutError):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _is_connection_error(err: BaseException) -> bool:
    if isinstance(err, (pymysql.err.InterfaceError, OSError)):
        return True
    if isinstance(err, pymysql.err.OperationalError) and err.args:
        return err.args[0] in (2003, 2006, 2013, 2055, 1927)  # refused / gone away / lost / killed
    return False


def _describe(err: BaseException) -> str:
    """One line describing a PyMySQL error (PyMySQL never includes the password in these)."""
    if isinstance(err, pymysql.MySQLError) and len(err.args) >= 2:
        return f"({err.args[0]}) {err.args[1]}"
    if isinstance(err, pymysql.MySQLError) and err.args:
        return f"{type(err).__name__} {err.args[0]}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


# ---------------------------------------------------------------------------------------------
# Schema and queries. Each takes an open connection (use them through Database.read/write).


def ensure_schema(conn: pymysql.connections.Connection) -> None:
    """Create the ``articles`` and ``outbox`` tables if missing (idempotent)."""
    with conn.cursor() as cur:
        for statement in SCHEMA:
            cur.execute(statement)


def count_articles(conn: pymysql.connections.Connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM articles")
        return int(cur.fetchone()["n"])


def insert_articles(conn: pymysql.connections.Connection, rows: list[dict], *, batch: int = 500) -> int:
    """Insert catalogue rows (with explicit ids) in batches; ``updated_at`` follows id order."""
    base = dt.datetime(2026, 1, 1)
    sql = (
        "INSERT INTO articles (id, kind, slug, title, category, summary, body, version, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    with conn.cursor() as cur:
        for start in range(0, len(rows), batch):
            cur.executemany(
                sql,
                [
                    (r["id"], r["kind"], r["slug"], r["title"], r["category"], r["summary"], r["body"],
                     r["version"], base + dt.timedelta(minutes=r["id"]))
                    for r in rows[start : start + batch]
                ],
            )
    return len(rows)


def get_article(conn: pymysql.connections.Connection, article_id: int) -> dict | None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = %s", (article_id,))
        return cur.fetchone()


def get_by_slug(conn: pymysql.connections.Connection, kind: str, slug: str) -> dict | None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE slug = %s AND kind = %s", (slug, kind))
        return cur.fetchone()


def latest(conn: pymysql.connections.Connection, limit: int = 20) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {LIST_COLUMNS} FROM articles ORDER BY updated_at DESC LIMIT %s", (limit,))
        return list(cur.fetchall())


def categories(conn: pymysql.connections.Connection) -> list[dict]:
    """``[{"category": "Pregnancy", "n": 123}, ...]`` sorted by name."""
    with conn.cursor() as cur:
        cur.execute("SELECT category, COUNT(*) AS n FROM articles GROUP BY category ORDER BY category")
        return list(cur.fetchall())


def by_category(conn: pymysql.connections.Connection, category: str, limit: int = 50) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {LIST_COLUMNS} FROM articles WHERE category = %s ORDER BY updated_at DESC LIMIT %s",
            (category, limit),
        )
        return list(cur.fetchall())


def all_articles(conn: pymysql.connections.Connection, *, after_id: int = 0, limit: int = 500) -> list[dict]:
    """A page of full articles in id order (for bulk indexing)."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit)
        )
        return list(cur.fetchall())


def save_article(
    conn: pymysql.connections.Connection,
    fields: dict,
    make_event: Callable[[dict], dict],
) -> tuple[dict, int, dict]:
    """Insert (no ``id``) or update (``id``: version + 1) an article and add its outbox row.

    Call inside :meth:`Database.write` so both writes share one transaction. Returns
    ``(article, outbox_id, event)``. Raises :class:`NotFound` for an unknown ``id``.
    """
    values = (fields["kind"], fields["title"], fields["category"], fields["summary"], fields["body"])
    with conn.cursor() as cur:
        if fields.get("id") is not None:
            article_id = int(fields["id"])
            cur.execute(
                "UPDATE articles SET kind=%s, title=%s, category=%s, summary=%s, body=%s,"
                " version = version + 1, updated_at = NOW(6) WHERE id = %s",
                (*values, article_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"article {article_id} does not exist")
        else:
            slug = slugify(fields["title"])[:150] or "article"
            insert = (
                "INSERT INTO articles (kind, slug, title, category, summary, body, version, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, 1, NOW(6))"
            )
            try:
                cur.execute(insert, (values[0], slug, *values[1:]))
            except pymysql.err.IntegrityError as err:
                if not err.args or err.args[0] != 1062:  # 1062: duplicate slug
                    raise
                cur.execute(insert, (values[0], f"{slug}-{uuid.uuid4().hex[:8]}", *values[1:]))
            article_id = cur.lastrowid
        cur.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = %s", (article_id,))
        article = cur.fetchone()
        event = make_event(article)
        cur.execute(
            "INSERT INTO outbox (article_id, version, payload, created_at) VALUES (%s, %s, %s, NOW(6))",
            (article["id"], article["version"], json.dumps(event)),
        )
        outbox_id = cur.lastrowid
    return article, outbox_id, event


def pending_outbox(conn: pymysql.connections.Connection, *, older_than: float = 3.0, limit: int = 500) -> list[dict]:
    """Outbox rows never marked sent and older than ``older_than`` seconds: ``{id, payload}``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, payload FROM outbox WHERE sent_at IS NULL"
            " AND created_at < NOW(6) - INTERVAL %s MICROSECOND ORDER BY id LIMIT %s",
            (int(older_than * 1_000_000), limit),
        )
        rows = list(cur.fetchall())
    for row in rows:
        payload = row["payload"]
        row["payload"] = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    return rows


def mark_sent(conn: pymysql.connections.Connection, outbox_ids: list[int]) -> int:
    """Set ``sent_at`` on these outbox rows; returns how many changed."""
    if not outbox_ids:
        return 0
    marks = ", ".join(["%s"] * len(outbox_ids))
    with conn.cursor() as cur:
        cur.execute(f"UPDATE outbox SET sent_at = NOW(6) WHERE id IN ({marks}) AND sent_at IS NULL", outbox_ids)
        return cur.rowcount
