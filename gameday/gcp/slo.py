"""The HTTPS load balancer's SLO over a window, read from Cloud Monitoring (an independent view beside Locust's).

Load balancer metrics are sampled every 60 s and become visible up to 210 s later, so a window
that just ended has no data yet. :func:`measure` first waits, with a deadline, until a point at or
after the window's end has arrived, and says so plainly when it has not::

    lb = LoadBalancer(project="sps-staging", url_map="k8s2-um-abc-wordpress-web-xyz")
    mon = Monitoring(lb.project)
    slo = measure(mon, lb, start=t0, end=t0 + 300, wait_s=300)
    slo.success_ratio, slo.p95_ms, slo.p99_ms, slo.by_class      # {"2xx": 5120, "5xx": 3, ...}
    site = targets_yaml.load().slo("gke-staging")    # the SLO: targets.yaml's (gameday.recovery.targets_yaml)
    slo.meets(min_success_ratio=site["success_ratio"], max_p95_ms=site["p95_ms"])

Success ratio counts 5xx and class 0 (no response sent) as failures; 4xx are the client's.

The same request counts give Cloud CDN's hit ratio (``slo.cdn_hit_ratio``): each request carries the
metric label ``cache_result`` (``HIT``, ``PARTIAL_HIT``, ``MISS``, ``DISABLED`` when the backend has no
CDN; Google's metric list), and the share answered from the cache is HIT and PARTIAL_HIT over every
request the load balancer counted, the share the traffic model's ``cdn_hit_ratio`` means (the origin
sees the rest). None when no request was looked up in a cache (no CDN on this load balancer).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..deadline import Deadline
from ..errors import GamedayError, UsageError
from . import distribution
from .client import Monitoring

REQUEST_COUNT = "loadbalancing.googleapis.com/https/request_count"
TOTAL_LATENCIES = "loadbalancing.googleapis.com/https/total_latencies"
SAMPLE_PERIOD_S = 60
VISIBLE_AFTER_S = 210  # documented worst case before a sampled point can be read
DEFAULT_WAIT_S = SAMPLE_PERIOD_S + VISIBLE_AFTER_S + 30
FAILED_CLASSES = {"5xx", "no response"}
CACHE_HITS = {"HIT", "PARTIAL_HIT"}  # cache_result values answered (wholly or partly) from Cloud CDN's cache
CACHE_OFF = "DISABLED"  # cache_result of a request to a backend without Cloud CDN


class DataNotArrived(GamedayError):
    """The window's metrics had not arrived when the wait's deadline passed: nothing was judged."""


class NoData(UsageError):
    """Cloud Monitoring holds no request data at all for this load balancer in the window."""


@dataclass(frozen=True)
class LoadBalancer:
    """Which external HTTPS load balancer (``https_lb_rule`` resource) to read."""

    project: str
    url_map: str
    forwarding_rule: str | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any], source: str = "cloud_monitoring") -> "LoadBalancer":
        """From an environment file's ``cloud_monitoring`` mapping (project, url_map[, forwarding_rule])."""
        for key in ("project", "url_map"):
            if not settings.get(key):
                raise UsageError(f"{source}.{key} is missing", hint="see environments/gke-staging.example.yaml")
        return cls(project=str(settings["project"]), url_map=str(settings["url_map"]),
                   forwarding_rule=settings.get("forwarding_rule"))

    def filter(self, metric_type: str) -> str:
        terms = [f'metric.type = "{metric_type}"', 'resource.type = "https_lb_rule"',
                 f'resource.labels.url_map_name = "{self.url_map}"']
        if self.forwarding_rule:
            terms.append(f'resource.labels.forwarding_rule_name = "{self.forwarding_rule}"')
        return " AND ".join(terms)


@dataclass
class LbSlo:
    start: float
    end: float
    requests: int
    by_class: dict[str, int]
    success_ratio: float | None
    p95_ms: float | None
    p99_ms: float | None
    waited_s: float = 0.0
    by_cache_result: dict[str, int] = field(default_factory=dict)
    cdn_hit_ratio: float | None = None
    source: str = "cloud-monitoring"
    load_balancer: dict[str, Any] = field(default_factory=dict)

    def meets(self, *, min_success_ratio: float, max_p95_ms: float | None = None,
              max_p99_ms: float | None = None) -> bool:
        """True when the window met every given target; a window without requests does not."""
        if self.success_ratio is None or self.success_ratio < min_success_ratio:
            return False
        for value, limit in ((self.p95_ms, max_p95_ms), (self.p99_ms, max_p99_ms)):
            if limit is not None and (value is None or value > limit):
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _class_name(raw: str) -> str:
    """``response_code_class`` is an integer (500 for 5xx; 0 when no response was sent)."""
    try:
        code = int(raw)
    except (TypeError, ValueError):
        return str(raw)
    return "no response" if code == 0 else f"{code // 100}xx"


def _aggregation(start: float, end: float, group_by: list[str] | None = None) -> dict[str, Any]:
    from google.cloud.monitoring_v3 import Aggregation

    period = max(SAMPLE_PERIOD_S, math.ceil(end - start))
    agg = {"alignment_period": {"seconds": period}, "per_series_aligner": Aggregation.Aligner.ALIGN_DELTA,
           "cross_series_reducer": Aggregation.Reducer.REDUCE_SUM}
    if group_by:
        agg["group_by_fields"] = group_by
    return agg


def newest_point(mon: Monitoring, lb: LoadBalancer, start: float, now: float) -> float | None:
    """End time (unix s) of the newest raw request_count point between ``start`` and ``now``; None if none."""
    newest = None
    for series in mon.list_time_series(lb.filter(REQUEST_COUNT), start, now):
        for point in series.points:
            t = point.interval.end_time.timestamp()
            newest = t if newest is None or t > newest else newest
    return newest


def wait_for_data(mon: Monitoring, lb: LoadBalancer, start: float, end: float, *, wait_s: float = DEFAULT_WAIT_S,
                  poll_s: float = 15.0, clock: Callable[[], float] = time.time) -> float:
    """Block until a request_count point ending at or after ``end`` is readable; returns seconds waited.

    Raises :class:`DataNotArrived` (newest point so far, how long we waited) or :class:`NoData`
    (nothing at all since ``start``) when ``wait_s`` passes first."""
    deadline = Deadline(wait_s)
    began = time.monotonic()
    due = math.floor(end)  # the service keeps whole seconds
    newest = newest_point(mon, lb, start, clock())
    while newest is None or newest < due:
        if deadline.expired():
            break
        time.sleep(min(poll_s, deadline.remaining()) or poll_s)
        newest = newest_point(mon, lb, start, clock())
    else:
        return round(time.monotonic() - began, 3)
    waited = time.monotonic() - began
    if newest is None:
        raise NoData(f"Cloud Monitoring has no request_count data for url map {lb.url_map!r} in project "
                     f"{lb.project} since {_iso(start)} (waited {waited:.0f}s)",
                     hint="check cloud_monitoring.url_map in the environment file (gcloud compute url-maps list) "
                          "and that the load balancer served traffic in the window")
    raise DataNotArrived(f"Cloud Monitoring data for url map {lb.url_map!r} reaches {_iso(newest)}, not yet the "
                         f"window's end {_iso(end)}, after waiting {waited:.0f}s: the window was not judged",
                         hint=f"load balancer metrics arrive up to {VISIBLE_AFTER_S}s late; wait longer (wait_s) "
                              "or judge an older window")


def read(mon: Monitoring, lb: LoadBalancer, start: float, end: float) -> LbSlo:
    """Requests by response class and p95/p99 latency over [start, end], as Cloud Monitoring has them now."""
    by_class: dict[str, int] = {}
    by_cache: dict[str, int] = {}
    for series in mon.list_time_series(lb.filter(REQUEST_COUNT), start, end, _aggregation(
            start, end, ["metric.label.response_code_class", "metric.label.cache_result"])):
        count = sum(int(p.value.int64_value) for p in series.points)
        name = _class_name(series.metric.labels.get("response_code_class"))
        by_class[name] = by_class.get(name, 0) + count
        cache = series.metric.labels.get("cache_result")
        if cache:
            by_cache[cache] = by_cache.get(cache, 0) + count
    dists = [p.value.distribution_value for series in
             mon.list_time_series(lb.filter(TOTAL_LATENCIES), start, end, _aggregation(start, end))
             for p in series.points]
    try:
        merged = distribution.merge(dists)
    except ValueError as err:
        raise GamedayError(f"url map {lb.url_map!r}: {err}") from None
    p95 = p99 = None
    if merged:
        p95, p99 = (distribution.percentile(*merged, q) for q in (0.95, 0.99))
    requests = sum(by_class.values())
    failed = sum(n for name, n in by_class.items() if name in FAILED_CLASSES)
    looked_up = sum(n for name, n in by_cache.items() if name != CACHE_OFF)
    return LbSlo(start=start, end=end, requests=requests, by_class=dict(sorted(by_class.items())),
                 success_ratio=round(1 - failed / requests, 6) if requests else None,
                 p95_ms=_round(p95), p99_ms=_round(p99), by_cache_result=dict(sorted(by_cache.items())),
                 cdn_hit_ratio=(round(sum(by_cache.get(h, 0) for h in CACHE_HITS) / requests, 6)
                                if looked_up and requests else None),
                 load_balancer={"project": lb.project, "url_map": lb.url_map, "forwarding_rule": lb.forwarding_rule})


def measure(mon: Monitoring, lb: LoadBalancer, start: float, end: float, *, wait_s: float = DEFAULT_WAIT_S,
            poll_s: float = 15.0) -> LbSlo:
    """Wait for the window's data (see :func:`wait_for_data`), then :func:`read` it."""
    if end <= start:
        raise UsageError(f"the window must end after it starts ({_iso(start)} .. {_iso(end)})")
    waited = wait_for_data(mon, lb, start, end, wait_s=wait_s, poll_s=poll_s)
    slo = read(mon, lb, start, end)
    slo.waited_s = waited
    return slo


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
