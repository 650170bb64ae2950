"""What a playbook step works with: the environment's target, the step's deadline and the state the
steps of one run share::

    ctx = Context.for_environment(load("sandbox"))     # allow-list and consent checked here
    ctx.target.view("kafka").held                       # members, controls and endpoints: the target's
    ctx.search(10).health()                             # admin calls bounded by the step's deadline
    ctx.db_query("SELECT 1"); ctx.state.paused_indexer
"""

from __future__ import annotations

import datetime
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pymysql

from ..deadline import Deadline
from ..errors import GamedayError
from ..search_admin import SearchAdmin
from ..targets import for_environment
from ..targets.base import Target
from ..targets.environment import Environment
from . import targets_yaml


class DatabaseDown(GamedayError):
    pass


@dataclass(slots=True)
class PlaybookState:
    """What one step leaves for a later one in the same run (and what the caller asks of the run).
    Slotted: a misspelt field is an AttributeError, not a silent new key."""

    slo: dict[str, float] = field(default_factory=dict)  # the site's SLO; empty: targets.yaml's (Context.site_slo)
    rolling_restart: bool = False  # `gameday playbook web --rolling-restart`; cleared once done
    paused_indexer: list[str] = field(default_factory=list)  # indexer members the search restore paused
    snapshot: str | None = None  # the snapshot the search index was restored from
    replay_from_ms: int = 0  # replay content events from this instant (ms since the epoch; 0: all)
    reindex_from_db: bool = False  # no snapshot: re-index every article from the database
    count_rows: tuple[Deadline, int] | None = None  # (the verify step's deadline, articles when it began)
    match_cut: tuple[Deadline, datetime.datetime] | None = None  # (the match step's deadline, its cut-off instant)
    regions: Any = None  # the region pair (gameday.targets.regions.RegionPair), made once per run
    switchover: bool = False  # `gameday playbook region --switchover`: a planned move to the standby region
    switchover_done: bool = False  # the front switched: the request is answered
    on_stop_writes: Any = None  # called once the active region refuses writes (a drill's canary writers stop too)
    relay_backlog: dict | None = None  # the outbox backlog the events playbook found (gameday.outbox.backlog), first look
    drain_from: tuple[Deadline, float] | None = None  # (the drain step's deadline, when it began: time.monotonic())
    cache_load: dict | None = None  # the database's load while the object cache was lost (gameday.db_load.rates)
    cache_fill: tuple[Deadline, dict] | None = None  # (the fill step's deadline, the cache's counts when it began)
    media_found: dict | None = None  # the media playbook's first look: the newest backup and the account (gameday.media)
    media_lost: list | None = None  # attachment rows whose file is in no backup: counted and named (the RPO, in files)


@dataclass
class Context:
    target: Target
    deadline: Deadline | None = None  # set by the engine while a step runs
    state: PlaybookState = field(default_factory=PlaybookState)

    @classmethod
    def for_environment(cls, env: Environment) -> "Context":
        return cls(target=for_environment(env))

    @property
    def env(self) -> Environment:
        return self.target.env

    def site_slo(self) -> dict[str, float]:
        """The SLO the site is verified against: the caller's (``state.slo``: the suite's, or a chosen
        targets file's), else ``targets.yaml``'s ``slo`` for this environment, read once."""
        if not self.state.slo:
            self.state.slo = targets_yaml.load().slo(self.env.name)
        return self.state.slo

    def remaining(self, cap: float) -> float:
        """Seconds a call may take: the step's remaining budget, at most ``cap`` (at least 1)."""
        if self.deadline is None:
            return cap
        return max(1.0, min(cap, self.deadline.remaining()))

    def search(self, timeout: float = 10.0) -> SearchAdmin:
        """The target's search admin API, each request bounded by the step's deadline."""
        return self.target.search_admin(timeout=self.remaining(timeout))

    def db_query(self, sql: str, args: tuple = (), *, timeout: float = 3.0) -> list[tuple]:
        """Run one statement as the site's database user, directly (not through toxiproxy)."""
        with self.db_session(timeout=timeout) as query:
            return query(sql, args)

    @contextmanager
    def db_session(self, *, timeout: float = 3.0) -> Iterator[Callable[..., list[tuple]]]:
        """One connection as the site's database user for several statements (:meth:`db_query` opens one
        per statement: a page loop paid a connection, and the credentials' read, per page)::

            with ctx.db_session() as query:
                rows = query(page_sql, (after,))

        ``timeout`` bounds the connect and each statement's read."""
        host, port = self.target.db_address()
        t = self.remaining(timeout)
        try:
            conn = self.target.db_connect(timeout=t)
        except (pymysql.MySQLError, OSError) as err:
            raise DatabaseDown(f"database {host}:{port} refused a connection: {_short(err)}") from None

        def query(sql: str, args: tuple = ()) -> list[tuple]:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, args)
                    return list(cur.fetchall())
            except (pymysql.MySQLError, OSError) as err:
                raise DatabaseDown(f"database {host}:{port} failed {sql.split()[0]}: {_short(err)}") from None

        try:
            yield query
        finally:
            conn.close()

    def article_count(self) -> int:
        """Published content items now (the target's :meth:`~gameday.targets.base.Target.content_schema`)."""
        return int(self.db_query(self.target.content_schema().count_sql())[0][0])


def _short(err: BaseException) -> str:
    if isinstance(err, pymysql.MySQLError) and len(err.args) >= 2:
        return f"({err.args[0]}) {err.args[1]}"
    return f"{type(err).__name__}: {err}"
