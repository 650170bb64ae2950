"""Load the catalogue into MariaDB and OpenSearch; safe to run again at any time.

Run it once the database and search are up (the sandbox does this after starting them)::

    GAMEDAY_DB_ADDR=... GAMEDAY_SEARCH_URLS=... GAMEDAY_KAFKA_BOOTSTRAP=... python -m gameday.site.seed

Steps: create the tables; insert the 2,000 generated rows only if ``articles`` is empty; create
the OpenSearch index if missing; bulk-index every row (idempotent thanks to external versioning:
documents already at that version or newer are left alone). Prints one summary line and exits 0,
or prints one ``seed failed: ...`` line to stderr and exits 1. Takes a few seconds.

On a read-only replica (a warm standby region's database, ``GAMEDAY_SEED_FROM_REPLICA=1``, set by the
twin's bootstrap job there) it writes nothing to the database: it waits (at most
:data:`REPLICA_WAIT_S`) until replication has brought the articles from the active region (the
active region seeds them in one transaction, so they arrive together), then creates and fills the
search index from them.
"""

from __future__ import annotations

import os
import sys
import time

from ..deadline import wait_until
from ..errors import DeadlineExceeded
from . import catalog, db
from .config import SiteConfig
from .search import SearchClient, SearchError, SearchUnavailable

BATCH = 500
REPLICA_ENV = "GAMEDAY_SEED_FROM_REPLICA"
REPLICA_WAIT_S = 180.0


def from_replica() -> bool:
    """True when the environment says the database is a read-only replica (``GAMEDAY_SEED_FROM_REPLICA=1``)."""
    return os.environ.get(REPLICA_ENV, "").strip() == "1"


def replicated_articles(database: db.Database, *, timeout: float = REPLICA_WAIT_S) -> int:
    """How many articles the replica holds, once there are any (the table may not exist yet: it
    arrives by replication too); DeadlineExceeded after ``timeout`` seconds without one."""
    def count() -> int:
        try:
            return database.read(db.count_articles)
        except db.DatabaseUnavailable:
            return 0
    return wait_until(count, timeout=timeout, interval=1.0, what=f"replicated articles in the database at "
                      f"{database!r}", hint="is the standby's database replicating from the active region? "
                      "(gameday.sandbox.db_region.lag)")


def seed(cfg: SiteConfig, *, n: int = catalog.DEFAULT_N, replica: bool = False,
         replica_wait: float = REPLICA_WAIT_S) -> dict:
    """Seed database and index; returns ``{"existing", "inserted", "indexed", "stale", "index_created"}``.
    ``replica``: the database is a read-only replica: nothing is written to it (see the module)."""
    database = db.Database(cfg, read_timeout=30, write_timeout=30)
    if replica:
        existing = replicated_articles(database, timeout=replica_wait)
    else:
        database.write(db.ensure_schema)
        existing = database.read(db.count_articles)
    inserted = 0
    if existing == 0 and not replica:
        rows = list(catalog.generate(n))
        inserted = database.write(lambda conn: db.insert_articles(conn, rows, batch=BATCH))
    search = SearchClient(cfg.search_urls, index=cfg.content_index, read_timeout=30, auth=cfg.search_auth,
                          verify=cfg.search_verify)
    created = search.create_index()
    indexed = stale = 0
    page = database.read(lambda conn: db.all_articles(conn, after_id=0, limit=BATCH))
    while page:
        result = search.bulk_index(page)
        indexed += result["indexed"]
        stale += result["stale"]
        after = page[-1]["id"]
        page = database.read(lambda conn, after=after: db.all_articles(conn, after_id=after, limit=BATCH))
    search.refresh()
    database.close()
    return {"existing": existing, "inserted": inserted, "index_created": created, "indexed": indexed, "stale": stale}


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    try:
        cfg = SiteConfig.from_env()
        result = seed(cfg, replica=from_replica())
    except ValueError as err:
        print(f"seed failed: {err}", file=sys.stderr)
        return 2
    except (db.DatabaseUnavailable, SearchUnavailable, SearchError, DeadlineExceeded) as err:
        print(f"seed failed: {err}", file=sys.stderr)
        return 1
    print(
        f"seed ok in {time.monotonic() - started:.1f}s: {result['existing']} rows existed,"
        f" {result['inserted']} inserted; index {cfg.content_index}"
        f" {'created' if result['index_created'] else 'existed'}; {result['indexed']} documents indexed,"
        f" {result['stale']} already current"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
