"""The twin's bootstrap job: topics, snapshot repository, schema, seed content and search index.

Run by the supervisor as the ``bootstrap-1`` job once db, Kafka and search are ready
(``python -m gameday.sandbox.bootstrap``, configured by the same environment as the site). Every step
is idempotent, so the job can be retried and re-run on each ``up``. Exits non-zero with one line
naming the failed step.

On a twin whose web tier is WordPress (``sandbox up --web wordpress``; ``GAMEDAY_SEED_CONTENT=wordpress``,
set by :mod:`.members.site`) the content is WordPress's: the job ``wp-bootstrap-1`` has installed and
seeded it, so this job makes no table and inserts nothing; it creates the search index and fills it
from WordPress's posts (:func:`gameday.sandbox.wordpress.seed.index_content`, the documents the
plugin's events make). In a standby region (``GAMEDAY_SEED_FROM_REPLICA=1`` too) the database is a
read-only replica and there is no ``wp-bootstrap``: the job first waits until replication has brought
the active region's seeded content (:func:`replicated_wordpress_content`), then indexes it.
"""

from __future__ import annotations

import os
import sys
import time

import pymysql
import requests
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ..deadline import wait_until
from ..errors import GamedayError
from ..site import db, seed
from ..site.config import SiteConfig
from ..site.search import SearchClient
from .twin import CANARY_TOPIC, SNAPSHOT_REPOSITORY

TOPICS = {
    # name: (partitions, replication factor, config)
    "content-events": (3, 3, {"min.insync.replicas": "2", "retention.ms": str(7 * 24 * 3600 * 1000)}),
    CANARY_TOPIC: (3, 3, {"min.insync.replicas": "2"}),
    # the indexer's dead letters (gameday.site.dead_letter): events it could not process, kept 30 days
    "content-events.dlq": (3, 3, {"min.insync.replicas": "2", "retention.ms": str(30 * 24 * 3600 * 1000)}),
}


def create_topics(bootstrap: str, content_topic: str, timeout: float = 60.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000})
    wanted = {name.replace("content-events", content_topic, 1) if name.startswith("content-events") else name: spec
              for name, spec in TOPICS.items()}
    deadline = time.monotonic() + timeout
    existing = set(admin.list_topics(timeout=10).topics)
    new = [NewTopic(name, num_partitions=p, replication_factor=rf, config=cfg)
           for name, (p, rf, cfg) in wanted.items() if name not in existing]
    for name, fut in (admin.create_topics(new, request_timeout=15) if new else {}).items():
        try:
            fut.result(timeout=max(1.0, deadline - time.monotonic()))
        except KafkaException as err:
            if "TOPIC_ALREADY_EXISTS" not in str(err):
                raise
        print(f"topic {name}: created", flush=True)
    # Wait until every partition has a leader and a full ISR: the twin starts healthy.
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=10)
        known = [md.topics.get(name) for name in wanted]  # a broker's metadata may lag a topic just created
        partitions = [p for topic in known if topic is not None for p in topic.partitions.values()]
        if None not in known and partitions and all(p.leader >= 0 and len(p.isrs) == 3 for p in partitions):
            return
        time.sleep(0.5)
    raise TimeoutError("Kafka topics did not reach a full ISR in time")


def register_snapshot_repository(config: SiteConfig, location: str) -> None:
    """Register the filesystem snapshot repository at ``location`` (inside the nodes' ``path.repo``),
    through the first node that answers, with the site's search credentials and CA."""
    body = {"type": "fs", "settings": {"location": location, "compress": True}}
    last: Exception | None = None
    for url in config.search_urls:
        try:
            r = requests.put(f"{url}/_snapshot/{SNAPSHOT_REPOSITORY}", json=body, timeout=(1, 30),
                             auth=config.search_auth, verify=config.search_verify)
            r.raise_for_status()
            print(f"snapshot repository {SNAPSHOT_REPOSITORY}: {location}", flush=True)
            return
        except requests.RequestException as err:
            last = err
    raise RuntimeError(f"registering the snapshot repository failed: {last}")


SECURITY_INDEX = ".opendistro_security"
# One replica, as the content index has, instead of the plugin's auto-expanded 0-all: with 0-all, a node
# that rejoins gets a new replica to recover and the cluster turns yellow for a moment after a node
# fault has already healed; a lost node's replica is re-allocated after 5 s, as content's is.
SECURITY_INDEX_SETTINGS = {"index": {"auto_expand_replicas": "false", "number_of_replicas": 1,
                                     "unassigned.node_left.delayed_timeout": "5s"}}


def pin_security_index_replicas(config: SiteConfig, cert: str, key: str) -> None:
    """Give the security plugin's own index :data:`SECURITY_INDEX_SETTINGS`. Only the plugin's admin
    (a client certificate, ``plugins.security.authcz.admin_dn``) may change that index."""
    last: Exception | None = None
    for url in config.search_urls:
        try:
            r = requests.put(f"{url}/{SECURITY_INDEX}/_settings", json=SECURITY_INDEX_SETTINGS, timeout=(1, 30),
                             cert=(cert, key), verify=config.search_verify)
            r.raise_for_status()
            print(f"{SECURITY_INDEX}: one replica, not auto-expanded", flush=True)
            return
        except requests.RequestException as err:
            last = err
    raise RuntimeError(f"pinning the security index's replicas failed: {last}")


CONTENT_ENV = "GAMEDAY_SEED_CONTENT"  # "wordpress": index WordPress's content; unset: the Python site's seed


def seeds_wordpress() -> bool:
    """True when the environment says the twin's content is WordPress's (``GAMEDAY_SEED_CONTENT=wordpress``)."""
    return os.environ.get(CONTENT_ENV, "").strip() == "wordpress"




def replicated_wordpress_content(database: db.Database, *, timeout: float = seed.REPLICA_WAIT_S) -> int:
    """How many published WordPress items a standby's replica holds, once the active region's seed has
    arrived whole; DeadlineExceeded after ``timeout`` seconds. The active region's ``wp-bootstrap``
    commits its items in batches and makes the content views (:func:`gameday.content.ensure_views`)
    only after the last one, so on a replica, which applies the binary log in order, the view
    :data:`gameday.content.VERSIONS_VIEW` exists only once every seeded item does (its tables, too,
    arrive by replication: until then there is nothing to count)."""
    from ..content import VERSIONS_VIEW, WORDPRESS

    def count(conn) -> int:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"
                        " AND TABLE_NAME = %s", (VERSIONS_VIEW,))
            if not int(cur.fetchone()[0]):
                return 0
            cur.execute(WORDPRESS.count_sql())
            return int(cur.fetchone()[0])

    def arrived() -> int:
        try:
            return database.read(count)
        except db.DatabaseUnavailable:
            return 0
    return wait_until(arrived, timeout=timeout, interval=1.0,
                      what=f"the active region's WordPress content to arrive by replication in {database!r}",
                      hint="is the standby's database replicating from the active region? "
                           "(gameday.sandbox.db_region.lag)")


def index_wordpress(config: SiteConfig, *, replica: bool = False) -> dict:
    """Create the search index if missing and fill it from WordPress's published content (in the database
    ``config`` names, through :data:`gameday.content.WORDPRESS`); ``{"index_created", "indexed", "stale"}``
    (and ``"replicated"``: the items found, with ``replica``: the database is a standby's read-only
    replica, waited for first, :func:`replicated_wordpress_content`)."""
    from .wordpress.seed import index_content
    database = db.Database(config, connect_timeout=5, read_timeout=30, write_timeout=30)
    replicated = {"replicated": replicated_wordpress_content(database)} if replica else {}
    search = SearchClient(config.search_urls, index=config.content_index, read_timeout=30, auth=config.search_auth,
                          verify=config.search_verify)
    created = search.create_index()

    def query(sql: str, args: tuple) -> list[tuple]:
        def run(conn):
            with conn.cursor(pymysql.cursors.Cursor) as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        return database.read(run)

    try:
        counts = index_content(query, search)
    finally:
        database.close()
    return {"index_created": created, **replicated, **counts}


def main() -> int:
    config = SiteConfig.from_env()
    step = "config"
    try:
        step = "kafka topics"
        create_topics(",".join(config.kafka_bootstrap), config.content_topic)
        step = "snapshot repository"
        register_snapshot_repository(config, os.environ["GAMEDAY_SNAPSHOT_DIR"])
        if os.environ.get("GAMEDAY_SEARCH_ADMIN_CERT"):
            step = "security index replicas"
            pin_security_index_replicas(config, os.environ["GAMEDAY_SEARCH_ADMIN_CERT"],
                                        os.environ["GAMEDAY_SEARCH_ADMIN_KEY"])
        step = "schema, seed content and search index"
        if seeds_wordpress():
            step = "search index from WordPress's content"
            if seed.from_replica():
                step = "search index from the replicated WordPress content (a standby region: the database is read-only)"
            print(f"seed: {index_wordpress(config, replica=seed.from_replica())}", flush=True)
        else:
            if seed.from_replica():
                step = "search index from the replicated articles (a standby region: the database is read-only)"
            print(f"seed: {seed.seed(config, replica=seed.from_replica())}", flush=True)
    except (GamedayError, KafkaException, requests.RequestException, RuntimeError, TimeoutError, OSError) as err:
        print(f"bootstrap failed at {step}: {err}", file=sys.stderr, flush=True)
        return 1
    print("bootstrap complete", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
