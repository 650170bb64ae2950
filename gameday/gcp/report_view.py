"""The load balancer's own view of a game day, from Cloud Monitoring, for the report beside Locust's.

Locust measures what its virtual readers saw; the HTTPS load balancer counts every request real
readers sent in the same window. When the environment has a ``cloud_monitoring`` block, the runner
asks for this after the last scenario (waiting, with a deadline, for the metrics' sampling delay)::

    view = lb_view(env.cloud_monitoring, start=t0, end=t1)
    # None (not configured), {"source": "cloud-monitoring", "success_ratio": ..., "p95_ms": ...,
    #  "p99_ms": ..., "by_class": {...}, ...}, or {"source": ..., "error": "..."} (never fatal)

``cloud_monitoring.report_wait_s`` bounds the wait (default: one sampling period plus the documented
visibility delay); ``report_wait_s: 0`` reads what has arrived without waiting.
"""

from __future__ import annotations

from typing import Any

from ..errors import GamedayError
from . import slo
from .client import Monitoring


def lb_view(cloud_monitoring: dict[str, Any], start: float, end: float, *, monitoring: Monitoring | None = None,
            poll_s: float = 15.0) -> dict[str, Any] | None:
    """Success ratio, p95/p99 and requests by class over ``start..end``, or why they could not be read."""
    if not cloud_monitoring.get("project") or not cloud_monitoring.get("url_map"):
        return None
    lb = slo.LoadBalancer.from_settings(cloud_monitoring)
    wait_s = float(cloud_monitoring.get("report_wait_s", slo.DEFAULT_WAIT_S))
    out: dict[str, Any] = {"source": "cloud-monitoring", "url_map": lb.url_map}
    try:
        mon = monitoring or Monitoring(lb.project)
        if wait_s > 0:
            measured = slo.measure(mon, lb, start, end, wait_s=wait_s, poll_s=min(poll_s, wait_s))
        else:
            measured = slo.read(mon, lb, start, end)
    except GamedayError as err:  # no data, not arrived, permission denied, quota, unavailable
        return {**out, "error": str(err)}
    return {**out, **measured.as_dict()}
