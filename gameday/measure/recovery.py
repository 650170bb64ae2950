"""RTO, time to detect and availability, read from the per-second load timeline (DESIGN.md).

- a second *meets the SLO* when requests were sent in it, their success ratio is at least
  ``min_success_ratio`` and their p95 at most ``max_p95_ms`` (a second with no requests proves
  nothing, so it does not meet it);
- **TTD** = first second failing the SLO at or after the fault - t_fault (0 when it failed at once);
- **RTO** = t_fault -> start of the first run of ``window_s`` consecutive seconds that all meet the
  SLO, after the first failure (0 when the SLO never failed; None when it never recovered);
- both are read finer than a second where the timeline allows: when the failing second failed on
  its error ratio (not latency), detection is the send instant of its first failed request, and
  recovery the send instant of the last failed request before the recovering window (the next
  request succeeded), so the error is one request interval, not one second;
- **availability** = successful / all requests from the fault to the end of the scenario.

    r = measure(timeline, t_fault=fault["fault_at"], t_end=scenario_end, slo=suite.slo)
    r.rto_s, r.ttd_s, r.availability

The SLO has no default here: this module cannot know the environment, so the caller passes it
(``targets.yaml``'s ``slo`` for the environment, then the suite's: :func:`gameday.runner.suite.resolve_slo`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..load.timeline import ALL, Row, Timeline


@dataclass(frozen=True)
class Slo:
    """What a good second is, and how many in a row end the RTO. No defaults: the values are
    targets.yaml's ``slo`` (``success_ratio``, ``p95_ms``, ``window_s``) for the environment."""

    min_success_ratio: float
    max_p95_ms: float
    window_s: int


@dataclass(frozen=True)
class Recovery:
    t_fault: float
    first_failed_second: int | None
    recovered_at: float | None
    ttd_s: float | None
    rto_s: float | None
    availability: float | None
    requests: int
    failures: int
    failed_seconds: int
    slo: Slo
    longest_good_s: int = 0  # the longest run of seconds meeting the SLO after the first failure (why RTO is None)

    def as_dict(self) -> dict:
        return {**asdict(self), "slo": asdict(self.slo)}


def meets(row: Row, slo: Slo) -> bool:
    if row.requests == 0:
        return False
    return _ratio_ok(row, slo) and _latency_ok(row, slo)


def _ratio_ok(row: Row, slo: Slo) -> bool:
    return row.requests > 0 and row.successes / row.requests >= slo.min_success_ratio


def _latency_ok(row: Row, slo: Slo) -> bool:
    return row.p95_ms is None or row.p95_ms <= slo.max_p95_ms


def _detected_at(row: Row, slo: Slo) -> float:
    """When a failing second began to fail: its first failed request if errors failed it."""
    if row.first_fail_at is not None and not _ratio_ok(row, slo):
        return row.first_fail_at
    return float(row.t)


def _recovered_at(before: Row, window_start: int, slo: Slo) -> float:
    """When the site came back, given the failing second just before the recovering window: the
    instant of its last failed request if only errors failed it (the next request succeeded)."""
    if before.last_fail_at is not None and not _ratio_ok(before, slo) and _latency_ok(before, slo):
        return before.last_fail_at
    return float(window_start)


def measure(timeline: Timeline, *, t_fault: float, slo: Slo, t_end: float | None = None,
            group: str = ALL) -> Recovery:
    """Judge the seconds from the fault to ``t_end`` (default: the end of the timeline)."""
    first = int(math.floor(t_fault))
    last = int(t_end) if t_end is not None else (timeline.end or first)
    rows = list(timeline.series(group, first, last))
    ok = [meets(r, slo) for r in rows]
    first_bad = next((i for i, good in enumerate(ok) if not good), None)
    recovered = None
    if first_bad is None:
        rto = 0.0
    else:
        rto = None
        for i in range(first_bad, len(ok) - slo.window_s + 1):
            if all(ok[i:i + slo.window_s]):
                recovered = round(_recovered_at(rows[i - 1], rows[i].t, slo), 3)
                rto = round(max(0.0, recovered - t_fault), 3)
                break
    window = timeline.window(first, last, group)
    return Recovery(
        t_fault=t_fault,
        first_failed_second=rows[first_bad].t if first_bad is not None else None,
        recovered_at=recovered,
        ttd_s=round(max(0.0, _detected_at(rows[first_bad], slo) - t_fault), 3) if first_bad is not None else None,
        rto_s=rto,
        availability=round(window.successes / window.requests, 5) if window.requests else None,
        requests=window.requests,
        failures=window.failures,
        failed_seconds=sum(1 for good in ok if not good),
        slo=slo,
        longest_good_s=_longest_run(ok[first_bad:]) if first_bad is not None else len(ok),
    )


def _longest_run(ok: list[bool]) -> int:
    best = run = 0
    for good in ok:
        run = run + 1 if good else 0
        best = max(best, run)
    return best
