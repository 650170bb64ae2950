"""The content-schema seam (gameday/content.py): no module but it names a content table in SQL, the
Python site's schema sends exactly the statements its callers sent before the seam, and an
environment's ``kubernetes.db.content`` chooses the schema (or is refused, naming the choices).
WordPress's SQL runs on a real MariaDB in tests/integration/test_content_schema_wordpress.py."""

from __future__ import annotations

import copy
import re
import typing
from pathlib import Path

import pytest
import yaml

from gameday import content
from gameday.content import ARTICLES_TABLE, WORDPRESS
from gameday.errors import UsageError
from gameday.schema.environment import DbLayer
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("gameday", "benchmarks")
EXEMPT = {
    "gameday/content.py": "the seam itself",
    "gameday/site/": "the Python site owns its schema until it retires (issue 17, C7)",
    "benchmarks/wp_seed_bench.py": "compares two seed scripts' WordPress tables row for row (every table, "
                                   "not content as gameday reads it)",
}
CONTENT_TABLES = r"(?:articles|outbox|wp_posts|wp_postmeta|wp_terms|wp_term_taxonomy|wp_term_relationships" \
                 r"|wp_gameday_outbox|gameday_content_versions)"
RULES = (
    (re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|TABLES)\s+`?" + CONTENT_TABLES + r"\b"), "SQL on a content table"),
    (re.compile(r"\b" + CONTENT_TABLES + r"`?\s+(?:WHERE|SET)\b"), "SQL on a content table"),
    (re.compile(r"`\." + CONTENT_TABLES + r"\b"), "a content table qualified by its database"),
    (re.compile(r"""["']""" + CONTENT_TABLES + r"""["']"""), "a content table named by a string"),
)


def offenders(root: Path = ROOT) -> list[str]:
    """``path:line: what`` for every line of a scanned module that names a content table."""
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if any(rel == e or (e.endswith("/") and rel.startswith(e)) for e in EXEMPT):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for rule, what in RULES:
                    if rule.search(line):
                        found.append(f"{rel}:{n}: {what}: {line.strip()[:100]}")
                        break
    return found


def test_no_module_but_the_seam_names_a_content_table():
    found = offenders()
    assert found == [], ("content tables named outside gameday/content.py (ask the target's content_schema() "
                         "for the SQL instead):\n" + "\n".join(found))


def test_the_scan_finds_what_it_looks_for(tmp_path):
    (tmp_path / "gameday").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "gameday" / "bad.py").write_text(
        'ok = "SELECT 1"\n'
        'a = "SELECT id, version FROM articles WHERE id > 3"\n'
        'b = f"CHECKSUM TABLE `{db}`.articles"\n'
        'c = find_incident(host, "wp_posts", since=0)\n'
        '# the articles table, in prose, is fine\n')
    (tmp_path / "benchmarks" / "bad.py").write_text('cur.execute("DELETE FROM outbox")\n')
    assert [f.split(": ")[0] for f in offenders(tmp_path)] == [
        "gameday/bad.py:2", "gameday/bad.py:3", "gameday/bad.py:4", "benchmarks/bad.py:1"]


# ---- the Python site's schema: the statements its callers sent before the seam ----------------------
def test_the_articles_table_schema_sends_todays_statements():
    s = ARTICLES_TABLE
    assert s.count_sql() == "SELECT COUNT(*) FROM articles"  # recovery.context.article_count, layers.db
    assert s.versions_sql() == "SELECT id, version FROM articles"  # db_figures, kubernetes_cloudsql
    assert s.versions_before_sql() == "SELECT id, version FROM articles WHERE updated_at < %s"  # index_match
    assert s.page_sql(500) == ("SELECT id, kind, slug, title, category, summary, body, version, updated_at "
                               "FROM articles WHERE id > %s ORDER BY id LIMIT 500")  # layers.search.reindex_all
    # chaos.db.actions.destroy_content
    assert s.lock_range_sql(1001, 2000) == "SELECT id, version FROM articles WHERE id >= 1001 AND id <= 2000 FOR UPDATE"
    assert s.lock_range_sql(None, 2000) == "SELECT id, version FROM articles WHERE id <= 2000 FOR UPDATE"
    assert s.lock_range_sql(None, None) == "SELECT id, version FROM articles WHERE 1 = 1 FOR UPDATE"
    assert s.destroy_sql("delete", 1001, 2000) == "DELETE FROM articles WHERE id >= 1001 AND id <= 2000"
    assert s.destroy_sql("delete", 1001, None) == "DELETE FROM articles WHERE id >= 1001"
    assert s.destroy_sql("delete") == "DELETE FROM articles"
    assert s.destroy_sql("drop", 1001, 2000) == "DROP TABLE articles"
    assert s.checksum_sql() == "CHECKSUM TABLE articles"  # db_figures
    assert s.base_count_sql() == "SELECT COUNT(*) FROM articles"  # layers.db_content._rows
    assert s.base_stats_sql() == "SELECT COUNT(*), MIN(id), MAX(id) FROM articles"  # chaos.db.probes.table_rows
    assert s.base_stats_sql(between=True) == ("SELECT COUNT(*), MIN(id), MAX(id) FROM articles "
                                              "WHERE id BETWEEN %s AND %s")  # layers.db_content.matches_backup
    assert s.outbox_unsent_sql() == "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"
    assert f"SELECT {s.now_sql}" == "SELECT NOW(6)"  # layers.search_cluster's cut
    assert s.base_table == "articles"  # backup manifests, find_db_incident, the drill's table argument


def test_wordpress_destroys_only_content_post_types_in_the_range():
    assert WORDPRESS.destroy_sql("delete", 1001, 2000) == ("DELETE FROM wp_posts WHERE ID >= 1001 AND ID <= 2000 "
                                                           "AND post_type IN ('post', 'monograph')")
    assert WORDPRESS.destroy_sql("delete") == "DELETE FROM wp_posts WHERE post_type IN ('post', 'monograph')"
    assert WORDPRESS.destroy_sql("drop") == "DROP TABLE wp_posts"
    assert WORDPRESS.checksum_sql() == "CHECKSUM TABLE wp_posts" and f"SELECT {WORDPRESS.now_sql}" == "SELECT UTC_TIMESTAMP(6)"
    with pytest.raises(ValueError, match="how must be one of"):
        WORDPRESS.destroy_sql("truncate")


def wordpress_statements() -> list[str]:
    w = WORDPRESS
    return [w.count_sql(), w.versions_sql(), w.versions_before_sql(), w.page_sql(500), w.lock_range_sql(1, 2),
            w.lock_range_sql(None, None), w.destroy_sql("delete", 1, 2), w.destroy_sql("drop"), w.base_count_sql(),
            w.base_stats_sql(), w.base_stats_sql(between=True), w.checksum_sql(), w.outbox_unsent_sql()]


def test_wordpress_queries_its_own_tables_and_no_view():
    """No statement names a view (gameday makes nothing in a real site's database): published content
    is wp_posts joined to its version meta, locked FOR UPDATE on that join."""
    for sql in wordpress_statements():
        assert "gameday_content_versions" not in sql and not re.search(r"\b(?:FROM|JOIN)\s+articles\b", sql), sql
        assert set(re.findall(r"\b(?:FROM|JOIN|TABLE)\s+(\w+)", sql)) <= {
            "wp_posts", "wp_postmeta", "wp_term_relationships", "wp_term_taxonomy", "wp_terms", "wp_gameday_outbox"}, sql
    assert WORDPRESS.lock_range_sql(1001, 2000) == (
        "SELECT p.ID AS id, CAST(m.meta_value AS UNSIGNED) AS version FROM wp_posts p JOIN wp_postmeta m "
        "ON m.post_id = p.ID AND m.meta_key = '_gameday_version' "
        "WHERE p.post_status = 'publish' AND p.post_type IN ('post', 'monograph') AND p.ID >= 1001 AND p.ID <= 2000 "
        "FOR UPDATE")
    assert WORDPRESS.lock_range_sql(None, None).endswith("p.post_type IN ('post', 'monograph') FOR UPDATE")
    assert WORDPRESS.page_sql(2).endswith("AND p.ID > %s ORDER BY p.ID LIMIT 2")


def test_the_twins_convenience_views_are_the_schemas_own_queries():
    """ensure_views (the twin's tests only) makes views of exactly the SQL the schema sends, invoker's rights."""
    assert all("SQL SECURITY INVOKER" in ddl for ddl in content.WORDPRESS_VIEWS)
    assert content.WORDPRESS_VIEWS[1].endswith(" AS " + WORDPRESS.page_sql(1).split(" AND p.ID > %s")[0])


# ---- where a target gets its schema ------------------------------------------------------------------
def rehearsal() -> dict:
    raw = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    return copy.deepcopy(raw["configuration"]["gameday_environment"])


def test_the_environment_schema_allows_exactly_the_schemas_there_are():
    allowed = typing.get_args(typing.get_args(DbLayer.model_fields["content"].annotation)[0])
    assert set(allowed) == set(content.SCHEMAS)


@pytest.mark.parametrize("given, expected", [(None, WORDPRESS), ("articles-table", ARTICLES_TABLE),
                                             ("wordpress", WORDPRESS)])
def test_a_kubernetes_target_takes_its_schema_from_its_environment(given, expected):
    """Left out, the platform's: WordPress (rehearsal.yaml, the twin's Python site, says articles-table)."""
    env = rehearsal()
    assert env["kubernetes"]["db"]["content"] == "articles-table"
    if given is None:
        del env["kubernetes"]["db"]["content"]
    else:
        env["kubernetes"]["db"]["content"] = given
    assert KubernetesTarget(from_mapping(env, "test.yaml")).content_schema() is expected


def test_an_unknown_content_schema_is_refused_naming_the_choices():
    env = rehearsal()
    env["kubernetes"]["db"]["content"] = "drupal"
    with pytest.raises(UsageError) as err:
        from_mapping(env, "test.yaml")
    assert "kubernetes.db.content" in str(err.value) and "'articles-table' or 'wordpress'" in str(err.value)
