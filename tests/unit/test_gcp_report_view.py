"""The load balancer's view in the report: read with the real client from the local MetricService,
shown beside Locust's; an unreadable view is said in the report, never fatal."""

from __future__ import annotations

import time

import grpc

from gameday.gcp.client import Monitoring, metric_client
from gameday.gcp.report_view import lb_view
from gameday.report import model, render
from tests.support.monitoring import monitoring  # noqa: F401 (fixture)

SETTINGS = {"project": "sps-test", "url_map": "k8s2-um-test", "report_wait_s": 5}


def mon(server) -> Monitoring:
    return Monitoring(SETTINGS["project"], metric_client(server.address), retry_s=1.0, timeout_s=5.0)


def test_the_day_as_the_load_balancer_counted_it_sits_beside_locusts(monitoring, tmp_path):
    now = time.time()
    monitoring.add_lb_window(url_map=SETTINGS["url_map"], start=now - 600, end=now, by_class={200: 5880, 503: 120},
                             latencies_ms=[40.0] * 95 + [900.0] * 5)
    view = lb_view(SETTINGS, now - 600, now, monitoring=mon(monitoring), poll_s=0.1)
    assert view["requests"] == 6000 and view["by_class"] == {"2xx": 5880, "5xx": 120}
    assert abs(view["success_ratio"] - 0.98) < 1e-9 and view["source"] == "cloud-monitoring"
    load = {"profile": "peak", "load_balancer": view,
            "summary": {"groups": {"all": {"requests": 3927, "failure_ratio": 0.00637, "p95_ms": 44.0, "p99_ms": 99.0,
                                           "codes": {"200": 3902, "503": 25}}}}}
    report = model.build(run_id="r1", started_at=now - 600, ended_at=now, target={"name": "gke-staging", "kind": "kubernetes"},
                         suite="kubernetes", scenarios=[], versions={}, interrupted=False, load=load)
    html = render.write(report, tmp_path / "run")["html"].read_text()
    assert 'id="traffic-locust"' in html and 'id="traffic-lb"' in html
    assert "98.00%" in html and "99.36%" in html and "5xx: 120" in html and "503: 25" in html


def test_cloud_cdns_hit_ratio_is_said_where_the_answers_carry_no_x_cache(monitoring, tmp_path):
    now = time.time()
    monitoring.add_lb_window(url_map=SETTINGS["url_map"], start=now - 600, end=now, by_class={200: 6000},
                             latencies_ms=[40.0] * 100, cache=(("HIT", 0.7), ("MISS", 0.3)))
    view = lb_view(SETTINGS, now - 600, now, monitoring=mon(monitoring), poll_s=0.1)
    assert view["by_cache_result"] == {"HIT": 4200, "MISS": 1800} and abs(view["cdn_hit_ratio"] - 0.7) < 1e-9
    # the load went through Cloud CDN (environment load.through_cdn): no X-Cache, so no ratio of its own
    edge = {"front_door": "https://www.sps.example", "origin": "https://www.sps.example", "hit_ratio": None,
            "model_hit_ratio": 0.6, "requests": 3000, "hits": 0, "origin_share": None}
    report = model.build(run_id="r3", started_at=now - 600, ended_at=now, target={"name": "gke", "kind": "kubernetes"},
                         suite="kubernetes", scenarios=[], versions={}, interrupted=False,
                         load={"profile": "peak", "load_balancer": view, "cdn": edge})
    html = " ".join(render.write(report, tmp_path / "run")["html"].read_text().split())
    assert "the load balancer's own count is below (the traffic model expects 60.00%)" in html
    assert ('<p id="traffic-cloud-cdn">Cloud CDN answered 70.00% of the 6000 requests the load balancer counted from '
            'its cache, so the origin served 30.00% of them') in html and "HIT 4200, MISS 1800" in html
    assert "not measured here" not in html


def test_a_view_that_cannot_be_read_says_why_and_the_report_still_renders(monitoring, tmp_path):
    now = time.time()
    monitoring.fail("ListTimeSeries", grpc.StatusCode.PERMISSION_DENIED, "Permission denied", times=1)
    view = lb_view(SETTINGS, now - 600, now, monitoring=mon(monitoring), poll_s=0.1)
    assert "denied permission" in view["error"] and "roles/monitoring.viewer" in view["error"]
    report = model.build(run_id="r2", started_at=now - 600, ended_at=now, target={"name": "gke", "kind": "kubernetes"},
                         suite="kubernetes", scenarios=[], versions={}, interrupted=False,
                         load={"profile": "peak", "load_balancer": view})
    html = render.write(report, tmp_path / "run")["html"].read_text()
    assert 'id="traffic-lb"' in html and "not read:" in html and 'id="traffic-cloud-cdn"' not in html
    empty = lb_view(SETTINGS, now - 600, now, monitoring=mon(monitoring), poll_s=0.1)  # no data at all
    assert "k8s2-um-test" in empty["error"] and "requests" not in empty
    assert lb_view({}, now - 600, now) is None  # not configured: nothing read, nothing shown
