"""The WordPress content schema's SQL (gameday/content.py ``WORDPRESS``) run for real: one MariaDB of
its own (``db-1`` of twin ``contentwp``, 127.48.x.y), WordPress's own DDL for the tables the schema
reads (wp_posts, wp_postmeta, wp_terms, wp_term_taxonomy, wp_term_relationships; from
/usr/share/wordpress/wp-admin/includes/schema.php) and the plugin's outbox. A few posts of every kind
a drill must tell apart: published content with a version, a draft, a page, a post without a
version, two categories on one post.

Every statement runs on a database without views, as a site's user with nothing but SELECT, INSERT,
UPDATE and DELETE on those tables (``wp_site``: it cannot make a view), as on a production database
gameday must not change. The tables and their rows are made by the twin's database user (``sps``:
all privileges on its database, as WordPress's own user has), which also plays the editor and the
bad deploy that drops a table; the views of :func:`gameday.content.ensure_views` (the twin's tests'
convenience) are made once, to show they say what the schema's own statements say.

Quick lane (tests/conftest.py NO_TWIN): ``nice -n 5 .venv/bin/pytest -q tests/integration/test_content_schema_wordpress.py``;
about 10 s.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pymysql
import pytest

from gameday.content import ARTICLE_COLUMNS, WORDPRESS, ensure_views
from gameday.sandbox import db_roles, db_swap, lifecycle
from gameday.sandbox.members import db
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin

NAME, NET = "contentwp", 48
SITE_USER = "wp_site"  # SELECT, INSERT, UPDATE, DELETE on WordPress's tables, nothing else
CHARSET = "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci"
# WordPress 6.1's own DDL ($max_index_length = 191), the tables the schema reads.
WORDPRESS_DDL = (
    f"""CREATE TABLE wp_posts (
        ID bigint(20) unsigned NOT NULL auto_increment, post_author bigint(20) unsigned NOT NULL default '0',
        post_date datetime NOT NULL default '0000-00-00 00:00:00', post_date_gmt datetime NOT NULL default '0000-00-00 00:00:00',
        post_content longtext NOT NULL, post_title text NOT NULL, post_excerpt text NOT NULL,
        post_status varchar(20) NOT NULL default 'publish', comment_status varchar(20) NOT NULL default 'open',
        ping_status varchar(20) NOT NULL default 'open', post_password varchar(255) NOT NULL default '',
        post_name varchar(200) NOT NULL default '', to_ping text NOT NULL, pinged text NOT NULL,
        post_modified datetime NOT NULL default '0000-00-00 00:00:00',
        post_modified_gmt datetime NOT NULL default '0000-00-00 00:00:00', post_content_filtered longtext NOT NULL,
        post_parent bigint(20) unsigned NOT NULL default '0', guid varchar(255) NOT NULL default '',
        menu_order int(11) NOT NULL default '0', post_type varchar(20) NOT NULL default 'post',
        post_mime_type varchar(100) NOT NULL default '', comment_count bigint(20) NOT NULL default '0',
        PRIMARY KEY (ID), KEY post_name (post_name(191)), KEY type_status_date (post_type,post_status,post_date,ID),
        KEY post_parent (post_parent), KEY post_author (post_author)) {CHARSET}""",
    f"""CREATE TABLE wp_postmeta (
        meta_id bigint(20) unsigned NOT NULL auto_increment, post_id bigint(20) unsigned NOT NULL default '0',
        meta_key varchar(255) default NULL, meta_value longtext,
        PRIMARY KEY (meta_id), KEY post_id (post_id), KEY meta_key (meta_key(191))) {CHARSET}""",
    f"""CREATE TABLE wp_terms (
        term_id bigint(20) unsigned NOT NULL auto_increment, name varchar(200) NOT NULL default '',
        slug varchar(200) NOT NULL default '', term_group bigint(10) NOT NULL default 0,
        PRIMARY KEY (term_id), KEY slug (slug(191)), KEY name (name(191))) {CHARSET}""",
    f"""CREATE TABLE wp_term_taxonomy (
        term_taxonomy_id bigint(20) unsigned NOT NULL auto_increment, term_id bigint(20) unsigned NOT NULL default 0,
        taxonomy varchar(32) NOT NULL default '', description longtext NOT NULL,
        parent bigint(20) unsigned NOT NULL default 0, count bigint(20) NOT NULL default 0,
        PRIMARY KEY (term_taxonomy_id), UNIQUE KEY term_id_taxonomy (term_id,taxonomy), KEY taxonomy (taxonomy)) {CHARSET}""",
    f"""CREATE TABLE wp_term_relationships (
        object_id bigint(20) unsigned NOT NULL default 0, term_taxonomy_id bigint(20) unsigned NOT NULL default 0,
        term_order int(11) NOT NULL default 0,
        PRIMARY KEY (object_id,term_taxonomy_id), KEY term_taxonomy_id (term_taxonomy_id)) {CHARSET}""",
    # the plugin's outbox (mu-plugins/gameday/outbox.php ensure_outbox)
    """CREATE TABLE wp_gameday_outbox (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, event_id CHAR(36) NOT NULL,
        event_type VARCHAR(32) NOT NULL, post_id BIGINT UNSIGNED NOT NULL, post_type VARCHAR(20) NOT NULL,
        version INT UNSIGNED NOT NULL, payload LONGTEXT NOT NULL,
        created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), sent_at DATETIME(6) NULL,
        UNIQUE KEY event_id (event_id), KEY unsent (sent_at, id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)
EARLY, LATE = dt.datetime(2026, 12, 1, 9, 0, 0), dt.datetime(2026, 12, 5, 9, 0, 0)
CUT = dt.datetime(2026, 12, 3)
# ID: (post_type, post_status, slug, modified (GMT), version meta or None, categories)
POSTS = {
    1: ("post", "publish", "warfarin-dosing", EARLY, 3, ["Cardiology", "Anticoagulants"]),
    2: ("monograph", "publish", "apixaban", EARLY, 1, []),
    3: ("post", "draft", "draft-guidance", EARLY, 2, ["Cardiology"]),
    4: ("page", "publish", "about", EARLY, 1, []),
    5: ("post", "publish", "dabigatran-switching", LATE, 7, ["Cardiology"]),
    6: ("post", "publish", "no-version-yet", EARLY, None, []),
}


WP_TABLES = ("wp_posts", "wp_postmeta", "wp_terms", "wp_term_taxonomy", "wp_term_relationships", "wp_gameday_outbox")
ROW_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE"}


def q(connect, sql: str, args: tuple = ()) -> list[tuple]:
    """``sql`` on a fresh connection from ``connect()`` (the fixture :func:`owner` or :func:`site`)."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def root(twin: Twin) -> pymysql.connections.Connection:
    return pymysql.connect(unix_socket=str(db.socket_path(twin)), user="root", autocommit=True, connect_timeout=5)


@pytest.fixture(scope="module")
def twin():
    """db-1 alone, on its own network."""
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=0.5, backoff_cap=2.0,
                        workloads=[db.workload(twin)])

    def prepare():
        twin.paths.ensure()
        twin.db_password()
        twin.db_replication_password()
        db_roles.ensure(twin)
        db.prepare(twin, replica=False)

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=120)
    try:
        yield twin
    finally:
        lifecycle.down(twin.paths, wipe=True)


@pytest.fixture(scope="module")
def owner(twin):
    """``owner(autocommit=True)``: a connection as the twin's database user (all privileges on its
    database, as WordPress's own user has)."""
    def connect(*, autocommit: bool = True) -> pymysql.connections.Connection:
        return pymysql.connect(host=db.address(twin), port=3306, user=DB_USER, password=twin.db_password(),
                               database=DB_NAME, connect_timeout=5, read_timeout=30, autocommit=autocommit)
    return connect


@pytest.fixture(scope="module")
def site(twin):
    """``site(autocommit=True)``: a connection as :data:`SITE_USER` (its password made here, never
    written down), whose only privileges are :data:`ROW_PRIVILEGES` on :data:`WP_TABLES` (granted by
    :func:`posts`)."""
    password = secrets.token_urlsafe(24)
    with root(twin) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE OR REPLACE USER '{SITE_USER}'@'127.%%' IDENTIFIED BY %s", (password,))

    def connect(*, autocommit: bool = True) -> pymysql.connections.Connection:
        return pymysql.connect(host=db.address(twin), port=3306, user=SITE_USER, password=password,
                               database=DB_NAME, connect_timeout=5, read_timeout=30, autocommit=autocommit)

    yield connect
    with root(twin) as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{SITE_USER}'@'127.%'")


@pytest.fixture
def posts(twin, owner, site):
    """WordPress's tables with :data:`POSTS`, made by the twin's database user, and no view; the site's
    user granted rows on them; all dropped afterwards."""
    with owner() as conn, conn.cursor() as cur:
        for ddl in WORDPRESS_DDL:
            cur.execute(ddl)
        terms = sorted({c for *_rest, cats in POSTS.values() for c in cats})
        for term_id, name in enumerate(terms, 1):
            cur.execute("INSERT INTO wp_terms (term_id, name, slug) VALUES (%s, %s, %s)", (term_id, name, name.lower()))
            cur.execute("INSERT INTO wp_term_taxonomy (term_taxonomy_id, term_id, taxonomy, description) "
                        "VALUES (%s, %s, 'category', '')", (term_id, term_id))
        for pid, (ptype, status, slug, modified, version, cats) in POSTS.items():
            cur.execute("INSERT INTO wp_posts (ID, post_content, post_title, post_excerpt, post_status, post_name, to_ping,"
                        " pinged, post_modified, post_modified_gmt, post_content_filtered, post_type) VALUES "
                        "(%s, %s, %s, %s, %s, %s, '', '', %s, %s, '', %s)",
                        (pid, f"<p>Body of {slug}</p>", slug.title(), f"About {slug}", status, slug, modified, modified,
                         ptype))
            if version is not None:
                cur.execute("INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES (%s, '_gameday_version', %s)",
                            (pid, str(version)))
            cur.execute("INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES (%s, '_gameday_id', %s)",
                        (pid, str(pid)))
            for name in cats:
                cur.execute("INSERT INTO wp_term_relationships (object_id, term_taxonomy_id) VALUES (%s, %s)",
                            (pid, terms.index(name) + 1))
        cur.execute("INSERT INTO wp_gameday_outbox (event_id, event_type, post_id, post_type, version, payload, sent_at) "
                    "VALUES (UUID(), 'article.published', 1, 'post', 3, '{}', UTC_TIMESTAMP(6)), "
                    "(UUID(), 'article.published', 5, 'post', 7, '{}', NULL)")
    with root(twin) as conn, conn.cursor() as cur:
        for table in WP_TABLES:
            cur.execute(f"GRANT {', '.join(sorted(ROW_PRIVILEGES))} ON {DB_NAME}.{table} TO '{SITE_USER}'@'127.%'")
    yield
    with owner() as conn, conn.cursor() as cur:
        cur.execute("DROP VIEW IF EXISTS articles, gameday_content_versions")
        cur.execute(f"DROP TABLE IF EXISTS {', '.join(WP_TABLES)}")
    with root(twin) as conn, conn.cursor() as cur:
        for table in WP_TABLES:
            cur.execute(f"REVOKE ALL PRIVILEGES ON {DB_NAME}.{table} FROM '{SITE_USER}'@'127.%'")


def test_the_sites_user_reads_and_writes_rows_only_and_the_database_has_no_view(twin, site, posts):
    """The setting of every test below: no view, and a user that could not make one."""
    grants = [g for (g,) in q(site, "SHOW GRANTS")]
    granted = {table: set(privs.split(", ")) for privs, table in
               (re.match(r"GRANT (.+) ON `?\w+`?\.`?(\w+)`? TO ", g).groups() for g in grants if " ON *.* " not in g)}
    assert granted == {table: ROW_PRIVILEGES for table in WP_TABLES}, grants
    assert all(g.startswith("GRANT USAGE ON *.* ") for g in grants if " ON *.* " in g), grants
    assert q(site, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                   "AND TABLE_TYPE = 'VIEW'") == [(0,)]
    with site() as conn, conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as err:
        ensure_views(cur)
    assert err.value.args[0] == 1142, err.value  # ER_TABLEACCESS_DENIED_ERROR: CREATE VIEW command denied


def test_the_schema_reads_published_content_with_a_version(twin, site, posts):
    assert q(site, WORDPRESS.count_sql()) == [(3,)]
    assert set(q(site, WORDPRESS.versions_sql())) == {(1, 3), (2, 1), (5, 7)}
    assert set(q(site, WORDPRESS.versions_before_sql(), (CUT,))) == {(1, 3), (2, 1)}
    assert q(site, WORDPRESS.base_count_sql()) == [(6,)] and q(site, WORDPRESS.base_stats_sql()) == [(6, 1, 6)]
    assert q(site, WORDPRESS.base_stats_sql(between=True), (2, 4)) == [(3, 2, 4)]
    assert q(site, WORDPRESS.outbox_unsent_sql()) == [(1,)]
    with site() as conn, conn.cursor() as cur:  # UTC as post_modified_gmt, whatever the session's zone
        cur.execute("SET time_zone = '+05:00'")
        cur.execute(f"SELECT {WORDPRESS.now_sql}")
        (now,), = cur.fetchall()
    assert abs((now - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).total_seconds()) < 60


def test_backup_figures_of_wp_posts_carry_its_id_range(twin, site, posts):
    """A backup manifest's figures (db_swap.table_stats) find wp_posts' ``ID`` column: with no id range
    the db playbook's verify-db-content would pass without comparing anything (R6)."""
    with site() as conn:
        assert db_swap.table_stats(conn, DB_NAME, WORDPRESS.base_table) == {"rows": 6, "min_id": 1, "max_id": 6}


def test_pages_carry_the_indexers_columns_and_the_twins_views_say_the_same(owner, site, posts):
    first = q(site, WORDPRESS.page_sql(2), (0,))
    assert [dict(zip(ARTICLE_COLUMNS, row, strict=True)) for row in first] == [
        {"id": 1, "kind": "guidance", "slug": "warfarin-dosing", "title": "Warfarin-Dosing", "category": "Anticoagulants",
         "summary": "About warfarin-dosing", "body": "<p>Body of warfarin-dosing</p>", "version": 3, "updated_at": EARLY},
        {"id": 2, "kind": "monograph", "slug": "apixaban", "title": "Apixaban", "category": None,
         "summary": "About apixaban", "body": "<p>Body of apixaban</p>", "version": 1, "updated_at": EARLY}]
    rest = q(site, WORDPRESS.page_sql(2), (2,))
    assert [row[0] for row in rest] == [5] and q(site, WORDPRESS.page_sql(2), (5,)) == []
    with owner() as conn, conn.cursor() as cur:  # the twin's tests' views (its bootstrap makes them)
        ensure_views(cur)
    assert q(owner, f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles ORDER BY id") == first + rest
    assert set(q(owner, "SELECT id, version FROM gameday_content_versions")) == set(q(site, WORDPRESS.versions_sql()))


def test_the_range_lock_holds_the_posts_rows_until_the_drill_deletes_only_content(owner, site, posts):
    drill = site(autocommit=False)
    try:
        with drill.cursor() as cur:
            cur.execute(WORDPRESS.lock_range_sql(1, 4))
            assert set(cur.fetchall()) == {(1, 3), (2, 1)}
            with owner() as editor, editor.cursor() as cur2:  # an editor saving post 1 waits on the drill's lock
                cur2.execute("SET SESSION innodb_lock_wait_timeout = 1")
                with pytest.raises(pymysql.err.OperationalError) as err:
                    cur2.execute("UPDATE wp_posts SET post_title = 'edited' WHERE ID = 1")
                assert err.value.args[0] == 1205  # ER_LOCK_WAIT_TIMEOUT
                cur2.execute("UPDATE wp_posts SET post_title = 'edited' WHERE ID = 6")  # past the range: no wait
                assert cur2.rowcount == 1
            (_, before), = q(site, WORDPRESS.checksum_sql())
            cur.execute(WORDPRESS.destroy_sql("delete", 1, 4))
            assert cur.rowcount == 3  # posts 1 and 2, and the draft 3: content types in the range
        drill.commit()
    finally:
        drill.close()
    assert [r[0] for r in q(site, "SELECT ID FROM wp_posts ORDER BY ID")] == [4, 5, 6]  # the page and the rest stay
    assert set(q(site, WORDPRESS.versions_sql())) == {(5, 7)}
    (_, after), = q(site, WORDPRESS.checksum_sql())
    assert before is not None and after is not None and after != before


def test_drop_takes_the_base_table_then_reads_fail(owner, site, posts):
    """The drill's ``drop`` is a bad deploy's: it needs DROP, which the site's user lacks (the twin's
    user has it)."""
    with pytest.raises(pymysql.err.OperationalError) as denied:
        q(site, WORDPRESS.destroy_sql("drop"))
    assert denied.value.args[0] == 1142  # ER_TABLEACCESS_DENIED_ERROR
    q(owner, WORDPRESS.destroy_sql("drop"))
    assert q(site, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
             (DB_NAME, WORDPRESS.base_table)) == [(0,)]
    with pytest.raises(pymysql.err.MySQLError) as err:
        q(site, WORDPRESS.count_sql())
    assert err.value.args[0] == 1146, err.value  # ER_NO_SUCH_TABLE
