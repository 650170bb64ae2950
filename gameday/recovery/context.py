"""What a playbook step works with: the target, its platform controls and admin endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pymysql

from ..deadline import Deadline
from ..errors import GamedayError
from ..search_admin import SearchAdmin
from ..targets import for_environment
from ..targets.base import Target
from ..targets.environment import Environment
from .platform import SandboxPlatform, platform_for


class DatabaseDown(GamedayError):
    pass


@dataclass
class Context:
    env: Environment
    target: Target
    platform: SandboxPlatform
    deadline: Deadline | None = None  # set by the engine while a step runs
    state: dict[str, Any] = field(default_factory=dict)  # shared between the steps of one run

    @classmethod
    def for_environment(cls, env: Environment) -> "Context":
        target = for_environment(env)
        return cls(env=env, target=target, platform=platform_for(target))

    def remaining(self, cap: float) -> float:
        """Seconds a call may take: the step's remaining budget, at most ``cap`` (at least 1)."""
        if self.deadline is None:
            return cap
        return max(1.0, min(cap, self.deadline.remaining()))

    def site_url(self) -> str:
        return self.target.site_url()

    def search_urls(self) -> list[str]:
        """The configured URL's scheme (https on ECK) for every endpoint the platform knows."""
        scheme = urlparse(self.target.search_urls()[0]).scheme or "http"
        return [f"{scheme}://{hp}" for hp in self.platform.endpoints("search", "http")]

    def search(self, timeout: float = 10.0) -> SearchAdmin:
        return SearchAdmin(self.search_urls(), timeout=self.remaining(timeout), auth=self.target.search_auth())

    def kafka_bootstrap(self) -> str:
        return ",".join(self.platform.endpoints("kafka", "broker"))

    def db_address(self) -> tuple[str, int]:
        host, port = self.platform.endpoints("db", "mysql")[0].rsplit(":", 1)
        return host, int(port)

    def db_query(self, sql: str, args: tuple = (), *, timeout: float = 3.0) -> list[tuple]:
        """Run one statement as the site's database user, directly (not through toxiproxy)."""
        host, port = self.db_address()
        user, password, database = self.target.db_credentials()
        t = self.remaining(timeout)
        try:
            conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                                   connect_timeout=t, read_timeout=t, write_timeout=t, autocommit=True)
        except (pymysql.MySQLError, OSError) as err:
            raise DatabaseDown(f"database {host}:{port} refused a connection: {_short(err)}") from None
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except (pymysql.MySQLError, OSError) as err:
            raise DatabaseDown(f"database {host}:{port} failed {sql.split()[0]}: {_short(err)}") from None
        finally:
            conn.close()

    def article_count(self) -> int:
        return int(self.db_query("SELECT COUNT(*) FROM articles")[0][0])


def _short(err: BaseException) -> str:
    if isinstance(err, pymysql.MySQLError) and len(err.args) >= 2:
        return f"({err.args[0]}) {err.args[1]}"
    return f"{type(err).__name__}: {err}"
