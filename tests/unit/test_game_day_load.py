"""How a game day drives its load on each kind of target: local or distributed, and where it may send it."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.load.runner import check_host
from gameday.runner.gameday import load_options
from gameday.targets.environment import from_mapping, load

K8S = {"name": "gke-x", "kind": "kubernetes", "allowed": True, "site_url": "https://staging.sps.example.nhs.uk",
       "kubernetes": {"context": "c", "web": {"namespace": "w", "deployment": "wordpress", "selector": "app=wp"},
                      "kafka": {"namespace": "k", "cluster": "c", "brokers": "a=b", "controllers": "a=c",
                                "bootstrap": "k:9092"},
                      "search": {"namespace": "s", "cluster": "c", "nodes": "a=d", "url": "https://s:9200"}}}


def test_the_sandbox_runs_one_local_locust_on_loopback(tmp_path: Path):
    opts = load_options(load("sandbox-test"), "peak", "http://127.20.10.1:8080", 60, tmp_path)
    assert (opts.master, opts.expect_workers, opts.allow_hosts) == (False, 0, ())


@pytest.fixture
def local_site():
    """A real HTTP server on loopback: what the load runner checks it can reach before planning."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_suites_ramp_reaches_the_loads_schedule_and_the_models_is_the_default(tmp_path: Path, local_site):
    from gameday.load import runner as load_runner
    from gameday.runner import suite as suites

    env = load("sandbox-test")
    short = suites.load("smoke")  # load: {profile: peak, ramp_s: 3}
    run = load_runner.prepare(load_options(env, short.profile, local_site, 60, tmp_path / "a", ramp_s=short.ramp_s))
    assert short.ramp_s == 3 and run.schedule.ramp_s == 3 and run.env["GAMEDAY_LOAD_RAMP_S"] == "3.0"
    default = load_runner.prepare(load_options(env, "peak", local_site, 60, tmp_path / "b"))
    assert suites.load("default").ramp_s is None and default.schedule.ramp_s == default.model.ramp_s
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nload: {profile: peak, ramp_s: -1}\nscenarios: []\n")
    with pytest.raises(UsageError, match="ramp_s"):
        suites.load(str(bad))


def test_a_kubernetes_environment_with_workers_makes_the_runner_a_master_for_its_own_site(tmp_path: Path):
    env = from_mapping({**K8S, "load": {"workers": 3, "master_bind": "0.0.0.0:6000"}}, "test")
    opts = load_options(env, "peak", env.site_url, 60, tmp_path)
    assert (opts.master, opts.expect_workers, opts.master_bind_host, opts.master_bind_port) == (True, 3, "0.0.0.0", 6000)
    assert opts.allow_hosts == ("staging.sps.example.nhs.uk",)
    assert check_host(env.site_url, opts.allow_hosts) == env.site_url
    with pytest.raises(UsageError, match="only loopback"):
        check_host("https://www.example.org", opts.allow_hosts)


def test_an_environment_that_is_not_allow_listed_may_not_be_loaded(tmp_path: Path):
    env = from_mapping({**K8S, "allowed": False}, "test")
    assert load_options(env, "peak", env.site_url, 60, tmp_path).allow_hosts == ()


@pytest.mark.parametrize("block, message", [
    ({"workers": -1}, "workers must be a whole number"),
    ({"workers": "two"}, "workers must be a whole number"),
    ({"workers": 2, "master_bind": "5557"}, "master_bind must be HOST:PORT"),
    ({"worker": 2}, "worker"),
])
def test_a_bad_load_block_is_named(block, message):
    with pytest.raises(UsageError, match=message):
        from_mapping({**K8S, "load": block}, "test")


def test_the_gke_examples_plan_the_workers_deploy_runs():
    from gameday.load.distributed import worker_count
    from gameday.load.model import TrafficModel
    workers = worker_count(TrafficModel.load(None).plan(), "surge")
    for name in ("gke-staging.example", "gke-production.example"):  # their sites are behind Cloud CDN
        assert load(name).load == {"workers": workers, "master_bind": "0.0.0.0:5557", "through_cdn": True}


def test_the_load_goes_through_the_cdn_at_a_twins_front_door_or_where_the_environment_says_so():
    """Issue 17, C8: the twin's front door (HAProxy before Varnish) is not its origin: through the CDN. A GKE
    environment's site_url is both: through the CDN only when it says so (load.through_cdn, Cloud CDN)."""
    from gameday.runner.gameday import load_at_edge
    twin = load("sandbox-test")
    assert load_at_edge(twin, "http://127.20.10.1:8081", "http://127.20.10.1:8080")
    assert not load_at_edge(twin, "http://127.20.10.1:8080", "http://127.20.10.1:8080")  # no CDN: the origin
    assert not load_at_edge(twin, None, "http://127.20.10.1:8080")  # preflight never found a front door
    site = K8S["site_url"]
    assert not load_at_edge(from_mapping(K8S, "t"), site, site)
    assert load_at_edge(from_mapping({**K8S, "load": {"through_cdn": True}}, "t"), site, site)
    assert load("gke-production.example").load["through_cdn"] is True
