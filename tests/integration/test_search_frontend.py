"""The React search front end (issue 17) in headless Chromium, served by a WordPress replica's nginx.

A small topology of its own on net 66 (127.66.x.y), run by the sandbox supervisor: MariaDB (``db-1``),
one plain OpenSearch node (``search-1``, :mod:`tests.support.plain_search`), the WordPress bootstrap
job (a seed of :data:`SEED_N` catalogue items) and one replica ``wp-1``, whose nginx serves the bundle
``gameday sandbox install`` built (:mod:`gameday.sandbox.frontend_build`) at ``/app/``, beside the
plugin's JSON API; the plugin searches that node, which the test fills from WordPress's seeded posts
through the content schema (``gameday.sandbox.wordpress.seed.index_content``: the documents the indexer
makes of their content events, document id = post id). Debian's chromium loads ``/app/?q=<term>`` with a
virtual-time budget (the page's fetch of the API finishes inside it) and the test reads the DOM it
dumps: the seeded articles found by OpenSearch; a term with no match; with the node stopped, the same
articles from MySQL under the fallback notice; with the database stopped, the API's failure.
"""

from __future__ import annotations

import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from gameday.deadline import wait_until
from gameday.report import render
from gameday.sandbox import frontend_build, install, lifecycle
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import db, wordpress
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import CONTENT_INDEX, Twin
from gameday.sandbox.wordpress import seed as wp_seed
from gameday.site import catalog
from gameday.site.search import SearchClient
from tests.support import plain_search
from tests.support import wordpress_stack as stack

NET = 66
SEED_N = 200
API = "/wp-json/gameday/v1"
NO_MATCH = "zqxvfrobnitz"
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"


@pytest.fixture(scope="module")
def fe_twin():
    install.install_all()  # a no-op when installed; builds the front end when its sources changed
    twin = Twin.create("frontend-test", net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=0.5, backoff_cap=2.0,
                        workloads=[db.workload(twin), plain_search.workload(twin), wordpress.bootstrap(twin, n=SEED_N),
                                   wordpress.workload(twin, replicas=1, max_replicas=1)])
    lifecycle.up(twin.paths, topology, prepare=lambda: stack.prepare(twin, search_urls=[plain_search.url(twin)]),
                 timeout=180)
    _index_the_seeded_posts(twin)
    yield twin
    lifecycle.down(twin.paths, wipe=True)


def _index_the_seeded_posts(twin: Twin) -> None:
    """Index every post and monograph the bootstrap seeded, read from WordPress through the content
    schema (the documents the indexer makes of their content events), into the site's index."""
    # generous timeouts: on a loaded 2-core machine creating the index took longer than the site's 2 s
    client = SearchClient([plain_search.url(twin)], index=CONTENT_INDEX, connect_timeout=5, read_timeout=60)
    client.create_index()
    counts = wp_seed.index_content(lambda sql, args: stack.sql(twin, sql, args), client)
    assert counts == {"indexed": SEED_N, "stale": 0}
    # the plugin's search path is ready when it answers from OpenSearch (its first queries are the slowest),
    # on both of its paths: a term that matches (one exact query) and one that does not (the exact query,
    # then the fuzzy one; cold, the pair outran the plugin's 2 s budget once on CI and fell back to MySQL)
    for term in (_seeded_term(), NO_MATCH):
        wait_until(lambda term=term: _answers_from_opensearch(twin, term), timeout=60, interval=1.0,
                   what=f"the plugin's search for {term!r} to answer from OpenSearch")


def _answers_from_opensearch(twin: Twin, term: str) -> bool:
    """True once the plugin's search for ``term`` answers from OpenSearch; an answer that is slow or not
    JSON (a loaded machine, PHP-FPM still warming up) is "not yet", not the fixture's failure."""
    try:
        return _search_api(twin, term).get("source") == "opensearch"
    except (requests.RequestException, ValueError):
        return False


class _Page(HTMLParser):
    """What the search page shows, from Chromium's dumped DOM: ``main``'s data attributes, each result
    (``{"id", "type", "href", "title", "label"}``) and the text of the status, note and alert elements."""

    def __init__(self, dom: str):
        super().__init__()
        self.main: dict[str, str] = {}
        self.results: list[dict[str, str]] = []
        self.texts: dict[str, str] = {}
        self._into: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "main":
            self.main = attrs
        elif tag == "li" and "data-id" in attrs:
            self.results.append({"id": attrs["data-id"], "type": attrs.get("data-type", ""), "title": "", "label": ""})
        elif tag == "a" and self.results and not self.results[-1].get("href"):
            self.results[-1]["href"] = attrs.get("href", "")
            self._into = "title"
        elif tag == "span" and attrs.get("class") == "type" and self.results:
            self._into = "label"
        elif attrs.get("role") in ("status", "note", "alert"):
            self._into = attrs["role"]

    def handle_endtag(self, tag):
        if tag in ("a", "span", "p"):
            self._into = None

    def handle_data(self, data):
        if self._into in ("title", "label"):
            self.results[-1][self._into] += data
        elif self._into:
            self.texts[self._into] = self.texts.get(self._into, "") + data


def _chromium(twin: Twin, query: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``/app/?q=<query>`` with a 10 s virtual-time budget (the page's search ends
    inside it) and ``args`` (``--dump-dom``, ``--screenshot=...``)."""
    url = f"{wordpress.url(twin, 1)}/app/?{requests.compat.urlencode({'q': query})}"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([render.chromium(), *render.CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--virtual-time-budget=10000", *args, url], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]
    return proc


def _load(twin: Twin, query: str) -> _Page:
    """Chromium's DOM of ``/app/?q=<query>`` once the page has searched."""
    return _Page(_chromium(twin, query, "--dump-dom").stdout)


def _seeded_term() -> str:
    """The first word of a seeded monograph's title (a medicine's name)."""
    return next(row for row in catalog.generate(SEED_N) if row["kind"] == "monograph")["title"].split()[0]


def test_the_bundle_is_built_and_served_beside_the_api(fe_twin):
    assert frontend_build.installed()
    base = wordpress.url(fe_twin, 1)
    page = requests.get(f"{base}/app/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script src="app.js">' in page.text and '<div id="root">' in page.text
    script = requests.get(f"{base}/app/app.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    assert "/wp-json/gameday/v1/search" in script.text  # the same origin's API, a relative URL
    moved = requests.get(f"{base}/app?q=x", timeout=10, allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["Location"] == "/app/?q=x"


def _search_api(twin: Twin, term: str) -> dict:
    return requests.get(wordpress.url(twin, 1) + f"{API}/search", params={"q": term, "size": 20}, timeout=10).json()


def _assert_lists_the_seeded_articles(page: _Page, api: dict, term: str) -> None:
    """The page lists what the API found for ``term``, in its order, each a seeded article with its link
    and its type, and says how many there are."""
    assert page.main.get("data-state") == "done" and page.main.get("data-source") == api["source"]
    assert [(r["id"], r["title"], r["href"]) for r in page.results] == [
        (str(i["id"]), i["title"], i["permalink"]) for i in api["items"]]
    seeded = {row["title"]: row for row in catalog.generate(SEED_N)}
    assert all(r["title"] in seeded for r in page.results)  # the seeded articles, not something else
    assert any(term.lower() in r["title"].lower() for r in page.results)
    labels = {"monograph": "Medicine monograph", "guidance": "Guidance"}
    assert all(r["label"] == labels[seeded[r["title"]]["kind"]] for r in page.results)
    assert f"{api['total']} result" in page.texts["status"] and term in page.texts["status"]
    assert "alert" not in page.texts


def test_a_search_from_the_address_lists_the_seeded_articles_found_by_opensearch(fe_twin):
    term = _seeded_term()
    api = _search_api(fe_twin, term)
    assert api["source"] == "opensearch" and "fallback" not in api and len(api["items"]) >= 2
    page = _load(fe_twin, term)
    _assert_lists_the_seeded_articles(page, api, term)
    assert "note" not in page.texts  # no fallback notice while search is up


def test_a_term_with_no_match_says_so(fe_twin):
    page = _load(fe_twin, NO_MATCH)
    assert page.main.get("data-state") == "done" and page.main.get("data-source") == "opensearch"
    assert page.results == [] and page.texts["status"] == f"No results for “{NO_MATCH}”."


def test_with_search_down_the_page_shows_the_mysql_fallback_notice(fe_twin):
    client = SandboxClient(fe_twin.paths)
    client.stop("search-1")
    client.wait_stopped("search-1", timeout=30)
    term = _seeded_term()
    api = _search_api(fe_twin, term)
    assert api["source"] == "mysql" and api["fallback"] == "mysql" and api["items"]
    page = _load(fe_twin, term)
    _assert_lists_the_seeded_articles(page, api, term)
    assert "fallback mode" in page.texts["note"] and "MySQL" in page.texts["note"]
    assert "OpenSearch unavailable" in page.texts["note"]  # the API's own notice, passed on
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # what a reader sees, kept for a person to look at
    shot = ARTIFACTS / "search-frontend-fallback.png"
    _chromium(fe_twin, term, "--window-size=900,700", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_when_the_api_fails_the_page_says_search_is_not_working(fe_twin):
    client = SandboxClient(fe_twin.paths)
    client.stop(db.NAME)  # WordPress cannot reach its database: the API answers 503, nginx still serves /app/
    client.wait_stopped(db.NAME, timeout=30)
    assert requests.get(wordpress.url(fe_twin, 1) + f"{API}/search", params={"q": "x"}, timeout=10).status_code == 503
    page = _load(fe_twin, _seeded_term())
    assert page.main.get("data-state") == "error" and page.results == []
    assert "Search is not working" in page.texts["alert"] and "HTTP 503" in page.texts["alert"]
