"""Site configuration, read once from environment variables.

Every site process (web replica, indexer, seed) calls :meth:`SiteConfig.from_env` at start::

    cfg = SiteConfig.from_env()          # raises ValueError naming the missing variable
    db = Database(cfg)

Variables:

* ``GAMEDAY_DB_ADDR`` (required, ``host:port``), ``GAMEDAY_DB_NAME`` (default ``sps``),
  ``GAMEDAY_DB_USER`` (default ``sps``), ``GAMEDAY_DB_PASSWORD`` (default empty; a secret that is
  never logged, never part of an error message and hidden from ``repr``).
* ``GAMEDAY_SEARCH_URLS`` (required): comma-separated OpenSearch base URLs.
* ``GAMEDAY_SEARCH_USER`` and ``GAMEDAY_SEARCH_PASSWORD`` (optional): HTTP basic auth for search
  (ECK's ``elastic`` user); the password is a secret like the database's. ``GAMEDAY_SEARCH_CA``
  (optional): a CA file to verify the search nodes' certificates with (default: the system's roots).
* ``GAMEDAY_KAFKA_BOOTSTRAP`` (required): comma-separated ``host:port`` brokers.
* ``GAMEDAY_CONTENT_TOPIC`` (default ``content-events``), ``GAMEDAY_CONTENT_INDEX`` (default
  ``content``).
* ``GAMEDAY_MEMBER`` (optional): name put in the ``X-Served-By`` header (default: hostname).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["SiteConfig", "parse_addr"]


def parse_addr(value: str, *, name: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` accepted); ``ValueError`` naming ``name`` if malformed."""
    value = value.strip()
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class SiteConfig:
    """Immutable settings of one site process. Build it with :meth:`from_env`."""

    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str = field(repr=False)
    search_urls: tuple[str, ...]
    kafka_bootstrap: tuple[str, ...]
    content_topic: str = "content-events"
    content_index: str = "content"
    member: str = ""
    search_user: str = ""
    search_password: str = field(default="", repr=False)
    search_ca: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SiteConfig":
        """Read the ``GAMEDAY_*`` variables (from ``environ``, default ``os.environ``)."""
        env = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ValueError(f"environment variable {name} is not set (required by the site)")
            return value

        db_host, db_port = parse_addr(required("GAMEDAY_DB_ADDR"), name="GAMEDAY_DB_ADDR")
        search_urls = tuple(u.rstrip("/") for u in _split_list(required("GAMEDAY_SEARCH_URLS")))
        for url in search_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"GAMEDAY_SEARCH_URLS entries must start with http:// or https://, got {url!r}")
        kafka = _split_list(required("GAMEDAY_KAFKA_BOOTSTRAP"))
        for broker in kafka:
            parse_addr(broker, name="GAMEDAY_KAFKA_BOOTSTRAP")
        if not search_urls:
            raise ValueError("environment variable GAMEDAY_SEARCH_URLS lists no URL")
        if not kafka:
            raise ValueError("environment variable GAMEDAY_KAFKA_BOOTSTRAP lists no broker")
        search_user = env.get("GAMEDAY_SEARCH_USER", "").strip()
        if search_user and not env.get("GAMEDAY_SEARCH_PASSWORD"):
            raise ValueError("GAMEDAY_SEARCH_USER is set but GAMEDAY_SEARCH_PASSWORD is not")
        search_ca = env.get("GAMEDAY_SEARCH_CA", "").strip()
        if search_ca and not os.path.isfile(search_ca):
            raise ValueError(f"GAMEDAY_SEARCH_CA names no file: {search_ca!r}")
        return cls(
            db_host=db_host,
            db_port=db_port,
            db_name=env.get("GAMEDAY_DB_NAME", "").strip() or "sps",
            db_user=env.get("GAMEDAY_DB_USER", "").strip() or "sps",
            db_password=env.get("GAMEDAY_DB_PASSWORD", ""),
            search_urls=search_urls,
            kafka_bootstrap=kafka,
            content_topic=env.get("GAMEDAY_CONTENT_TOPIC", "").strip() or "content-events",
            content_index=env.get("GAMEDAY_CONTENT_INDEX", "").strip() or "content",
            member=env.get("GAMEDAY_MEMBER", "").strip() or socket.gethostname(),
            search_user=search_user,
            search_password=env.get("GAMEDAY_SEARCH_PASSWORD", "") if search_user else "",
            search_ca=search_ca,
        )

    @property
    def search_auth(self) -> tuple[str, str] | None:
        """(user, password) for search, or None when it asks for none: ``SearchClient(auth=...)``."""
        return (self.search_user, self.search_password) if self.search_user else None

    @property
    def search_verify(self) -> str | bool:
        """What verifies the search nodes' certificates: ``SearchClient(verify=...)``."""
        return self.search_ca or True

    @property
    def db_addr(self) -> str:
        return f"{self.db_host}:{self.db_port}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        """The comma-separated form librdkafka's ``bootstrap.servers`` wants."""
        return ",".join(self.kafka_bootstrap)
