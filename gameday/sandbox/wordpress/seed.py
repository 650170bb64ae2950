"""The WordPress bootstrap job: install WordPress into the twin's database, seed the catalogue and make
the content views.

Run by the supervisor as the job ``wp-bootstrap-1`` (:func:`gameday.sandbox.members.wordpress.bootstrap`)::

    GAMEDAY_WP_CONFIG=gameday-<id> GAMEDAY_DB_PASSWORD=... GAMEDAY_WP_ADMIN_PASSWORD=... \\
        python -m gameday.sandbox.wordpress.seed [--n 2000]

It pipes :func:`gameday.site.catalog.generate` (the same deterministic content as the sample site) to
``cli/bootstrap.php``: guidance articles become posts, monographs the ``monograph`` post type, each in
its category, each with its catalogue id as its post ID (the script fails, naming the ids, when
WordPress gave one another id). Then, in the database the twin's WordPress configuration names, it
makes the content views of :data:`gameday.content.WORDPRESS` (:func:`gameday.content.ensure_views`:
``gameday_content_versions`` and ``articles``; a convenience for the twin's tests, which gameday's own
statements never read), after moving a BASE TABLE ``articles`` left by the Python site (a twin from
before WordPress) to ``articles_python_site``, which it says. Safe to run again (nothing installed
twice, no item inserted twice, the views replaced). Prints one summary line; exits 1
with the reason on failure.

The search index is filled from WordPress's content through the same schema by :func:`index_content`
(documents equal to those the plugin's content events make), not from the catalogue::

    index_content(lambda sql, args: rows_of(sql, args), SearchClient(urls, index="content"))
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable

import pymysql

from ... import content
from ...errors import GamedayError
from ...site import catalog
from .php import run_script

N_ENV = "GAMEDAY_WP_SEED_N"
PASSWORD_ENV = "GAMEDAY_DB_PASSWORD"
BATCH = 500  # documents per page of index_content (as gameday.site.seed)
DB_TIMEOUT_S = 30


def seed(env: dict[str, str], n: int = catalog.DEFAULT_N, *, timeout: float = 600.0) -> dict:
    """Install, seed and make the content views; ``{"installed", "categories", "inserted", "existing",
    "publisher", "renamed_articles_table", "content"}`` (``content``: published items with a version,
    through the views)."""
    lines = "".join(json.dumps(row) + "\n" for row in catalog.generate(n))
    out = run_script("bootstrap.php", env, stdin=lines, timeout=timeout)
    summary = json.loads(out.strip().splitlines()[-1])
    database = summary.pop("database")
    conn = _connect(database, env.get(PASSWORD_ENV, ""))
    try:
        with conn.cursor() as cur:
            summary["renamed_articles_table"] = content.set_aside_python_site_articles(cur)
            content.ensure_views(cur)
            cur.execute(content.WORDPRESS.count_sql())
            summary["content"] = int(cur.fetchone()[0])
    except pymysql.MySQLError as err:
        raise GamedayError(f"making the content views in database {database['name']} at {database['host']} "
                           f"failed: {err}") from None
    finally:
        conn.close()
    return summary


def _connect(database: dict, password: str) -> pymysql.connections.Connection:
    """The database WordPress's configuration names (``DB_HOST`` as WordPress reads it: ``host`` or
    ``host:port``), as its user."""
    host, _, port = str(database["host"]).rpartition(":")
    if not port.isdigit():
        host, port = str(database["host"]), "3306"
    try:
        return pymysql.connect(host=host, port=int(port), user=database["user"], password=password,
                               database=database["name"], connect_timeout=10, read_timeout=DB_TIMEOUT_S,
                               write_timeout=DB_TIMEOUT_S, autocommit=True, charset="utf8mb4")
    except pymysql.MySQLError as err:
        raise GamedayError(f"cannot reach WordPress's database {database['name']} at {database['host']} "
                           f"as {database['user']}: {err}") from None


def index_content(query: Callable[[str, tuple], list[tuple]], search, *, batch: int = BATCH) -> dict:
    """Index WordPress's published content into ``search`` (a :class:`gameday.site.search.SearchClient`,
    its index made already) in pages of ``batch`` by post id, read through the content schema
    (:meth:`gameday.content.ContentSchema.page_sql` of :data:`~gameday.content.WORDPRESS`; ``query(sql,
    args)`` returns the rows, e.g. over the site's database connection). Each document is the one the
    plugin's content event of the post's current version makes (:meth:`~gameday.content.ContentSchema.article`:
    the body without markup, the first category by name or none), with its version as the external
    version, so running it again, or beside the indexer, changes nothing that is current. Refreshes the
    index at the end; ``{"indexed", "stale"}``."""
    schema = content.WORDPRESS
    counts = {"indexed": 0, "stale": 0}
    after = 0
    for _ in range(10**6):  # bounded: each page moves past its last id
        rows = query(schema.page_sql(batch), (after,))
        if not rows:
            break
        result = search.bulk_index([schema.article(row) for row in rows])
        counts["indexed"] += result["indexed"]
        counts["stale"] += result["stale"]
        after = int(rows[-1][0])
    search.refresh()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get(N_ENV, catalog.DEFAULT_N)))
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = seed(dict(os.environ), args.n)
    except (GamedayError, ValueError) as err:
        print(f"wordpress seed failed: {err}", file=sys.stderr)
        return 1
    if result["renamed_articles_table"]:
        print(f"moved the table articles (the Python site's, from before WordPress) to "
              f"{content.PYTHON_SITE_ARTICLES}: the content view articles takes its name")
    print(f"wordpress seed ok in {time.monotonic() - started:.1f}s: installed {result['installed']}, "
          f"{result['inserted']} items inserted, {result['existing']} existed, {result['categories']} categories; "
          f"content views made: {result['content']} published items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
