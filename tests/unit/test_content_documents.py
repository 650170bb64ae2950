"""Documents built from the database through the content schema (gameday/content.py): for WordPress
as the plugin's content events carry a post (body without markup, updated_at in UTC with a Z), for
the Python site's table as its rows are. strip_markup is checked against WordPress's own
wp_strip_all_tags on PHP in tests/integration/test_wordpress.py."""

from __future__ import annotations

import datetime as dt

import pytest

from gameday.content import ARTICLE_COLUMNS, ARTICLES_TABLE, WORDPRESS, strip_markup
from gameday.site.search import document


def _row(body: str, updated_at) -> tuple:
    return (7, "guidance", "s", "T", None, "Sum", body, 3, updated_at)


def test_a_wordpress_row_becomes_the_document_its_content_event_makes():
    row = _row("<!-- wp:paragraph --><p>Take <em>it</em> with water.</p><!-- /wp:paragraph -->\n",
               dt.datetime(2026, 12, 6, 7, 48, 33))
    article = WORDPRESS.article(row)
    assert list(article) == list(ARTICLE_COLUMNS)
    event = {"id": 7, "version": 3, "kind": "guidance", "slug": "s", "title": "T", "category": None, "summary": "Sum",
             "body": "Take it with water.", "updated_at": "2026-12-06T07:48:33Z", "event_id": "e", "permalink": "/p/"}
    assert document(article) == document(event)


def test_a_python_site_row_is_kept_as_it_is():
    when = dt.datetime(2026, 12, 6, 7, 48, 33, 120000)
    article = ARTICLES_TABLE.article(_row("<p>kept</p>", when))
    assert article["body"] == "<p>kept</p>" and article["updated_at"] == when
    with pytest.raises(ValueError):
        ARTICLES_TABLE.article(_row("x", when)[:-1])  # a row of other columns


@pytest.mark.parametrize(("markup", "text"), [
    ("<p>a</p>", "a"),
    ("a < b and c > d", "a < b and c > d"),  # a < before white space is text
    ("<a title='x>y'>link</a>", "link"),      # a quoted > does not end the tag
    ("<script>alert(1)</script>kept<style>p{}</style>", "kept"),
    ("<!-- note -- with dashes -->c", "c"),
    ("x &amp; y", "x &amp; y"),               # entities stay (the event's body has them too)
    ("unclosed <b", "unclosed"),
    ("\u00a0 <b>\u00fcber</b> \t", "\u00a0 \u00fcber"),  # PHP's trim() leaves a no-break space
])
def test_strip_markup_removes_tags_as_php_strip_tags_does(markup, text):
    assert strip_markup(markup) == text
