"""Where the site's content lives in its database, and the SQL each reader of it sends: one
:class:`ContentSchema` per web tier, named by the target (``Target.content_schema()``), so no other
module names a content table::

    schema = ctx.target.content_schema()          # ARTICLES_TABLE or WORDPRESS (kubernetes.db.content)
    ctx.db_query(schema.count_sql())              # published content with a version
    ctx.db_query(schema.page_sql(500), (after,))  # the indexer's document columns (ARTICLE_COLUMNS), by id
    cur.execute(schema.lock_range_sql(1001, 2000)); cur.execute(schema.destroy_sql("delete", 1001, 2000))

Every statement is a ``SELECT`` (or the drill's ``DELETE``/``DROP``, ``CHECKSUM TABLE``) on the site's
own tables: gameday makes nothing in the site's database (no DDL, no view), so it needs no privilege
beyond what the site's own user has, and a production schema stays as the site made it.

Two schemas:

* :data:`ARTICLES_TABLE`: the Python sample site's ``articles`` and ``outbox`` tables (``gameday.site.db``),
  and the Cloud SQL drill tests' own ``articles(id, version)``. Every statement is the text the
  callers sent before this module existed.
* :data:`WORDPRESS`: posts in ``wp_posts`` (the base table: what a drill destroys, a backup counts,
  ``CHECKSUM TABLE`` sums, the binary log names), their version in ``wp_postmeta``
  ``_gameday_version``. Published content is ``wp_posts p JOIN wp_postmeta m`` (:data:`WP_CONTENT_FROM`)
  where :data:`WP_PUBLISHED` holds, each of :data:`ARTICLE_COLUMNS` an expression over those two
  (:data:`WP_COLUMNS`; the category a subquery of the term tables). A ``FOR UPDATE`` on that join
  locks the posts' rows it reads (:meth:`ContentSchema.lock_range_sql`). Its ``body`` is ``post_content`` with
  its markup: :meth:`ContentSchema.article` strips it as the plugin's events do (``wp_strip_all_tags``,
  :func:`strip_markup`), so a document indexed from the database equals the one its event indexes.
  The outbox is the plugin's ``wp_gameday_outbox``; "now" is ``UTC_TIMESTAMP(6)`` (``post_modified_gmt``
  is UTC).

The twin's WordPress bootstrap (``gameday.sandbox.wordpress.seed``) also makes two views of the same
query (:func:`ensure_views`), a convenience for the twin's tests only: no statement here reads them.

Neutral ground like :mod:`gameday.db_figures`: imports nothing of gameday's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Sequence

# The indexer's document columns, in the order page_sql() returns them (gameday.site.search.document).
ARTICLE_COLUMNS = ("id", "kind", "slug", "title", "category", "summary", "body", "version", "updated_at")
DRILL_HOWS = ("delete", "drop")
DRILL_PRIVILEGES = {"delete": "DELETE", "drop": "DROP"}  # what the drill's statement needs of its database user


@dataclass(frozen=True)
class ContentSchema:
    """One web tier's content in its database (see the module). Table names and expressions are
    trusted constants, never user input.

    Published content is ``SELECT ... FROM {content_from} WHERE {published}``, each of
    :data:`ARTICLE_COLUMNS` selected as its expression in ``columns`` (same order), ``AS`` its name
    when the two differ."""

    name: str            # "articles-table" | "wordpress": what an environment's kubernetes.db.content says
    base_table: str      # where content rows live: destroyed by the drill, checksummed, in backups and the binlog
    id_column: str       # the base table's id column ("ID" in wp_posts)
    content_from: str    # the FROM clause of published content: a table, or tables joined
    columns: tuple[str, ...]  # ARTICLE_COLUMNS as expressions over content_from, in that order
    label: str           # what published content is called in messages ("articles")
    outbox: str          # the publishing outbox table (sent_at NULL: not yet relayed)
    now_sql: str         # the database's "now" in updated_at's time zone
    published: str = ""  # the condition on content_from's rows that are published content ("": every row)
    drill_filter: str = ""  # what a drill may delete besides the id range ("": every row of the range)
    plugin_documents: bool = False  # article(): as WordPress's plugin writes its events (see article())

    def article(self, row: Sequence) -> dict:
        """One row of :meth:`page_sql` as the article dict the indexer indexes
        (``gameday.site.search.document``), keyed by :data:`ARTICLE_COLUMNS`. For WordPress as the
        plugin's content event carries the post (``outbox.php`` ``event_for``): ``body`` without its
        markup (:func:`strip_markup`) and ``updated_at`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), so that a
        document indexed from the database (a seed, a reindex) equals the one its event indexes."""
        article = dict(zip(ARTICLE_COLUMNS, row, strict=True))
        if self.plugin_documents:
            article["body"] = strip_markup(article["body"] or "")
            if isinstance(article["updated_at"], dt.datetime):
                article["updated_at"] = article["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        return article

    # ---- published content (content_from, published, columns) --------------------------------------
    def column(self, name: str) -> str:
        """The expression of one of :data:`ARTICLE_COLUMNS` (``"p.ID"`` for ``id`` on WordPress):
        what a condition on that column compares."""
        return self.columns[ARTICLE_COLUMNS.index(name)]

    def select_list(self, *names: str) -> str:
        """``names`` (of :data:`ARTICLE_COLUMNS`) as a select list: ``id, version`` on the articles
        table, ``p.ID AS id, CAST(m.meta_value AS UNSIGNED) AS version`` on WordPress."""
        return ", ".join(expr if expr == name else f"{expr} AS {name}"
                         for name, expr in ((n, self.column(n)) for n in names))

    def content_sql(self, what: str, *conditions: str) -> str:
        """``SELECT {what}`` over published content, with the ``conditions`` besides (empty ones
        left out): the statement every method below sends, and the body of :func:`ensure_views`."""
        where = " AND ".join(c for c in (self.published, *conditions) if c)
        return f"SELECT {what} FROM {self.content_from}" + (f" WHERE {where}" if where else "")

    def count_sql(self) -> str:
        """How many published content items there are (one int)."""
        return self.content_sql("COUNT(*)")

    def versions_sql(self) -> str:
        """``(id, version)`` of every published item (figures and digests: :mod:`gameday.db_figures`)."""
        return self.content_sql(self.select_list("id", "version"))

    def versions_before_sql(self) -> str:
        """``(id, version)`` of the items last updated before ``%s`` (:mod:`gameday.index_match`)."""
        return self.content_sql(self.select_list("id", "version"), f"{self.column('updated_at')} < %s")

    def page_sql(self, limit: int) -> str:
        """Up to ``limit`` rows of :data:`ARTICLE_COLUMNS` with id above ``%s``, in id order (reindex, seed)."""
        key = self.column("id")
        return f"{self.content_sql(self.select_list(*ARTICLE_COLUMNS), f'{key} > %s')} ORDER BY {key} LIMIT {int(limit)}"

    def lock_range_sql(self, first_id: int | None, last_id: int | None) -> str:
        """``(id, version)`` of the published items in the id range, row-locked (either bound None: open):
        the destroy-content drill holds it until its statement runs. ``FOR UPDATE`` locks the rows it
        reads in every table of ``content_from``. On WordPress (MariaDB, REPEATABLE READ; measured on
        3,000 posts, the plan a primary-key range of ``wp_posts``, then ``wp_postmeta`` by post_id):
        every ``wp_posts`` row of the range, drafts and pages too, and the next one; every
        ``wp_postmeta`` row of the range's published content; nothing else. Where the optimizer adds a
        rowid filter on ``meta_key`` (it did without bounds, and for the same range through the old
        view), every ``_gameday_version`` row is locked too: editors elsewhere wait as long as the
        drill holds the lock."""
        bounds = _bounds(self.column("id"), first_id, last_id) or ("" if self.published else "1 = 1")
        return f"{self.content_sql(self.select_list('id', 'version'), bounds)} FOR UPDATE"

    # ---- the base table -------------------------------------------------------------------------------
    def destroy_sql(self, how: str, first_id: int | None = None, last_id: int | None = None) -> str:
        """What the destroy-content drill runs: ``delete`` the base table's rows in the id range that the
        drill filter allows (both bounds None: all of them), or ``drop`` the base table."""
        if how not in DRILL_HOWS:
            raise ValueError(f"how must be one of {DRILL_HOWS}, not {how!r}")
        if how == "drop":
            return f"DROP TABLE {self.base_table}"
        where = " AND ".join(w for w in (_bounds(self.id_column, first_id, last_id), self.drill_filter) if w)
        return f"DELETE FROM {self.base_table}" + (f" WHERE {where}" if where else "")

    def base_count_sql(self) -> str:
        """Rows of the base table (what a backup manifest counts)."""
        return f"SELECT COUNT(*) FROM {self.base_table}"

    def base_stats_sql(self, *, between: bool = False) -> str:
        """``(rows, min id, max id)`` of the base table; ``between``: of ids in ``%s``..``%s`` only."""
        i = self.id_column
        return (f"SELECT COUNT(*), MIN({i}), MAX({i}) FROM {self.base_table}"
                + (f" WHERE {i} BETWEEN %s AND %s" if between else ""))

    def checksum_sql(self) -> str:
        """``CHECKSUM TABLE`` of the base table (a view has none)."""
        return f"CHECKSUM TABLE {self.base_table}"

    def outbox_unsent_sql(self) -> str:
        """How many outbox rows are not relayed yet."""
        return f"SELECT COUNT(*) FROM {self.outbox} WHERE sent_at IS NULL"


def _bounds(column: str, first_id: int | None, last_id: int | None) -> str:
    return " AND ".join(f"{column} {op} {int(bound)}" for op, bound in ((">=", first_id), ("<=", last_id))
                        if bound is not None)


ARTICLES_TABLE = ContentSchema(
    name="articles-table", base_table="articles", id_column="id", content_from="articles", columns=ARTICLE_COLUMNS,
    label="articles", outbox="outbox", now_sql="NOW(6)")

WP_CONTENT_TYPES = "post_type IN ('post', 'monograph')"  # the post types that are content (what a drill deletes)
# A post and its version: exactly one _gameday_version row per post (bootstrap.php and outbox.php
# next_version() write one), so the join yields each versioned post once.
WP_CONTENT_FROM = "wp_posts p JOIN wp_postmeta m ON m.post_id = p.ID AND m.meta_key = '_gameday_version'"
WP_PUBLISHED = f"p.post_status = 'publish' AND p.{WP_CONTENT_TYPES}"
# The category as wp_get_post_categories(..., names)[0] gives it (by name), or NULL for none.
_WP_CATEGORY = ("(SELECT t.name FROM wp_term_relationships r"
                " JOIN wp_term_taxonomy tt ON tt.term_taxonomy_id = r.term_taxonomy_id AND tt.taxonomy = 'category'"
                " JOIN wp_terms t ON t.term_id = tt.term_id WHERE r.object_id = p.ID ORDER BY t.name LIMIT 1)")
WP_COLUMNS = ("p.ID", "IF(p.post_type = 'monograph', 'monograph', 'guidance')", "p.post_name", "p.post_title",
              _WP_CATEGORY, "p.post_excerpt", "p.post_content", "CAST(m.meta_value AS UNSIGNED)", "p.post_modified_gmt")

WORDPRESS = ContentSchema(
    name="wordpress", base_table="wp_posts", id_column="ID", content_from=WP_CONTENT_FROM, columns=WP_COLUMNS,
    label="wp_posts (published posts and monographs with a version)", outbox="wp_gameday_outbox",
    now_sql="UTC_TIMESTAMP(6)", published=WP_PUBLISHED, drill_filter=WP_CONTENT_TYPES, plugin_documents=True)

SCHEMAS = {s.name: s for s in (ARTICLES_TABLE, WORDPRESS)}

# WordPress's media (gameday.media): each attachment row with its file, relative to uploads/, as
# get_attached_file() reads it (the _wp_attached_file meta WordPress writes on upload)
WP_ATTACHMENTS_SQL = ("SELECT p.ID, p.post_title, m.meta_value FROM wp_posts p JOIN wp_postmeta m "
                      "ON m.post_id = p.ID AND m.meta_key = '_wp_attached_file' "
                      "WHERE p.post_type = 'attachment' ORDER BY p.ID")

# Two views of WORDPRESS' published content, for the twin's tests only (ensure_views): the articles
# view reads WordPress's content the Python site's way. SQL SECURITY INVOKER: they grant nothing the
# reader lacks.
VERSIONS_VIEW = "gameday_content_versions"  # the first view made: a standby's bootstrap waits for it (replicated)
WORDPRESS_VIEWS = (
    f"CREATE OR REPLACE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW {VERSIONS_VIEW} AS "
    + WORDPRESS.content_sql(WORDPRESS.select_list("id", "version", "updated_at", "kind", "slug")),
    "CREATE OR REPLACE SQL SECURITY INVOKER VIEW articles AS "
    + WORDPRESS.content_sql(WORDPRESS.select_list(*ARTICLE_COLUMNS)),
)


def ensure_views(cursor) -> None:
    """Create (or replace) two views of :data:`WORDPRESS`' published content in the cursor's database
    (``gameday_content_versions``: id, version, updated_at, kind, slug; ``articles``: the indexer's
    columns), once WordPress's tables exist. A convenience for the twin's tests only, so that their
    SQL reads WordPress's content the Python site's way: the twin's WordPress bootstrap job
    (``gameday.sandbox.wordpress.seed``) calls it, test fixtures may. Nothing else calls it, and no
    statement of :class:`ContentSchema` reads the views: gameday makes nothing in a real site's
    database. A BASE TABLE named ``articles`` (a twin that ran the Python site) must be moved away
    first (:func:`set_aside_python_site_articles`): MariaDB refuses to replace it."""
    for ddl in WORDPRESS_VIEWS:
        cursor.execute(ddl)


PYTHON_SITE_ARTICLES = "articles_python_site"  # where a stale Python-site articles table is moved


def set_aside_python_site_articles(cursor) -> bool:
    """Rename a BASE TABLE ``articles`` in the cursor's database (the Python site's, in a twin's
    database from before WordPress) to :data:`PYTHON_SITE_ARTICLES`, so that the ``articles`` view can
    take its name; True when it did (the caller says so), False when there was none (or a view). A
    ValueError when both names are taken by tables: which to keep is a person's decision."""
    cursor.execute("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                   " AND TABLE_NAME IN ('articles', %s)", (PYTHON_SITE_ARTICLES,))
    kinds = {str(name): str(kind) for name, kind in cursor.fetchall()}
    if kinds.get("articles") != "BASE TABLE":
        return False
    if PYTHON_SITE_ARTICLES in kinds:
        raise ValueError(f"the database holds a table articles (the Python site's) and a {PYTHON_SITE_ARTICLES} "
                         "already: drop the one you do not need, then run the bootstrap again")
    cursor.execute(f"RENAME TABLE articles TO {PYTHON_SITE_ARTICLES}")
    return True


# PHP's strip_tags() (php-src ext/standard/string.c, php_strip_tags_ex without allowed tags), as
# WordPress's wp_strip_all_tags() calls it after removing <script> and <style> elements with their text.
_SCRIPT_STYLE = re.compile(r"<(script|style)[^>]*?>.*?</\1>", re.IGNORECASE | re.DOTALL)
_C_SPACE = " \t\n\v\f\r"  # C's isspace() in the "C" locale
_PHP_TRIM = " \t\n\r\0\x0b"  # PHP's trim()


def strip_markup(text: str) -> str:
    """``text`` as the plugin's events carry a post's body: ``trim(wp_strip_all_tags($text))``
    (``outbox.php`` ``event_for``): script and style elements removed with their content, then every
    tag, comment and ``<?...?>`` removed as PHP's ``strip_tags`` does (a ``<`` before white space is
    text; quotes inside a tag hide its ``>``), entities left as they are, then trimmed as PHP trims.
    tests/integration/test_wordpress.py checks it against WordPress's own function."""
    text = _SCRIPT_STYLE.sub("", text)
    out: list[str] = []
    state = depth = br = 0
    in_q = lc = ""
    is_xml = False
    n = len(text)

    def prev(k: int) -> str:
        return text[i - k] if i - k >= 0 else ""

    i = 0
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else "\0"
        if c == "\0":
            pass
        elif state == 0:  # text
            if c == "<":
                if not in_q:
                    if nxt in _C_SPACE:
                        out.append(c)
                    else:
                        lc, state = "<", 1
            elif c == ">":
                if depth:
                    depth -= 1
                elif not in_q:
                    out.append(c)
            else:
                out.append(c)
        elif state == 1:  # inside an HTML tag
            if c == "<":
                if not in_q and nxt not in _C_SPACE:
                    depth += 1
            elif c == ">":
                if depth:
                    depth -= 1
                elif not in_q:
                    lc = ">"
                    if not (is_xml and prev(1) == "-"):
                        in_q, state, is_xml = "", 0, False
            elif c in "\"'":
                if i != 0 and (not in_q or c == in_q):
                    in_q = "" if in_q else c
            elif c == "!" and prev(1) == "<":
                state, lc = 3, c
            elif c == "?" and prev(1) == "<":
                br, state = 0, 2
        elif state == 2:  # inside <? ... ?>
            if c == "(" and lc not in ('"', "'"):
                lc, br = "(", br + 1
            elif c == ")" and lc not in ('"', "'"):
                lc, br = ")", br - 1
            elif c == ">":
                if depth:
                    depth -= 1
                elif not in_q and not br and lc != '"' and prev(1) == "?":
                    in_q, state = "", 0
            elif c in "\"'":
                if i >= 1 and prev(1) != "\\":
                    if lc == c:
                        lc = ""
                    elif lc != "\\":
                        lc = c
                    if not in_q or c == in_q:
                        in_q = "" if in_q else c
            elif c in "lL" and i > 4 and prev(1) in "mM" and prev(2) in "xX" and prev(3) == "?" and prev(4) == "<":
                state, is_xml = 1, True
        elif state == 3:  # inside <! ... > (a declaration, or the start of a comment)
            if c == ">":
                if depth:
                    depth -= 1
                elif not in_q:
                    in_q, state = "", 0
            elif c in "\"'":
                if i != 0 and prev(1) != "\\" and (not in_q or c == in_q):
                    in_q = "" if in_q else c
            elif c == "-" and i >= 2 and prev(1) == "-" and prev(2) == "!":
                state = 4
            elif c in "eE" and i > 6 and "".join(prev(k) for k in range(6, 0, -1)).lower() == "doctyp":
                state = 1
        elif state == 4:  # inside <!-- ... -->
            if c == ">" and not in_q and i >= 2 and prev(1) == "-" and prev(2) == "-":
                in_q, state = "", 0
        i += 1
    return "".join(out).strip(_PHP_TRIM)


def schema_named(name: str) -> ContentSchema:
    """The schema an environment names (``kubernetes.db.content``); a ValueError naming the choices."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ValueError(f"content schema must be one of {', '.join(SCHEMAS)}, not {name!r}") from None
