"""The twin's web tier option (issue 17, C5a): ``gameday sandbox up --web wordpress`` builds the platform's
stack as the web tier (dormant: the default stays the Python site). The topologies built for each tier
(members, start order, environment), the tier kept in the twin's shape, the content schema the twin
names, and what is refused."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from gameday.cli import cli
from gameday.content import ARTICLES_TABLE, WORDPRESS
from gameday.errors import UsageError
from gameday.sandbox import topology, twin as twin_module
from gameday.sandbox.bootstrap import CONTENT_ENV
from gameday.sandbox.shape import Shape, Upstream
from gameday.sandbox.twin import Twin
from gameday.site.indexer import RELAY_ENV

NET = 33


def _twin(web: str = "python", **shape) -> Twin:
    twin = Twin.create("web-tier-test", net=NET)
    return dataclasses.replace(twin, shape=Shape(web=web, **shape))


def _names(topo) -> list[str]:
    return [w.name for w in topo.workloads]


def _assert_start_order(topo) -> None:
    seen: set[str] = set()
    for w in topo.workloads:
        missing = [a for a in w.after if a not in seen]
        assert not missing, f"{w.name} starts after {missing}, declared later or nowhere"
        seen.add(w.name)


def test_the_default_twin_still_runs_the_python_site():
    twin = Twin.create("web-tier-test", net=NET)
    assert twin.shape.web == "python" and not twin.shape.wordpress
    topo = topology.build(twin)
    names = _names(topo)
    for absent in ("cache", "wp-bootstrap", "relay", "media-backup"):
        assert absent not in names
    web = topo.workload("web")
    assert [m.name for m in web.members[:web.replicas]] == ["web-1", "web-2", "web-3"]
    assert "gunicorn" in web.members[0].argv and web.after == ["bootstrap", "toxiproxy"]
    assert RELAY_ENV not in topo.workload("indexer").members[0].env
    boot = topo.workload("bootstrap")
    assert CONTENT_ENV not in boot.members[0].env and boot.after == ["db", "kafka", "search"]
    assert twin.content_schema() is ARTICLES_TABLE
    _assert_start_order(topo)


def test_the_wordpress_twin_runs_the_platforms_stack_as_web_n():
    twin = _twin("wordpress")
    topo = topology.build(twin)
    names = _names(topo)
    assert names[:10] == ["toxiproxy", "db", "db-replica", "kafka", "search", "cache", "wp-bootstrap", "bootstrap",
                          "web", "relay"], names
    assert "wp" not in names and names.index("indexer") > names.index("bootstrap")
    _assert_start_order(topo)

    web = topo.workload("web")
    assert web.layer == "web" and web.replicas == 3 and web.max_replicas == 6
    assert [m.name for m in web.members] == [f"web-{i}" for i in range(1, 7)]  # D1: HAProxy's slots, scale web
    first = web.members[0]
    assert first.address == f"127.{NET}.20.1" and first.ports == {"http": 8000}
    assert "gameday.sandbox.wordpress.launch" in first.argv and "gunicorn" not in first.argv
    # the launcher renders web-1's configs itself, from its arguments (a web pod passes its own: C6)
    assert first.argv[first.argv.index("--member") + 1] == "web-1"
    assert first.argv[first.argv.index("--run-dir") + 1].endswith("/run/web-1")
    assert first.readiness == {"type": "http", "url": f"http://127.{NET}.20.1:8000/readyz", "failure_threshold": 3}
    assert first.labels["app"] == "wordpress" and first.labels["zone"] == "zone-a"
    assert any(f.endswith("redis.env") for f in first.env_files)
    assert set(web.after) == {"bootstrap", "toxiproxy", "cache"}

    cache = topo.workload("cache")
    assert cache.layer == "cache" and [m.address for m in cache.members] == [f"127.{NET}.66.1"]

    wp_boot = topo.workload("wp-bootstrap")
    assert wp_boot.kind == "job" and set(wp_boot.after) == {"toxiproxy", "db", "cache"}
    assert [m.name for m in wp_boot.members] == ["wp-bootstrap-1"]

    boot = topo.workload("bootstrap")  # topics, repository, then the index from WordPress's content
    assert "wp-bootstrap" in boot.after and boot.members[0].env[CONTENT_ENV] == "wordpress"

    relay = topo.workload("relay")
    assert relay.layer == "events" and relay.replicas == relay.max_replicas == 2  # D8: relay-1 relays, relay-2 stands by
    assert relay.after == ["bootstrap"]
    assert [m.address for m in relay.members] == [f"127.{NET}.65.1", f"127.{NET}.65.2"]
    assert [m.labels["zone"] for m in relay.members] == ["zone-a", "zone-b"]
    assert relay.members[0].env["GAMEDAY_RELAY_TABLE"] == WORDPRESS.outbox
    assert relay.members[0].env["GAMEDAY_KAFKA_BOOTSTRAP"] == twin.kafka_bootstrap()

    indexers = topo.workload("indexer").members
    assert all(m.env[RELAY_ENV] == "0" for m in indexers)  # R20: no Python relay polling a missing outbox
    assert topo.workload("lb").after == ["web"]
    assert twin.content_schema() is WORDPRESS

    media_backup = topo.workload("media-backup")  # the uploads on a schedule, beside the db backups and snapshots
    assert media_backup.layer == "jobs" and media_backup.after == ["bootstrap"]
    assert [m.name for m in media_backup.members] == ["media-backup-1"]
    assert "gameday.sandbox.media_backup_schedule" in media_backup.members[0].argv
    assert media_backup.members[0].labels["zone"] == "regional"
    assert "media-backup" not in _names(topology.build(twin, kubernetes=True))  # on GKE: the platform's own


def test_the_load_balancer_gives_wordpress_replicas_longer_checks_than_the_python_sites():
    """WordPress's /readyz boots WordPress and asks the database: on a saturated machine it took past 1 s on
    every replica at once and two misses emptied the backend (503 for 4-5 s from serving replicas), so its
    replicas get 2 s a check and 3 misses; the Python site keeps 1 s and 2."""
    from gameday.sandbox.members import lb

    def backend(web: str) -> str:
        cfg = lb.haproxy_cfg(_twin(web))
        return cfg[cfg.index("backend web"):]
    wordpress, python = backend("wordpress"), backend("python")
    assert "timeout check 2s" in wordpress and "fall 3 rise 1" in wordpress and "fastinter 500ms" in wordpress
    assert "timeout check" not in python and "fall 2 rise 1" in python and "fastinter 250ms" in python
    for cfg in (wordpress, python):
        assert "option httpchk GET /readyz" in cfg and "maxconn 64" in cfg


def test_layers_name_the_relay_and_the_cache():
    assert twin_module.LAYERS["events"] == 65 and twin_module.LAYERS["cache"] == 66
    assert len(set(twin_module.LAYERS.values())) == len(twin_module.LAYERS)
    twin = _twin("wordpress")
    assert twin.address("events") == f"127.{NET}.65.1" and twin.address("cache") == f"127.{NET}.66.1"


def test_wordpress_is_refused_where_it_does_not_run_yet():
    assert topology.build(_twin("wordpress"), kubernetes=True).workload("web").replicas == 0  # pods (C6)
    # a region set runs it (tests/unit/test_regions_wordpress.py): a standby builds without a refusal
    standby = _twin("wordpress", upstream=Upstream(twin="x", net=NET + 1, region="r1"))
    assert "wp-bootstrap" not in _names(topology.build(standby))


def test_the_web_tier_is_kept_in_the_shape(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    paths = Twin.create("web-tier-test", net=NET).paths
    assert Shape.load(paths).web == "python"  # no shape.json: the default
    Shape(web="wordpress").save(paths)
    assert Twin.create("web-tier-test", net=NET).shape.wordpress
    (paths.home / "shape.json").write_text('{"role": "region", "region": "r1"}')  # a shape from before --web
    assert Shape.load(paths).web == "python"


def test_sandbox_up_web_records_the_tier_and_refuses_going_back_over_wordpress_data(tmp_path, monkeypatch):
    from gameday.cli.sandbox import _with_web_tier
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("web-tier-test", net=NET)
    assert _with_web_tier(twin, None) is twin
    changed = _with_web_tier(twin, "wordpress")
    assert changed.shape.wordpress and Twin.create("web-tier-test", net=NET).shape.wordpress
    assert _with_web_tier(changed, None) is changed
    changed.paths.data.mkdir(parents=True, exist_ok=True)
    (changed.paths.data / "db-1").mkdir()
    with pytest.raises(UsageError, match="WordPress's data") as err:
        _with_web_tier(changed, "python")
    assert "--wipe" in err.value.hint
    assert Twin.create("web-tier-test", net=NET).shape.wordpress  # unchanged


def test_sandbox_up_help_and_a_bad_tier():
    runner = CliRunner()
    helped = runner.invoke(cli, ["sandbox", "up", "--help"])
    assert helped.exit_code == 0 and "--web [python|wordpress]" in helped.output
    bad = runner.invoke(cli, ["sandbox", "--name", "web-tier-test", "up", "--web", "drupal"])
    assert bad.exit_code == 2 and "drupal" in bad.output and "Traceback" not in bad.output
