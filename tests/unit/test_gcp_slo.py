"""Cloud Monitoring SLO probes with the real MetricServiceClient against a local gRPC MetricService."""

from __future__ import annotations

import random
import time

import grpc
import pytest
from chaoslib.exceptions import InterruptExecution

from gameday.chaos.gcp import probes
from gameday.errors import UsageError
from gameday.gcp import distribution, slo
from gameday.gcp.client import GcpError, Monitoring, metric_client
from tests.support.monitoring import MonitoringServer, latency_distribution, monitoring  # noqa: F401 (fixture)

LB = slo.LoadBalancer(project="sps-test", url_map="k8s2-um-test")


def latencies(n: int = 2000, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(4.0, 0.6) for _ in range(n)]  # median ~55 ms


def true_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def mon_for(server: MonitoringServer, retry_s: float = 5.0) -> Monitoring:
    return Monitoring(LB.project, metric_client(server.address), retry_s=retry_s, timeout_s=5.0)


def test_reads_requests_by_class_and_latency_percentiles(monitoring):
    now = time.time()
    lat = latencies()
    monitoring.add_lb_window(url_map=LB.url_map, start=now - 300, end=now, by_class={200: 1900, 400: 60, 500: 40},
                             latencies_ms=lat)
    monitoring.add_lb_window(url_map="another-lb", start=now - 300, end=now, by_class={500: 999}, latencies_ms=[9e4])
    result = slo.measure(mon_for(monitoring), LB, now - 300, now, wait_s=10, poll_s=0.05)
    assert result.by_class == {"2xx": 1900, "4xx": 60, "5xx": 40} and result.requests == 2000
    assert result.success_ratio == pytest.approx(0.98)  # 4xx is the client's fault, not an outage
    for got, q in ((result.p95_ms, 0.95), (result.p99_ms, 0.99)):
        assert got == pytest.approx(true_quantile(lat, q), rel=0.4)  # within one 1.4x bucket
    assert result.p95_ms < result.p99_ms
    reads = monitoring.calls("ListTimeSeries")
    counted = [r for r in reads if "request_count" in r.filter and r.aggregation.cross_series_reducer]
    assert counted and list(counted[-1].aggregation.group_by_fields) == ["metric.label.response_code_class",
                                                                         "metric.label.cache_result"]
    assert result.cdn_hit_ratio is None and result.by_cache_result == {}  # no cache label: no CDN, not 0
    assert 'resource.labels.url_map_name = "k8s2-um-test"' in counted[-1].filter
    assert result.meets(min_success_ratio=0.97, max_p95_ms=1e4) and not result.meets(min_success_ratio=0.99)
    assert not result.meets(min_success_ratio=0.9, max_p99_ms=1.0)


def test_cloud_cdns_hit_ratio_is_read_from_the_same_request_counts(monitoring):
    now = time.time()
    # 60 % answered from the cache (HIT 55 %, PARTIAL_HIT 5 %), 30 % missed, 10 % to a backend without CDN
    cache = (("HIT", 0.55), ("PARTIAL_HIT", 0.05), ("MISS", 0.30), ("DISABLED", 0.10))
    monitoring.add_lb_window(url_map=LB.url_map, start=now - 300, end=now, by_class={200: 2000}, latencies_ms=latencies(),
                             cache=cache)
    result = slo.measure(mon_for(monitoring), LB, now - 300, now, wait_s=10, poll_s=0.05)
    assert result.by_cache_result == {"DISABLED": 200, "HIT": 1100, "MISS": 600, "PARTIAL_HIT": 100}
    assert result.requests == 2000 and result.by_class == {"2xx": 2000}  # each request counted once
    assert result.cdn_hit_ratio == pytest.approx(0.60)  # over every request: the share the origin did not see
    # a load balancer whose backends have no CDN: every request DISABLED, no hit ratio (not 0 %)
    monitoring.add_lb_window(url_map="no-cdn", start=now - 300, end=now, by_class={200: 500}, latencies_ms=[30.0],
                             cache=(("DISABLED", 1.0),))
    plain = slo.measure(mon_for(monitoring), slo.LoadBalancer(project="sps-test", url_map="no-cdn"), now - 300, now,
                        wait_s=10, poll_s=0.05)
    assert plain.by_cache_result == {"DISABLED": 500} and plain.cdn_hit_ratio is None


def test_waits_for_the_sampling_delay_before_judging(monitoring):
    monitoring.delay_s = 1.0  # points become readable one second after they end
    now = time.time()
    monitoring.add_lb_window(url_map=LB.url_map, start=now - 120, end=now, by_class={200: 500}, latencies_ms=[20.0] * 500)
    result = slo.measure(mon_for(monitoring), LB, now - 120, now, wait_s=30, poll_s=0.1)
    assert result.requests == 500 and result.waited_s > 0
    assert len(monitoring.calls("ListTimeSeries")) > 3  # polled until the window's last point was there


def test_data_that_has_not_arrived_is_not_judged(monitoring):
    now = time.time()
    monitoring.add_lb_window(url_map=LB.url_map, start=now - 600, end=now - 240, by_class={200: 100},
                             latencies_ms=[20.0] * 100)
    with pytest.raises(slo.DataNotArrived) as err:
        slo.measure(mon_for(monitoring), LB, now - 300, now, wait_s=0.5, poll_s=0.1)
    text = str(err.value)
    assert "not judged" in text and "not yet the window's end" in text and "210s late" in text


def test_no_data_at_all_names_the_url_map_to_check(monitoring):
    now = time.time()
    with pytest.raises(slo.NoData) as err:
        slo.measure(mon_for(monitoring), LB, now - 300, now, wait_s=0.2, poll_s=0.1)
    assert "k8s2-um-test" in str(err.value) and "url-maps list" in str(err.value)
    assert isinstance(err.value, UsageError)


@pytest.mark.parametrize("code, words", [
    (grpc.StatusCode.PERMISSION_DENIED, ["denied permission", "roles/monitoring.viewer", "sps-test"]),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ["quota exhausted", "retry"]),
    (grpc.StatusCode.UNAUTHENTICATED, ["rejected the credentials", "GOOGLE_APPLICATION_CREDENTIALS"]),
    (grpc.StatusCode.NOT_FOUND, ["no such resource", "project id"]),
])
def test_errors_become_one_message_naming_the_fix(monitoring, code, words):
    monitoring.fail("ListTimeSeries", code, "the service said no", times=None)
    now = time.time()
    with pytest.raises((GcpError, UsageError)) as err:
        slo.measure(mon_for(monitoring), LB, now - 300, now, wait_s=1, poll_s=0.1)
    text = str(err.value)
    assert all(w in text for w in words), text
    assert "\n" not in text and "the service said no" in text


def test_unavailable_is_retried_then_reported(monitoring):
    now = time.time()
    monitoring.add_lb_window(url_map=LB.url_map, start=now - 120, end=now, by_class={200: 10}, latencies_ms=[5.0] * 10)
    monitoring.fail("ListTimeSeries", grpc.StatusCode.UNAVAILABLE, "try again", times=2)
    assert slo.measure(mon_for(monitoring), LB, now - 120, now, wait_s=5, poll_s=0.1).requests == 10

    monitoring.fail("ListTimeSeries", grpc.StatusCode.UNAVAILABLE, "down for maintenance", times=None)
    with pytest.raises(GcpError) as err:
        slo.measure(mon_for(monitoring, retry_s=0.5), LB, now - 120, now, wait_s=5, poll_s=0.1)
    assert "unavailable" in str(err.value) and "try again in a minute" in str(err.value)


def seed_live(server: MonitoringServer, *, ahead_s: float, ok_per_s: int = 99, failed_per_s: int = 1) -> None:
    """One sample a second from a minute ago until ``ahead_s`` from now, each with the same mix, so a
    window ending whenever the probe runs finds its data arriving (points are readable once they end)."""
    now = time.time()
    n = int(60 + ahead_s)
    server.add_lb_window(url_map=LB.url_map, start=now + ahead_s - n, end=now + ahead_s, step_s=1.0,
                         by_class={200: ok_per_s * n, 500: failed_per_s * n}, latencies_ms=[30.0] * n * 10,
                         countries=(("United Kingdom", 1.0),))


def test_steady_state_probe_reads_the_environment_cloud_monitoring_block(monitoring):
    seed_live(monitoring, ahead_s=10)
    configuration = {"gameday_environment": {
        "name": "gke-test", "kind": "sandbox", "allowed": True,
        "cloud_monitoring": {"project": LB.project, "url_map": LB.url_map}}}
    assert probes.lb_meets_slo(min_success_ratio=0.99, max_p95_ms=100, window_s=30, wait_s=5, poll_s=0.1,
                               configuration=configuration) is True
    assert probes.lb_meets_slo(min_success_ratio=0.999, window_s=30, wait_s=5, poll_s=0.1,
                               configuration=configuration) is False
    summary = probes.lb_slo(window_s=30, wait_s=5, poll_s=0.1, configuration=configuration)
    assert set(summary["by_class"]) == {"2xx", "5xx"} and summary["success_ratio"] == pytest.approx(0.99)
    assert summary["source"] == "cloud-monitoring"

    del configuration["gameday_environment"]["cloud_monitoring"]
    with pytest.raises(InterruptExecution, match="no cloud_monitoring block"):
        probes.lb_meets_slo(configuration=configuration)


def test_a_plaintext_endpoint_must_be_loopback(monkeypatch):
    monkeypatch.setenv("GAMEDAY_MONITORING_ENDPOINT", "monitoring.example.com:443")
    with pytest.raises(UsageError, match="loopback"):
        metric_client()


def test_missing_application_default_credentials_say_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.delenv("GAMEDAY_MONITORING_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    with pytest.raises(UsageError) as err:
        Monitoring("sps-test")
    assert "no usable Google credentials" in str(err.value) and "gcloud auth application-default login" in str(err.value)


def _options(kind: str, **fields):
    return latency_distribution([]).__class__(bucket_options={kind: fields}).bucket_options


def test_percentiles_from_linear_explicit_and_exponential_buckets():
    linear = _options("linear_buckets", num_finite_buckets=10, width=10, offset=0)
    # underflow 0, ten buckets of 10 counts each [0,10) .. [90,100), overflow 0
    counts = [0] + [10] * 10
    assert distribution.percentile(linear, counts, 0.5) == pytest.approx(50)
    assert distribution.percentile(linear, counts, 0.95) == pytest.approx(95)
    explicit = _options("explicit_buckets", bounds=[0, 100, 1000])
    assert distribution.percentile(explicit, [0, 90, 10], 0.95) == pytest.approx(550)
    assert distribution.percentile(explicit, [0, 90, 0, 10], 0.99) == 1000  # overflow reads as its lower bound
    assert distribution.percentile(explicit, [], 0.5) is None
    merged = distribution.merge([latency_distribution([10.0] * 50), latency_distribution([100.0] * 50)])
    assert merged is not None and sum(merged[1]) == 100
    assert distribution.percentile(*merged, 0.25) < 15 and distribution.percentile(*merged, 0.75) > 70


def test_chaos_run_uses_it_as_a_steady_state_probe(monitoring, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    seed_live(monitoring, ahead_s=60, ok_per_s=100, failed_per_s=0)
    probe = {"type": "probe", "name": "lb-meets-slo", "tolerance": True,
             "provider": {"type": "python", "module": "gameday.chaos.gcp.probes", "func": "lb_meets_slo",
                          "arguments": {"min_success_ratio": 0.99, "max_p95_ms": 500, "window_s": 30,
                                        "wait_s": 30, "poll_s": 0.2}}}
    experiment = {"version": "1.0.0", "title": "The load balancer meets its SLO", "description": "read-only",
                  "configuration": {"gameday_environment": "sandbox"},  # the var file replaces it
                  "steady-state-hypothesis": {"title": "SLO met", "probes": [probe]},
                  "method": [{"type": "probe", "name": "lb-slo",
                              "provider": {"type": "python", "module": "gameday.chaos.gcp.probes", "func": "lb_slo",
                                           "arguments": {"window_s": 30, "wait_s": 30, "poll_s": 0.2}}}]}
    (tmp_path / "exp.json").write_text(json.dumps(experiment))
    (tmp_path / "env.yaml").write_text(yaml.safe_dump({"configuration": {"gameday_environment": {
        "name": "gcp-test", "kind": "sandbox", "allowed": True,
        "cloud_monitoring": {"project": LB.project, "url_map": LB.url_map}}}}))
    chaos = str(Path(sys.executable).with_name("chaos"))
    out = subprocess.run([chaos, "--no-log-file", "run", "--journal-path", str(tmp_path / "journal.json"),
                          "--var-file", str(tmp_path / "env.yaml"), str(tmp_path / "exp.json")],
                         cwd=tmp_path, env={**os.environ, "GAMEDAY_MONITORING_ENDPOINT": monitoring.address},
                         capture_output=True, text=True, timeout=120)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert out.returncode == 0 and journal["status"] == "completed", out.stderr[-2000:]
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    output = journal["run"][0]["output"]
    assert output["by_class"].get("5xx", 0) == 0 and output["requests"] >= 100 * 29
