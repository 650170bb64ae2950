"""A region set whose web tier is WordPress (issue 17, H), without a server: one tier in both regions'
shapes, the standby's topology (no WordPress install, the index from the replicated content, no outbox
relay running), the WordPress credentials the standby shares with its upstream, and WordPress
answering as the global front when a reader came in through it (D5; the rendered wp-config.php run by
the real ``php``, installed with WordPress by ``gameday sandbox install``)."""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile

import pytest

from gameday import content
from gameday.errors import GamedayError, UsageError
from gameday.sandbox import db_region, db_roles, topology
from gameday.sandbox import wordpress as files
from gameday.sandbox.bootstrap import CONTENT_ENV
from gameday.sandbox.members import event_relay, wordpress
from gameday.sandbox.regions import Regions
from gameday.sandbox.shape import Shape
from gameday.sandbox.twin import Twin
from gameday.site import seed


@pytest.fixture(autouse=True)
def _state(monkeypatch):
    with tempfile.TemporaryDirectory(prefix="gd-") as short:
        monkeypatch.setenv("GAMEDAY_STATE_DIR", short)
        yield
    monkeypatch.delenv(db_roles.ENV_VAR, raising=False)


def _set(name: str = "rw", net: int = 47, **primary) -> Regions:
    r = Regions.of(Twin.create(name, net))
    r.write_shapes(Shape(**primary) if primary else None)
    r = r.reload()
    for t in (r.primary, r.standby, r.front):
        t.paths.ensure()
    return r


def _start_order_ok(topo) -> None:
    seen: set[str] = set()
    for w in topo.workloads:
        assert not [a for a in w.after if a not in seen], f"{w.name} starts after {w.after}, not all before it"
        seen.add(w.name)


def test_both_regions_run_the_tier_r1_was_made_with():
    r = _set(web="wordpress", web_replicas=2)
    assert r.primary.shape.wordpress and r.standby.shape.wordpress and r.web_tier() == "wordpress"
    assert r.primary.shape.peer.twin == r.standby.name and r.primary.shape.web_replicas == 2
    assert r.standby.shape.standby and r.standby.shape.web_replicas == 1
    assert not _set("rp", 50).standby.shape.wordpress  # the default tier: the Python site


def test_a_twin_with_only_its_tier_recorded_becomes_the_sets_region_keeping_it():
    """``sandbox up --web wordpress --regions 2`` records the tier in each region's shape first (no peer,
    no upstream yet): the set's shapes are written over it, the tier kept, r2 made the standby."""
    rs = Regions.of(Twin.create("rt", 53))
    for t in rs.regions.values():
        Shape(web="wordpress").save(t.paths)
    rs.write_shapes()
    rs = rs.reload()
    assert rs.primary.shape.in_region_set and rs.primary.shape.peer.region == "r2"
    assert rs.standby.shape.standby and rs.standby.shape.upstream.twin == rs.primary.name
    assert rs.web_tier() == "wordpress"
    rs.write_shapes()  # kept once written
    assert Regions.of(Twin.create("rt", 53)).standby.shape.standby


def test_regions_with_different_tiers_are_refused():
    r = _set("rm", 56, web="wordpress")
    Shape(**{**r.standby.shape.__dict__, "web": "python"}).save(r.standby.paths)
    with pytest.raises(UsageError, match="different web tiers") as err:
        r.web_tier()
    assert "--wipe" in err.value.hint


def test_the_wordpress_standby_installs_nothing_and_runs_no_relay():
    r = _set(web="wordpress", web_replicas=2)
    standby = topology.build(r.standby)
    names = [w.name for w in standby.workloads]
    assert "wp-bootstrap" not in names and {"cache", "bootstrap", "web", "relay", "mirror"} <= set(names)
    _start_order_ok(standby)
    boot = standby.workload("bootstrap")  # the index from the replicated WordPress content
    assert boot.after == ["db", "kafka", "search"]
    assert boot.members[0].env[CONTENT_ENV] == "wordpress" and boot.members[0].env[seed.REPLICA_ENV] == "1"
    # it waits for the view the active region's wp-bootstrap makes after its last seeded item
    assert f"VIEW {content.VERSIONS_VIEW} AS" in content.WORDPRESS_VIEWS[0]
    relay = standby.workload(event_relay.WORKLOAD)
    assert relay.replicas == 0 and relay.max_replicas == 2  # declared: promote scales it up
    assert topology.relay_replicas(r.standby) == 0

    active = topology.build(r.primary)  # r1 installs and seeds WordPress and relays its outbox
    assert "wp-bootstrap" in active.workload("bootstrap").after
    assert active.workload(event_relay.WORKLOAD).replicas == topology.RELAY_REPLICAS == 2
    assert seed.REPLICA_ENV not in active.workload("bootstrap").members[0].env
    _start_order_ok(active)


def test_the_standby_shares_the_wordpress_credentials_privately():
    r = _set(web="wordpress")
    r1, r2 = r.primary, r.standby
    r1.db_password()
    r1.db_replication_password()
    wordpress.admin_password(r1)
    wordpress.publisher_password(r1)
    assert db_region.share_credentials(r2) == ["db.env", "db-replication.env", "wordpress-admin.env",
                                               "wordpress-publisher.env"]
    for f in (wordpress.admin_env_file, wordpress.publisher_env_file):
        assert f(r2).stat().st_mode & 0o777 == 0o600
        same = f(r2).read_bytes() == f(r1).read_bytes()
        assert same, f"{f(r2).name} differs from the upstream's"  # compared, never shown
    same = wordpress.publisher_credentials(r2) == wordpress.publisher_credentials(r1)
    assert same, "the standby's publisher credentials are not r1's"
    assert db_region.share_credentials(r2) == []  # already the same: nothing written


def test_a_python_standby_shares_the_database_credentials_only():
    r = _set("rq", 59)
    r.primary.db_password()
    r.primary.db_replication_password()
    assert db_region.share_credentials(r.standby) == ["db.env", "db-replication.env"]
    assert not wordpress.publisher_env_file(r.standby).exists()


def test_a_standby_of_an_upstream_without_wordpress_credentials_is_refused_by_name():
    r = _set("rn", 62, web="wordpress")
    r.primary.db_password()
    r.primary.db_replication_password()
    with pytest.raises(GamedayError, match="no wordpress-admin.env yet"):
        db_region.share_credentials(r.standby)


def _wp_home(config: str, host: str | None) -> str:
    """WP_HOME as the rendered wp-config.php defines it for a request with Host ``host`` (real php)."""
    asked = "" if host is None else f"$_SERVER['HTTP_HOST'] = {host!r};"
    out = subprocess.run(["php", "-r", f"{asked} require $argv[1]; echo WP_HOME, '|', WP_SITEURL;", config],
                         capture_output=True, text=True, timeout=30, check=True)
    home, siteurl = out.stdout.split("|")
    assert home == siteurl
    return home


def test_wordpress_answers_as_the_global_front_a_reader_came_through(tmp_path):
    r = _set(web="wordpress")
    front_urls = topology._front_urls(r.primary)
    assert front_urls == [r.front.lb_url, "http://site.rw-global.gameday.test:8080"]
    assert topology._front_urls(r.standby) == front_urls  # either region, the same front
    promoted = dataclasses.replace(r.standby, shape=dataclasses.replace(r.standby.shape, upstream=None))
    demoted = dataclasses.replace(r.primary, shape=dataclasses.replace(r.primary.shape, upstream=r.primary.shape.peer))
    assert topology._front_urls(promoted) == topology._front_urls(demoted) == front_urls  # after a move too
    assert topology._front_urls(Twin.create("alone", 65)) == []
    keys = ("TWIN", "CONFIG_NAME", "DB_NAME", "DB_USER", "DB_HOST", "CONTENT_DIR", "THEME", "MU_PLUGIN_DIR",
            "SEARCH_URLS", "SEARCH_HOSTS", "SEARCH_USER", "SEARCH_CA", "CONTENT_INDEX", "CACHE_ADDR", "CDN_PURGE")
    config = tmp_path / "wp-config.php"
    config.write_text(files.render("wp-config.php", {**{k: "x" for k in keys}, "PUBLISH_ACK_WAIT": "0.5",
                                                     "HOME": r.primary.lb_url, "ALSO_HOMES": " ".join(front_urls)}))
    front_host = r.front.lb_url.removeprefix("http://")
    assert _wp_home(str(config), front_host) == r.front.lb_url
    assert _wp_home(str(config), "SITE.rw-global.gameday.test:8080") == front_urls[1]
    for other in (r.primary.lb_url.removeprefix("http://"), "evil.example:8080", front_host.split(":")[0], "", None):
        assert _wp_home(str(config), other) == r.primary.lb_url, other  # anything else: the region's own


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "ftp://x", "http://x/path", "http://a b", "http://x'y", "http://"])
def test_a_site_address_that_is_not_one_is_refused_before_anything_is_written(tmp_path, bad):
    twin = Twin.create("bad-home", 66)
    with pytest.raises(ValueError, match="also_homes"):
        wordpress.prepare(twin, also_homes=[bad])
    assert not twin.paths.conf.exists()
