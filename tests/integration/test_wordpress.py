"""WordPress on PHP-FPM behind nginx as a twin member (issue 17, first part), against real servers.

A small topology of its own on net 60 (127.60.x.y), run by the sandbox supervisor: MariaDB (``db-1``),
the WordPress bootstrap job (install + a seed of :data:`SEED_N` catalogue items) and one replica
``wp-1`` (php-fpm + nginx under one launcher). No search, Kafka or toxiproxy: search must fall back to
MySQL. About 30 s on 2 cores.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from gameday import children
from gameday.deadline import wait_until
from gameday.errors import GamedayError
from gameday.sandbox import install, lifecycle
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import db, wordpress
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin
from gameday.sandbox.wordpress.php import run_script
from gameday.site import catalog
from tests.support import wordpress_stack as stack

NET = 60
SEED_N = 300
API = "/wp-json/gameday/v1"


@pytest.fixture(scope="module")
def wp_twin():
    install.install_all()  # a no-op when installed
    twin = Twin.create("wp-test", net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=0.5, backoff_cap=2.0,
                        workloads=[db.workload(twin), wordpress.bootstrap(twin, n=SEED_N),
                                   wordpress.workload(twin, replicas=1, max_replicas=1)])

    lifecycle.up(twin.paths, topology, prepare=lambda: stack.prepare(twin), timeout=150)
    yield twin
    link = wordpress.ETC / f"config-{wordpress.config_name(twin)}.php"
    assert link.is_symlink()
    lifecycle.down(twin.paths, wipe=True)
    assert not link.is_symlink(), f"sandbox down --wipe left {link}"


def _get(twin: Twin, route: str, **params) -> requests.Response:
    return requests.get(wordpress.url(twin, 1) + route, params=params, timeout=10)


def test_readyz_and_healthz(wp_twin):
    ready = _get(wp_twin, "/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "member": "wp-1"}
    assert _get(wp_twin, "/healthz").json()["alive"] is True


def test_api_lists_the_seeded_catalogue_and_finds_a_monograph_by_permalink(wp_twin):
    rows = {row["id"]: row for row in catalog.generate(SEED_N)}
    kinds = Counter(row["kind"] for row in rows.values())
    guidance = _get(wp_twin, f"{API}/posts", type="post", per_page=5).json()
    assert guidance["total"] == kinds["guidance"]
    first = guidance["items"][0]
    seeded = rows[first["gameday_id"]]
    assert first["title"] == seeded["title"] and first["category"] == seeded["category"]
    assert first["path"] == f"/{catalog.category_slug(seeded['category'])}/{seeded['slug']}/"
    assert _get(wp_twin, f"{API}/resolve", path=first["path"]).json()["id"] == first["id"]
    monographs = _get(wp_twin, f"{API}/posts", type="monograph", per_page=5).json()
    assert monographs["total"] == kinds["monograph"]
    listed = monographs["items"][-1]
    assert listed["path"] == f"/monographs/{rows[listed['gameday_id']]['slug']}/"
    found = _get(wp_twin, f"{API}/resolve", path=listed["path"])
    assert found.status_code == 200
    assert found.json()["id"] == listed["id"] and found.json()["content"] == rows[listed["gameday_id"]]["body"]
    assert _get(wp_twin, f"{API}/resolve", path="/monographs/no-such-medicine/").status_code == 404


def test_guidance_permalinks_and_category_archives_are_html_pages_on_a_fresh_install(wp_twin):
    """The bootstrap sets /%category%/%postname%/ after WordPress registered its taxonomies; their
    rewrite rules (the %category% tag, /category/<slug>/) exist only if it registers them again before
    flushing. Without that, these pages (43% of loadtests/traffic.yaml's mix) answered 404; without a
    theme installed they answered 200 with an empty body."""
    first = _get(wp_twin, f"{API}/posts", type="post", per_page=1).json()["items"][0]
    page = _reader_page(wp_twin, first["path"])
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"], first["path"]
    assert first["title"] in html.unescape(page.text)
    assert f"/themes/{install.WORDPRESS_THEME}/style.css" in page.text  # rendered by the site's theme
    archive = _reader_page(wp_twin, f"/category/{catalog.category_slug(first['category'])}/")
    assert archive.status_code == 200 and first["category"] in html.unescape(archive.text)
    assert _reader_page(wp_twin, "/category/no-such-category/").status_code == 404


def _reader_page(twin: Twin, path: str) -> requests.Response:
    """``path`` as a reader reaches it through the site's address (WordPress's home, the load balancer's
    ``twin.lb_url``, which this topology does not run): sent to wp-1 with that Host, so WordPress
    answers the page itself instead of its canonical redirect to the home address."""
    return requests.get(wordpress.url(twin, 1) + path, headers={"Host": urlsplit(twin.lb_url).netloc},
                        allow_redirects=False, timeout=10)


def test_search_falls_back_to_mysql_with_a_notice_when_opensearch_is_unreachable(wp_twin):
    term = next(row for row in catalog.generate(SEED_N) if row["kind"] == "monograph")["title"].split()[0]
    answer = _get(wp_twin, f"{API}/search", q=term)
    assert answer.status_code == 200
    assert answer.headers["X-Gameday-Degraded"] == "search"
    body = answer.json()
    assert body["source"] == "mysql" and body["fallback"] == "mysql"
    assert "OpenSearch unavailable" in body["notice"] and "127.60.70.1" in body["notice"]  # search through toxiproxy
    assert body["total"] >= 1 and any(term.lower() in item["title"].lower() for item in body["items"])


def test_publishing_writes_one_outbox_row_in_the_same_transaction(wp_twin):
    env = wordpress.cli_env(wp_twin)
    before = stack.sql(wp_twin, "SELECT COUNT(*) FROM wp_gameday_outbox")[0][0]
    published = json.loads(run_script("publish.php", env, stdin=json.dumps(
        {"title": "Gameday: switching from apixaban to warfarin", "content": "New advice.", "category": "Switching"})))
    assert stack.sql(wp_twin, "SELECT COUNT(*) FROM wp_gameday_outbox")[0][0] == before + 1
    event_type, post_id, version, payload = stack.sql(
        wp_twin, "SELECT event_type, post_id, version, payload FROM wp_gameday_outbox ORDER BY id DESC LIMIT 1")[0]
    assert (event_type, post_id, version) == ("article.published", published["id"], 1)
    assert json.loads(payload)["permalink"] == "/switching/gameday-switching-from-apixaban-to-warfarin/"
    assert _get(wp_twin, f"{API}/resolve", path=json.loads(payload)["permalink"]).json()["id"] == published["id"]
    # the same transaction: when the event cannot be written, the post is not there either
    stack.sql(wp_twin, "ALTER TABLE wp_gameday_outbox ADD CONSTRAINT gameday_test_refuse "
                  "CHECK (payload NOT LIKE '%%refused-by-the-outbox%%')")
    try:
        with pytest.raises(GamedayError, match="rolled back"):
            run_script("publish.php", env, stdin=json.dumps({"title": "Refused by the outbox", "content": "x"}))
    finally:
        stack.sql(wp_twin, "ALTER TABLE wp_gameday_outbox DROP CONSTRAINT gameday_test_refuse")
    assert stack.sql(wp_twin, "SELECT COUNT(*) FROM wp_posts WHERE post_title = 'Refused by the outbox'")[0][0] == 0
    assert stack.sql(wp_twin, "SELECT COUNT(*) FROM wp_gameday_outbox")[0][0] == before + 1


def test_taking_a_post_out_of_view_writes_its_removal_in_the_same_transaction(wp_twin):
    post_id = stack.publish(wp_twin, [{"title": "Gameday: a note to withdraw", "content": "Soon gone."}])[0]
    stack.sql(wp_twin, "ALTER TABLE wp_gameday_outbox ADD CONSTRAINT gameday_test_refuse_removals "
                       "CHECK (event_type <> 'article.removed')")
    try:
        for action in ("unpublish", "trash", "delete"):  # each refused with its event: nothing changed
            with pytest.raises(GamedayError, match="rolled back"):
                stack.remove(wp_twin, [(post_id, action)])
            assert stack.sql(wp_twin, "SELECT post_status, post_name FROM wp_posts WHERE ID = %s", (post_id,)) == [
                ("publish", "gameday-a-note-to-withdraw")], action  # the trash's slug suffix and meta undone too
            assert stack.sql(wp_twin, "SELECT COUNT(*) FROM wp_postmeta WHERE post_id = %s AND meta_key LIKE '\\_wp\\_%%'",
                             (post_id,)) == [(0,)], action
    finally:
        stack.sql(wp_twin, "ALTER TABLE wp_gameday_outbox DROP CONSTRAINT gameday_test_refuse_removals")
    assert stack.remove(wp_twin, [(post_id, "unpublish"), (post_id, "delete")]) == ["draft", "deleted"]
    rows = stack.sql(wp_twin, "SELECT event_type, version, payload FROM wp_gameday_outbox WHERE post_id = %s ORDER BY id",
                     (post_id,))
    assert [(kind, version, json.loads(payload)["action"]) for kind, version, payload in rows] == [
        ("article.published", 1, "published"), ("article.removed", 2, "unpublished"), ("article.removed", 3, "deleted")]
    assert json.loads(rows[1][2])["permalink"] == "/uncategorized/gameday-a-note-to-withdraw/"  # where it was public
    assert stack.sql(wp_twin, "SELECT COUNT(*) FROM wp_posts WHERE ID = %s", (post_id,)) == [(0,)]


def _pids(pid_file) -> set[int]:
    """A server's master (from its pid file) and every process under it."""
    master = psutil.Process(int(pid_file.read_text()))
    return {master.pid, *(child.pid for child in master.children(recursive=True))}


def test_killing_the_member_stops_php_fpm_and_nginx_and_it_is_restarted(wp_twin):
    client = SandboxClient(wp_twin.paths)
    before = client.member("wp-1")
    run = wordpress.run_dir(wp_twin, 1)
    fpm, nginx = _pids(run / "php-fpm.pid"), _pids(run / "nginx.pid")
    assert len(fpm) >= 2 and len(nginx) >= 2  # masters and their workers
    client.kill("wp-1")
    wait_until(lambda: not any(children.is_running(p) for p in fpm | nginx | {before["pid"]}),
               timeout=10, what="php-fpm and nginx of the killed wp-1 to be gone")
    after = client.wait_ready("wp-1", timeout=30)
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1
    assert [h for h in after["history"] if h["event"] == "exited"][-1]["signal"] == "SIGKILL"
    assert _get(wp_twin, "/readyz").status_code == 200
    assert _pids(run / "php-fpm.pid").isdisjoint(fpm)
