"""A local gRPC server implementing the parts of Google Cloud Monitoring's MetricService that gameday calls.

Google Cloud cannot run here, so this is the protocol boundary: the real ``MetricServiceClient``
talks to it over gRPC (``GAMEDAY_MONITORING_ENDPOINT=127.0.0.1:PORT``). It keeps the rules of the
real service that our code could break: a point becomes readable only ``delay_s`` after its end
(the sampling delay), one point per series per write, at most 200 series per call, points written
in order, value types matching their descriptor. Faults are queued per method::

    server = MonitoringServer(delay_s=0.5).start()
    server.add_lb_window(url_map="um", end=now, ok=990, errors=10, latencies_ms=[...])
    server.fail("ListTimeSeries", grpc.StatusCode.PERMISSION_DENIED, "Permission denied", times=1)
    server.fail("CreateTimeSeries", grpc.StatusCode.RESOURCE_EXHAUSTED, "Quota exceeded", after=1)  # 2nd call
    ... server.calls("CreateTimeSeries") ... server.stop()
"""

from __future__ import annotations

import math
import re
import threading
import time
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.api import distribution_pb2, metric_pb2
from google.cloud import monitoring_v3 as m
from google.protobuf import empty_pb2

SERVICE = "google.monitoring.v3.MetricService"
TERM = re.compile(r'^\s*([\w.]+)\s*=\s*(?:"([^"]*)"|starts_with\("([^"]*)"\))\s*$')
LATENCY_BUCKETS = {"exponential_buckets": {"num_finite_buckets": 66, "growth_factor": 1.4, "scale": 1.0}}


class MonitoringServer:
    def __init__(self, *, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.series: list[m.TimeSeries] = []
        self.descriptors: dict[str, metric_pb2.MetricDescriptor] = {}
        self.requests: list[tuple[str, Any]] = []
        self._faults: dict[str, list[list]] = {}
        self._last_end: dict[tuple, float] = {}
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.address = ""

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> "MonitoringServer":
        handlers = {
            "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                self._list_time_series, request_deserializer=m.ListTimeSeriesRequest.deserialize,
                response_serializer=m.ListTimeSeriesResponse.serialize),
            "CreateTimeSeries": grpc.unary_unary_rpc_method_handler(
                self._create_time_series, request_deserializer=m.CreateTimeSeriesRequest.deserialize,
                response_serializer=empty_pb2.Empty.SerializeToString),
            "ListMetricDescriptors": grpc.unary_unary_rpc_method_handler(
                self._list_metric_descriptors, request_deserializer=m.ListMetricDescriptorsRequest.deserialize,
                response_serializer=m.ListMetricDescriptorsResponse.serialize),
            "CreateMetricDescriptor": grpc.unary_unary_rpc_method_handler(
                self._create_metric_descriptor, request_deserializer=m.CreateMetricDescriptorRequest.deserialize,
                response_serializer=metric_pb2.MetricDescriptor.SerializeToString),
        }
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)

    # ---- test controls ------------------------------------------------------------------------
    def fail(self, method: str, code: grpc.StatusCode, message: str, times: int | None = 1, after: int = 0) -> None:
        """After ``after`` more good calls, the next ``times`` calls of ``method`` (all when None) end with ``code``."""
        self._faults.setdefault(method, []).append([code, message, times, after])

    def calls(self, method: str) -> list[Any]:
        return [req for name, req in self.requests if name == method]

    def add(self, series: m.TimeSeries) -> None:
        self.series.append(series)

    def add_lb_window(self, *, url_map: str, start: float, end: float, by_class: dict[int, int],
                      latencies_ms: list[float], step_s: float = 60.0, forwarding_rule: str = "fr-1",
                      countries: tuple = (("United Kingdom", 0.75), ("Ireland", 0.25)),
                      cache: tuple = ()) -> None:
        """Load balancer samples every ``step_s`` over (start, end]: request counts split by response
        class (spread over client countries, and over ``cache``'s ``(cache_result, share)`` when given, as
        separate series), latencies in one distribution per point. Points ending in the future become
        readable as time reaches them (plus ``delay_s``)."""
        resource = {"type": "https_lb_rule", "labels": {"url_map_name": url_map, "forwarding_rule_name": forwarding_rule,
                                                        "project_id": "p"}}
        n = max(1, math.ceil((end - start) / step_s))
        ends = [end - (n - 1 - i) * step_s for i in range(n)]
        for code, count in by_class.items():
            for country, share in countries:
                for result, part in (cache or ((None, 1.0),)):
                    per = _spread(round(count * share * part), n)
                    labels = {"response_code_class": str(code), "client_country": country}
                    if result is not None:
                        labels["cache_result"] = result
                    self.add(m.TimeSeries(
                        metric={"type": "loadbalancing.googleapis.com/https/request_count", "labels": labels},
                        resource=resource, metric_kind="DELTA", value_type="INT64",
                        points=[{"interval": _interval(e - step_s, e), "value": {"int64_value": c}}
                                for e, c in zip(ends, per, strict=True)]))
        chunks = [latencies_ms[i::n] for i in range(n)]
        self.add(m.TimeSeries(
            metric={"type": "loadbalancing.googleapis.com/https/total_latencies", "labels": {"client_country": "UK"}},
            resource=resource, metric_kind="DELTA", value_type="DISTRIBUTION",
            points=[{"interval": _interval(e - step_s, e), "value": {"distribution_value": latency_distribution(c)}}
                    for e, c in zip(ends, chunks, strict=True)]))

    def written(self, metric_type: str | None = None) -> list[m.TimeSeries]:
        return [ts for req in self.calls("CreateTimeSeries") for ts in req.time_series
                if metric_type is None or ts.metric.type == metric_type]

    # ---- the service ----------------------------------------------------------------------------
    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.requests.append((method, request))
            queue = self._faults.get(method) or []
            fault = queue[0] if queue else None
            if fault is not None and fault[3] > 0:
                fault[3] -= 1
                fault = None
            elif fault is not None and fault[2] is not None:
                fault[2] -= 1
                if fault[2] <= 0:
                    queue.pop(0)
        if fault is not None:
            context.abort(fault[0], fault[1])

    def _list_time_series(self, request: m.ListTimeSeriesRequest, context: grpc.ServicerContext):
        self._enter("ListTimeSeries", request, context)
        terms = _parse_filter(request.filter, context)
        start = request.interval.start_time.timestamp() if request.interval.start_time else -math.inf
        end = request.interval.end_time.timestamp()
        visible_until = time.time() - self.delay_s
        found = []
        for ts in list(self.series):
            if not all(_matches(ts, field, value, prefix) for field, value, prefix in terms):
                continue
            points = [p for p in ts.points
                      if start <= p.interval.end_time.timestamp() <= end and p.interval.end_time.timestamp() <= visible_until]
            if points:
                found.append(m.TimeSeries(metric=ts.metric, resource=ts.resource, metric_kind=ts.metric_kind,
                                          value_type=ts.value_type, points=sorted(points, key=_end, reverse=True)))
        if request.aggregation and request.aggregation.per_series_aligner:
            found = _aggregate(found, request.aggregation, end, context)
        return m.ListTimeSeriesResponse(time_series=found)

    def _list_metric_descriptors(self, request: m.ListMetricDescriptorsRequest, context: grpc.ServicerContext):
        self._enter("ListMetricDescriptors", request, context)
        terms = _parse_filter(request.filter, context) if request.filter else []
        prefix = next((p for f, _, p in terms if f == "metric.type" and p), "")
        return m.ListMetricDescriptorsResponse(
            metric_descriptors=[d for t, d in sorted(self.descriptors.items()) if t.startswith(prefix)])

    def _create_metric_descriptor(self, request: m.CreateMetricDescriptorRequest, context: grpc.ServicerContext):
        self._enter("CreateMetricDescriptor", request, context)
        d = request.metric_descriptor
        if not d.type.startswith(("custom.googleapis.com/", "external.googleapis.com/")):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"metric type {d.type} is not a user-defined metric")
        self.descriptors[d.type] = d
        return d

    def _create_time_series(self, request: m.CreateTimeSeriesRequest, context: grpc.ServicerContext):
        self._enter("CreateTimeSeries", request, context)
        if len(request.time_series) > 200:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "at most 200 time series per request")
        seen = set()
        for ts in request.time_series:
            key = _key(ts)
            if key in seen:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"time series {key} appears twice in the request")
            seen.add(key)
            if len(ts.points) != 1:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "exactly one point per time series is required")
            descriptor = self.descriptors.get(ts.metric.type)
            kind = ts.points[0].value._pb.WhichOneof("value")
            if descriptor is not None:
                expected = {metric_pb2.MetricDescriptor.DOUBLE: "double_value", metric_pb2.MetricDescriptor.INT64:
                            "int64_value", metric_pb2.MetricDescriptor.BOOL: "bool_value"}[descriptor.value_type]
                if kind != expected:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{ts.metric.type} takes {expected}, not {kind}")
                unknown = set(ts.metric.labels) - {lab.key for lab in descriptor.labels}
                if unknown:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{ts.metric.type}: unknown labels {sorted(unknown)}")
            t = _end(ts.points[0])
            if t > time.time() + 300 or t < time.time() - 25 * 3600:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "points must be within 25 hours in the past")
            if key in self._last_end and t <= self._last_end[key]:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "One or more TimeSeries could not be written: Points must be written in order. One or more "
                              "of the points specified had an older start time than the most recent point.")
        for ts in request.time_series:
            self._last_end[_key(ts)] = _end(ts.points[0])
            self.series.append(ts)
        return empty_pb2.Empty()


# ---- helpers -------------------------------------------------------------------------------------
def latency_distribution(latencies_ms: list[float]) -> distribution_pb2.Distribution:
    d = distribution_pb2.Distribution(bucket_options=LATENCY_BUCKETS)
    eb = d.bucket_options.exponential_buckets
    counts = [0] * (eb.num_finite_buckets + 2)
    for v in latencies_ms:
        i = 0 if v < eb.scale else min(eb.num_finite_buckets + 1, 1 + int(math.log(v / eb.scale, eb.growth_factor)))
        counts[i] += 1
    while counts and counts[-1] == 0:
        counts.pop()  # the real service leaves trailing zeros out
    d.count = len(latencies_ms)
    d.mean = sum(latencies_ms) / len(latencies_ms) if latencies_ms else 0.0
    d.bucket_counts.extend(counts)
    return d


def _spread(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def _interval(start: float, end: float) -> dict:
    return {"start_time": _ts(start), "end_time": _ts(end)}


def _ts(t: float) -> dict:
    return {"seconds": int(t), "nanos": int((t - int(t)) * 1e9)}


def _end(point: Any) -> float:
    return point.interval.end_time.timestamp()


def _key(ts: m.TimeSeries) -> tuple:
    return (ts.metric.type, tuple(sorted(ts.metric.labels.items())), ts.resource.type,
            tuple(sorted(ts.resource.labels.items())))


def _parse_filter(text: str, context: grpc.ServicerContext) -> list[tuple[str, str, str | None]]:
    terms = []
    for part in text.split(" AND "):
        found = TERM.match(part)
        if not found:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot parse filter term {part!r}")
        terms.append((found.group(1), found.group(2), found.group(3)))
    return terms


def _field(ts: m.TimeSeries, name: str) -> str | None:
    if name == "metric.type":
        return ts.metric.type
    if name == "resource.type":
        return ts.resource.type
    for prefix, labels in (("metric.label", ts.metric.labels), ("resource.label", ts.resource.labels)):
        for form in (prefix + ".", prefix + "s."):
            if name.startswith(form):
                return labels.get(name[len(form):])
    return None


def _matches(ts: m.TimeSeries, name: str, value: str | None, prefix: str | None) -> bool:
    got = _field(ts, name)
    return got is not None and (got.startswith(prefix) if prefix is not None else got == value)


def _add(a: m.TypedValue | None, b: m.TypedValue, context: grpc.ServicerContext) -> m.TypedValue:
    if a is None:
        return m.TypedValue(b)
    kind = b._pb.WhichOneof("value")
    if kind == "int64_value":
        return m.TypedValue(int64_value=a.int64_value + b.int64_value)
    if kind == "double_value":
        return m.TypedValue(double_value=a.double_value + b.double_value)
    if kind == "distribution_value":
        x, y = a.distribution_value, b.distribution_value
        if x.bucket_options != y.bucket_options:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "distributions with different buckets")
        counts = [0] * max(len(x.bucket_counts), len(y.bucket_counts))
        for src in (x.bucket_counts, y.bucket_counts):
            for i, c in enumerate(src):
                counts[i] += c
        total = x.count + y.count
        mean = (x.mean * x.count + y.mean * y.count) / total if total else 0.0
        return m.TypedValue(distribution_value=distribution_pb2.Distribution(
            count=total, mean=mean, bucket_options=x.bucket_options, bucket_counts=counts))
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot sum {kind}")


def _aggregate(found: list[m.TimeSeries], agg: m.Aggregation, end: float, context: grpc.ServicerContext):
    """ALIGN_DELTA / ALIGN_SUM per series into periods ending at ``end``, then REDUCE_SUM by group_by_fields."""
    if agg.per_series_aligner not in (m.Aggregation.Aligner.ALIGN_DELTA, m.Aggregation.Aligner.ALIGN_SUM):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"aligner {agg.per_series_aligner.name} is not in this test server")
    period = agg.alignment_period.total_seconds()
    if period < 60:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "The alignment period must be at least 60 seconds")
    reduce = agg.cross_series_reducer == m.Aggregation.Reducer.REDUCE_SUM
    if agg.cross_series_reducer and not reduce:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "only REDUCE_SUM is in this test server")
    groups: dict[tuple, dict[float, m.TypedValue]] = {}
    heads: dict[tuple, m.TimeSeries] = {}
    for i, ts in enumerate(found):
        if reduce:
            group = tuple((f, _field(ts, f)) for f in agg.group_by_fields)
            metric_labels = {f.split(".")[-1]: v for f, v in group if f.startswith("metric.") and v is not None}
            head = m.TimeSeries(metric={"type": ts.metric.type, "labels": metric_labels},
                                resource={"type": ts.resource.type}, metric_kind=ts.metric_kind, value_type=ts.value_type)
        else:
            group, head = (i,), ts
        heads.setdefault(group, head)
        for p in ts.points:
            aligned = end - math.floor((end - _end(p)) / period) * period
            bucket = groups.setdefault(group, {})
            bucket[aligned] = _add(bucket.get(aligned), p.value, context)
    out = []
    for group, values in groups.items():
        head = heads[group]
        out.append(m.TimeSeries(metric=head.metric, resource=head.resource, metric_kind=head.metric_kind,
                                value_type=head.value_type,
                                points=[{"interval": _interval(t - period, t), "value": v}
                                        for t, v in sorted(values.items(), reverse=True)]))
    return out


@pytest.fixture
def monitoring(monkeypatch):
    """A running local MetricService, with ``GAMEDAY_MONITORING_ENDPOINT`` pointing at it."""
    server = MonitoringServer().start()
    monkeypatch.setenv("GAMEDAY_MONITORING_ENDPOINT", server.address)
    yield server
    server.stop()
