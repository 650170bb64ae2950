"""Cloud CDN invalidated by the playbooks' flush-site-caches step on a GKE environment (``cloud_cdn``),
through Google's official Compute Engine client against a local Compute REST server (the protocol
boundary: tests/support/compute.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from gameday.errors import DeadlineExceeded, UsageError
from gameday.gcp import cdn
from gameday.recovery.layers import site_caches
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget
from tests.support.compute import ComputeServer

ROOT = Path(__file__).resolve().parents[2]
URL_MAP = "k8s2-um-1a2b3c4d-wordpress-sps-5e6f7g8h"  # environments/gke-staging.example.yaml's


def staging(**cloud_cdn) -> dict:
    raw = yaml.safe_load((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    env = copy.deepcopy(raw["configuration"]["gameday_environment"])
    del env["kubernetes"]["object_cache"], env["credentials"]["object_cache"]  # Memorystore: test_object_cache_gke
    if cloud_cdn:
        env["cloud_cdn"] = {**env["cloud_cdn"], **cloud_cdn}
    return env


@pytest.fixture
def compute(monkeypatch):
    server = ComputeServer(project="sps-staging", url_maps=(URL_MAP,), polls_to_done=2).start()
    monkeypatch.setenv(cdn.ENDPOINT_ENV, server.endpoint)
    yield server
    server.stop()


def fast(settings: dict, monitoring: dict | None = None, **changes) -> cdn.CloudCdn:
    return cdn.CloudCdn(**{**cdn.CloudCdn.from_settings(settings, monitoring).__dict__, "poll_s": 0.05, **changes})


def test_the_flush_step_on_gke_invalidates_every_page_and_waits_for_google(compute):
    target = KubernetesTarget(from_mapping(staging(timeout_s=10), "gke-staging"))
    said = site_caches.flushed(target)
    assert compute.invalidations == [{"url_map": URL_MAP, "path": "/*", "host": None}]  # done, at Google's word
    posted = compute.calls("POST", "/invalidateCache")
    assert [c["path"] for c in posted] == [f"/compute/v1/projects/sps-staging/global/urlMaps/{URL_MAP}/invalidateCache"]
    assert posted[0]["body"] == {"path": "/*"} and len(compute.calls("GET", "/operations/")) == 2
    assert said.startswith("object cache: none in this environment, nothing to empty; CDN: Cloud CDN's /* invalidated "
                           f"(url map {URL_MAP}, operation operation-0001-invalidate, "), said


def test_an_environment_without_cloud_cdn_invalidates_nothing(compute):
    env = staging()
    del env["cloud_cdn"]
    said = site_caches.flushed(KubernetesTarget(from_mapping(env, "gke-staging")))
    assert said.endswith("CDN: none in this environment, nothing to ban") and compute.requests == []


def test_one_host_and_path_and_the_url_map_from_cloud_monitoring(compute):
    done = fast({"path": "/guidance/*", "host": "www.sps.example.nhs.uk"}, {"project": "sps-staging", "url_map": URL_MAP})\
        .invalidate()
    assert compute.calls("POST")[0]["body"] == {"path": "/guidance/*", "host": "www.sps.example.nhs.uk"}
    assert done["invalidated"] and done["operation"] == "operation-0001-invalidate" and done["host"] == "www.sps.example.nhs.uk"
    with pytest.raises(UsageError, match="cloud_cdn: project and url_map not given"):
        cdn.CloudCdn.from_settings({"path": "/*"}, {})


def test_an_invalidation_still_running_at_the_deadline_names_its_operation(compute):
    compute.script(never=True)
    with pytest.raises(DeadlineExceeded) as err:
        fast({"project": "sps-staging", "url_map": URL_MAP}, timeout_s=0.5).invalidate()
    assert "operation-0001-invalidate" in str(err.value) and "RUNNING" in str(err.value)
    assert "readers may still be served cached pages" in str(err.value)
    assert "gcloud compute operations describe operation-0001-invalidate --global" in err.value.hint


@pytest.mark.parametrize("fault, times, error, words", [
    (("POST", "/invalidateCache", 403, "Required 'compute.urlMaps.invalidateCache' permission"), 1, cdn.CdnError,
     "roles/compute.loadBalancerAdmin"),
    (("POST", "/invalidateCache", 429, "Rate Limit Exceeded"), 1, cdn.CdnError, "rate-limited"),  # never re-sent
    (("GET", "-invalidate", 503, "Backend Error"), 1 + cdn.READ_RETRIES, cdn.CdnError, "unavailable"),
])
def test_api_errors_become_one_message_naming_the_fix(compute, fault, times, error, words):
    for _ in range(times):
        compute.fail(*fault)
    with pytest.raises(error) as err:
        fast({"project": "sps-staging", "url_map": URL_MAP}).invalidate(service=cdn.compute())
    assert words in str(err.value) + (err.value.hint or ""), (str(err.value), err.value.hint)
    assert URL_MAP in str(err.value)


def test_a_poll_that_meets_a_passing_error_is_asked_again(compute):
    compute.fail("GET", "-invalidate", 503, "Backend Error")
    done = fast({"project": "sps-staging", "url_map": URL_MAP}).invalidate()
    assert done["invalidated"] and len(compute.calls("POST")) == 1 and compute.invalidations


def test_an_unknown_url_map_or_a_failed_invalidation_is_said(compute):
    with pytest.raises(UsageError, match="no such url map") as err:
        fast({"project": "sps-staging", "url_map": "k8s2-um-typo"}).invalidate()
    assert "gcloud compute url-maps list" in err.value.hint
    compute.script(error="INTERNAL_ERROR")
    with pytest.raises(cdn.CdnError, match="failed: INTERNAL_ERROR: the invalidation failed"):
        fast({"project": "sps-staging", "url_map": URL_MAP}).invalidate()


def test_a_bad_path_is_refused_when_the_environment_is_read():
    with pytest.raises(UsageError) as err:
        from_mapping(staging(path="/guidance/*/old", timeout_s=0), "gke-staging")
    assert "cloud_cdn.path" in str(err.value) and "cloud_cdn.timeout_s" in str(err.value)  # every problem named


def test_a_plaintext_endpoint_must_be_loopback(monkeypatch):
    monkeypatch.setenv(cdn.ENDPOINT_ENV, "http://compute.example.com/")
    with pytest.raises(UsageError, match="loopback"):
        cdn.compute()


def test_the_step_waits_no_longer_than_its_time_left(compute):
    from gameday.recovery.context import Context
    from gameday.recovery.engine import run_step
    from gameday.recovery.layers import db

    compute.script(never=True)
    target = KubernetesTarget(from_mapping(staging(timeout_s=600), "gke-staging"))  # Cloud CDN may take 600 s ...
    done = run_step(db.CORE, db.FLUSH_AFTER_RESTORE, Context(target=target), step_timeout=1.0)  # ... the step has 1
    assert done.status == "failed" and done.seconds < 10, done
    assert "operation-0001-invalidate" in done.detail and "still be served cached pages" in done.detail, done.detail
