"""How a game day drives its load on each kind of target: local or distributed, and where it may send it."""

from __future__ import annotations

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
    for name in ("gke-staging.example", "gke-production.example"):
        assert load(name).load == {"workers": workers, "master_bind": "0.0.0.0:5557"}
