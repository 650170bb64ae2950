"""The web tier's contract, as one table both tiers are checked against: the Python sample site
(:mod:`gameday.site.app`, whose docstring and routes it is) and the WordPress replicas (the must-use
plugin's ``routes.php``). What the load generator (``loadtests/locustfile.py``), the SLO probes, the
canaries (``POST /api/articles``) and the playbooks rely on: paths, status codes, JSON keys, error
messages. ``test_wordpress`` runs every case on both, so a difference between them fails a test::

    for case in cases(guidance=..., monograph=..., category=..., term=...):
        answer = send(case)                       # (status, headers, text) from either tier
        check(case, *answer)                      # AssertionError naming the case

A case's ``tiers`` says who it is for: both (the contract), or one tier only where they knowingly
differ (:data:`DIFFERENCES`, which the README's "WordPress member" section repeats).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

ARTICLE_KEYS = {"id", "kind", "slug", "title", "category", "summary", "body", "version", "updated_at", "url"}
HIT_KEYS = {"id", "score", "kind", "slug", "title", "category", "summary", "version", "url"}
SEARCH_KEYS = {"q", "total", "took_ms", "hits"}
PUBLISH_KEYS = {"id", "version", "slug", "url", "event"}
FALLBACK_KEYS = {"degraded", "fallback", "notice"}  # WordPress's search on its MySQL fallback, beside SEARCH_KEYS
DEGRADED_KEYS = {"error", "degraded"}  # a 503 of the API in a degraded mode (db; search on the Python site)
KIND_PATHS = {"guidance": "guidance", "monograph": "medicines"}
BOTH = ("python", "wordpress")

# Where the two tiers knowingly differ (each also a case below, or a test of its own in test_wordpress).
DIFFERENCES = {
    "search-down": "search down: the Python site answers 503 (X-Gameday-Degraded: search); WordPress answers "
                   "200 from its MySQL search with the same header and fallback/notice/degraded keys",
    "publish-auth": "POST /api/articles: WordPress asks for HTTP basic auth (the publisher's application "
                    "password; 401 without); the Python site asks for none",
    "publish-ack": "a publish: both answer 201 'acknowledged' once Kafka acknowledged its event, else 202 "
                   "'pending' after a wait; the Python site sends the event itself and waits 5 s for Kafka, "
                   "WordPress waits for the Java relay to mark its outbox row sent (GAMEDAY_PUBLISH_ACK_WAIT, "
                   "5 s by default, polled every 0.1 s), so its 201 comes about one relay poll later",
    "db-down-search": "database down: the Python site's search (/api/search, /search) still answers from the "
                      "index; on WordPress every page and API path answers 503 (X-Gameday-Degraded: db), as "
                      "WordPress needs its database to start a request",
    "trailing-slash": "/guidance/<slug>/ with a trailing slash: 200 on WordPress, 404 on the Python site",
    "new-slug": "a new article whose title's slug is taken: WordPress suffixes -2, the Python site 8 hex digits",
    "hit-fields": "a hit's fields: from the index on the Python site, from the published post on WordPress "
                  "(hits whose post is no longer published are left out there)",
    "unpublished-article": "GET /api/articles/<id> of a post not published (draft, trashed): 404 on WordPress; "
                           "the Python site has no such state",
    "probe-bodies": "/healthz and /readyz answer JSON on WordPress, text on the Python site (probes read the "
                    "status only); with the database frozen WordPress's /readyz takes 2 s (the Python site's 0.4 s)",
}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    params: dict = field(default_factory=dict)
    body: object = None            # JSON to send (a str is sent as it is, not as JSON)
    keys: frozenset = frozenset()  # the JSON object's keys, exactly (empty: not JSON, an HTML page)
    error: str | None = None       # the JSON {"error": ...} message, exactly
    contains: str | None = None    # an HTML page's text holds this (unescaped)
    tiers: tuple[str, ...] = BOTH


def url_of(article: dict) -> str:
    return f"/{KIND_PATHS[article['kind']]}/{article['slug']}"


def publish_body(**fields) -> dict:
    return {"kind": "guidance", "title": "Gameday contract check", "category": "Gameday contract",
            "summary": "A summary.", "body": "A body.", **fields}


def cases(*, guidance: dict, monograph: dict, category: tuple[str, str], term: str) -> list[Case]:
    """Every case, for seeded items ``guidance`` and ``monograph`` (catalogue rows), a seeded category
    ``(name, slug)`` and a search ``term`` that finds something."""
    g, m = guidance, monograph
    html_ = frozenset()
    return [
        # pages (the load generator's journeys)
        Case("guidance page", "GET", url_of(g), 200, keys=html_, contains=g["title"]),
        Case("monograph page", "GET", url_of(m), 200, keys=html_, contains=m["title"]),
        Case("category page", "GET", f"/category/{category[1]}", 200, keys=html_, contains=category[0]),
        Case("home page", "GET", "/", 200, keys=html_),
        Case("search page", "GET", "/search", 200, params={"q": term}, keys=html_),
        Case("search page, no query", "GET", "/search", 200, keys=html_),
        Case("unknown guidance", "GET", "/guidance/no-such-guidance-at-all", 404, keys=html_),
        Case("a monograph under /guidance/", "GET", f"/guidance/{m['slug']}", 404, keys=html_),
        Case("a guidance post under /medicines/", "GET", f"/medicines/{g['slug']}", 404, keys=html_),
        Case("unknown category", "GET", "/category/no-such-category-at-all", 404, keys=html_),
        Case("guidance page, trailing slash", "GET", url_of(g) + "/", 200, keys=html_, contains=g["title"],
             tiers=("wordpress",)),
        # read API
        Case("article", "GET", f"/api/articles/{g['id']}", 200, keys=frozenset(ARTICLE_KEYS)),
        Case("monograph article", "GET", f"/api/articles/{m['id']}", 200, keys=frozenset(ARTICLE_KEYS)),
        Case("unknown article", "GET", "/api/articles/987654", 404, keys=frozenset({"error"}),
             error="article 987654 not found"),
        Case("article id not a number", "GET", "/api/articles/abc", 404, keys=frozenset({"error"}), error="not found"),
        Case("unknown API path", "GET", "/api/nothing-here", 404, keys=frozenset({"error"}), error="not found"),
        Case("search API", "GET", "/api/search", 200, params={"q": term}, keys=frozenset(SEARCH_KEYS)),
        Case("search API, size 2", "GET", "/api/search", 200, params={"q": term, "size": "2"},
             keys=frozenset(SEARCH_KEYS)),
        Case("search API, size not a number", "GET", "/api/search", 200, params={"q": term, "size": "lots"},
             keys=frozenset(SEARCH_KEYS)),
        Case("search API, no query", "GET", "/api/search", 400, keys=frozenset({"error"}),
             error="missing query parameter q"),
        Case("search API, blank query", "GET", "/api/search", 400, params={"q": "   "}, keys=frozenset({"error"}),
             error="missing query parameter q"),
        # publish API: the checks before anything is written (an editor's mistakes)
        Case("publish, not JSON", "POST", "/api/articles", 400, body="not json", keys=frozenset({"error"}),
             error="expected a JSON object with kind, title, category, summary, body (and optional id)"),
        Case("publish, a JSON list", "POST", "/api/articles", 400, body=[], keys=frozenset({"error"}),
             error="expected a JSON object with kind, title, category, summary, body (and optional id)"),
        Case("publish, no kind", "POST", "/api/articles", 400, body={}, keys=frozenset({"error"}),
             error="kind must be 'guidance' or 'monograph'"),
        Case("publish, no title", "POST", "/api/articles", 400, body={"kind": "monograph"}, keys=frozenset({"error"}),
             error="title must be a non-empty string"),
        Case("publish, blank summary", "POST", "/api/articles", 400, body=publish_body(summary="  "),
             keys=frozenset({"error"}), error="summary must be a non-empty string"),
        Case("publish, title too long", "POST", "/api/articles", 400, body=publish_body(title="é" * 256),
             keys=frozenset({"error"}), error="title is longer than 255 characters"),
        Case("publish, category too long", "POST", "/api/articles", 400, body=publish_body(category="c" * 65),
             keys=frozenset({"error"}), error="category is longer than 64 characters"),
        Case("publish, id 0", "POST", "/api/articles", 400, body=publish_body(id=0), keys=frozenset({"error"}),
             error="id must be a positive integer when given"),
        Case("publish, id true", "POST", "/api/articles", 400, body=publish_body(id=True), keys=frozenset({"error"}),
             error="id must be a positive integer when given"),
        Case("publish, id a string", "POST", "/api/articles", 400, body=publish_body(id="5"),
             keys=frozenset({"error"}), error="id must be a positive integer when given"),
        Case("publish, id a float", "POST", "/api/articles", 400, body=publish_body(id=5.0),
             keys=frozenset({"error"}), error="id must be a positive integer when given"),
        Case("update of an unknown article", "POST", "/api/articles", 404, body=publish_body(id=987654),
             keys=frozenset({"error"}), error="article 987654 does not exist"),
    ]


def readable(page: str) -> str:
    """An HTML page's text unescaped, WordPress's typographic quotes and dashes (wptexturize) made plain."""
    text = html.unescape(page)
    for fancy, plain in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2013", "-"),
                         ("\u2014", "-"), ("\u2026", "...")):
        text = text.replace(fancy, plain)
    return text


def check(case: Case, status: int, headers, text: str) -> object:
    """Assert that an answer ``(status, headers, text)`` meets ``case``; the JSON body (or the page's
    unescaped text)."""
    where = f"{case.name}: {case.method} {case.path} {case.params or ''}"
    assert status == case.status, f"{where}: HTTP {status}, expected {case.status}: {text[:300]}"
    assert headers.get("X-Served-By"), f"{where}: no X-Served-By"
    if not case.keys:
        assert "text/html" in headers.get("Content-Type", ""), f"{where}: {headers.get('Content-Type')}"
        page = readable(text)
        if case.contains is not None:
            assert case.contains in page, f"{where}: {case.contains!r} is not on the page"
        return page
    assert headers.get("Content-Type", "").startswith("application/json"), f"{where}: {headers.get('Content-Type')}"
    body = json.loads(text)
    assert isinstance(body, dict) and set(body) == set(case.keys), f"{where}: keys {sorted(body)}, expected {sorted(case.keys)}"
    if case.error is not None:
        assert body["error"] == case.error, f"{where}: error {body['error']!r}, expected {case.error!r}"
    if "hits" in body:
        assert isinstance(body["total"], int) and isinstance(body["took_ms"], int), where
        assert all(set(hit) == HIT_KEYS for hit in body["hits"]), f"{where}: hit keys {[sorted(h) for h in body['hits']]}"
        assert all(hit["url"] == url_of(hit) for hit in body["hits"]), where
        size = int(case.params.get("size", "10")) if str(case.params.get("size", "10")).isdigit() else 10
        assert len(body["hits"]) <= size, f"{where}: {len(body['hits'])} hits for size {size}"
    if set(body) == ARTICLE_KEYS:
        assert body["url"] == url_of(body), where
        assert isinstance(body["version"], int) and body["version"] >= 1, where
    return body
