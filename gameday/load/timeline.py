"""The per-second load timeline: what RTO, availability and time-to-detect are read from.

Written while a test runs by the recorder inside Locust (``loadtests/timeline.py``), one JSON
object per line: a header, then one row per (second, endpoint group), plus one ``all`` row for
every second of the run (so a second in which nothing was sent is visible too)::

    {"schema": "gameday.load.timeline/v1", "started_at": 1767225600.12, "groups": [...], ...}
    {"t": 1767225601, "group": "article", "requests": 12, "failures": 0, "p50_ms": 9, "p95_ms": 21,
     "p99_ms": 30, "max_ms": 30, "rps": 12.0, "codes": {"200": 12}, "hist": {"9": 5, ...}}
    {"t": 1767225601, "group": "all", ..., "users": 200, "target_rps": 20.0}

``t`` is the wall-clock second (``int(time.time())``, the clock of the rest of a game day) in
which the requests were *sent*: a request stalled for 5 s counts, with its 5 s latency, in the
second it was sent, so a stall shows up at the seconds it began, not when it ended. ``hist`` is
the latency histogram (ms, rounded to 2 significant digits above 100 ms), so percentiles over
any window are exact to that rounding. A second with failures also carries ``first_fail_at`` and
``last_fail_at``, the send instants (ms) of its first and last failed request, so time to detect
and RTO can be read to a fraction of a second (``gameday.measure.recovery``)::

    tl = Timeline.load("reports/load-.../timeline.jsonl")
    for row in tl.series("all"):                 # one row per second, gaps filled with zero rows
        print(row.t, row.requests, row.failures, row.p95_ms)
    tl.window(t0, t1).p99_ms                     # any window, any group
    tl.achieved_vs_target()                      # {"target_requests": ..., "ratio": 0.98, ...}
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import UsageError

__all__ = ["SCHEMA", "GROUPS", "ALL", "Row", "Timeline", "round_ms", "percentile", "make_row", "group_of"]

SCHEMA = "gameday.load.timeline/v1"
GROUPS = ("home", "article", "monograph", "category", "search", "publish")
ALL = "all"


def group_of(name: str) -> str:
    """Endpoint group of a Locust request name (``/guidance/[slug]`` -> ``article``)."""
    if name in ("/", "home"):
        return "home"
    if name.startswith("/guidance/"):
        return "article"
    if name.startswith("/medicines/"):
        return "monograph"
    if name.startswith("/category/"):
        return "category"
    if name.startswith(("/search", "/api/search")):
        return "search"
    if name.startswith(("POST /api/articles", "/api/articles")):
        return "publish"
    return "other"


def round_ms(ms: float) -> int:
    """Latency bucket: exact below 100 ms, then 2 significant digits (at most 5% off)."""
    if ms < 100:
        return int(round(ms))
    digits = int(math.floor(math.log10(ms))) - 1
    step = 10 ** digits
    return int(round(ms / step) * step)


def percentile(hist: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram {latency_ms: count}; None when it is empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return float(ms)
    return float(max(hist))


def merge_hist(into: dict[int, int], other: dict) -> dict[int, int]:
    for ms, n in other.items():
        key = int(ms)
        into[key] = into.get(key, 0) + int(n)
    return into


@dataclass(frozen=True)
class Row:
    t: int
    group: str
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rps: float
    codes: dict[str, int] = field(default_factory=dict)
    hist: dict[int, int] = field(default_factory=dict)
    users: int | None = None
    target_rps: float | None = None
    first_fail_at: float | None = None  # wall-clock send instant of the second's first failed request
    last_fail_at: float | None = None   # ... and of its last one (ms precision)
    cdn_hits: int | None = None  # answers a CDN served from its cache (X-Cache: HIT); None: no answer came through one

    @property
    def successes(self) -> int:
        return self.requests - self.failures

    @property
    def success_ratio(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def cdn_hit_ratio(self) -> float | None:
        """The share of this row's requests a CDN answered from its cache; None when none came through one."""
        return round(self.cdn_hits / self.requests, 4) if self.cdn_hits is not None and self.requests else None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["hist"] = {str(k): v for k, v in sorted(self.hist.items())}
        if self.cdn_hits is None:
            out.pop("cdn_hits")
        if self.group != ALL:
            out.pop("users")
            out.pop("target_rps")
        if self.first_fail_at is None:
            out.pop("first_fail_at")
            out.pop("last_fail_at")
        return out


def make_row(t: int, group: str, hist: dict[int, int], failures: int, codes: dict[str, int], *,
             seconds: float = 1.0, users: int | None = None, target_rps: float | None = None,
             first_fail_at: float | None = None, last_fail_at: float | None = None, cdn_hits: int | None = None) -> Row:
    """A row from a latency histogram; ``seconds`` is the span it covers (1 for a timeline row)."""
    requests = sum(hist.values())
    return Row(t=t, group=group, requests=requests, failures=failures,
               p50_ms=percentile(hist, 0.50), p95_ms=percentile(hist, 0.95), p99_ms=percentile(hist, 0.99),
               max_ms=float(max(hist)) if hist else None, rps=round(requests / seconds, 3) if seconds else 0.0,
               codes=dict(sorted(codes.items())), hist=dict(hist), users=users, target_rps=target_rps,
               first_fail_at=first_fail_at, last_fail_at=last_fail_at, cdn_hits=cdn_hits)


def _merge_rows(rows: Iterable[Row], t: int, group: str, seconds: float = 1.0) -> Row:
    hist: dict[int, int] = {}
    codes: dict[str, int] = {}
    failures = 0
    users = target = None
    firsts: list[float] = []
    lasts: list[float] = []
    hits: int | None = None
    for r in rows:
        merge_hist(hist, r.hist)
        if r.cdn_hits is not None:
            hits = (hits or 0) + r.cdn_hits
        failures += r.failures
        if r.first_fail_at is not None:
            firsts.append(r.first_fail_at)
        if r.last_fail_at is not None:
            lasts.append(r.last_fail_at)
        for code, n in r.codes.items():
            codes[code] = codes.get(code, 0) + n
        users = r.users if r.users is not None else users
        target = r.target_rps if r.target_rps is not None else target
    return make_row(t, group, hist, failures, codes, seconds=seconds, users=users, target_rps=target,
                    first_fail_at=min(firsts, default=None), last_fail_at=max(lasts, default=None), cdn_hits=hits)


def _row_from_dict(d: dict, path: Path, lineno: int) -> Row:
    try:
        return Row(t=int(d["t"]), group=str(d["group"]), requests=int(d["requests"]), failures=int(d["failures"]),
                   p50_ms=d.get("p50_ms"), p95_ms=d.get("p95_ms"), p99_ms=d.get("p99_ms"), max_ms=d.get("max_ms"),
                   rps=float(d.get("rps", d["requests"])), codes=dict(d.get("codes") or {}),
                   hist={int(k): int(v) for k, v in (d.get("hist") or {}).items()},
                   users=d.get("users"), target_rps=d.get("target_rps"),
                   first_fail_at=d.get("first_fail_at"), last_fail_at=d.get("last_fail_at"),
                   cdn_hits=None if d.get("cdn_hits") is None else int(d["cdn_hits"]))
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{path}:{lineno}: not a timeline row ({err})",
                         hint="is this a timeline.jsonl written by `gameday load run`?") from None


class Timeline:
    """A loaded timeline; rows sorted by second then group, duplicates (late data) merged."""

    def __init__(self, header: dict, rows: list[Row], path: Path | None = None):
        self.header = header
        self.path = path
        merged: dict[tuple[int, str], list[Row]] = {}
        for r in rows:
            merged.setdefault((r.t, r.group), []).append(r)
        self.rows: list[Row] = [
            group_rows[0] if len(group_rows) == 1 else _merge_rows(group_rows, t, g)
            for (t, g), group_rows in sorted(merged.items())
        ]
        self._index = {(r.t, r.group): r for r in self.rows}

    @classmethod
    def load(cls, path: str | Path) -> "Timeline":
        path = Path(path)
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise UsageError(f"timeline {path} not found", hint="run `gameday load run` first") from None
        header: dict = {}
        rows: list[Row] = []
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except ValueError:
                if lineno == len(lines):
                    continue  # a line cut short by a crash: the rest is still good
                raise UsageError(f"{path}:{lineno}: not JSON", hint="the timeline is damaged") from None
            if "schema" in d:
                if d["schema"] != SCHEMA:
                    raise UsageError(f"{path}: schema {d['schema']!r}, expected {SCHEMA!r}")
                header = d
                continue
            rows.append(_row_from_dict(d, path, lineno))
        return cls(header, rows, path)

    # ---- views -------------------------------------------------------------------------------
    @property
    def start(self) -> int | None:
        return self.rows[0].t if self.rows else None

    @property
    def end(self) -> int | None:
        """The last second with a row (inclusive)."""
        return self.rows[-1].t if self.rows else None

    def groups(self) -> list[str]:
        return sorted({r.group for r in self.rows if r.group != ALL})

    def row(self, t: int, group: str = ALL) -> Row:
        """The row of second ``t`` (a zero row when nothing was sent in that second)."""
        return self._index.get((t, group)) or make_row(t, group, {}, 0, {})

    def series(self, group: str = ALL, start: int | None = None, end: int | None = None) -> Iterator[Row]:
        """One row per second from ``start`` to ``end`` inclusive (default: the whole run)."""
        if self.start is None:
            return
        first = self.start if start is None else int(start)
        last = self.end if end is None else int(end)
        for t in range(first, last + 1):
            yield self.row(t, group)

    def window(self, start: int | None = None, end: int | None = None, group: str = ALL) -> Row:
        """One row aggregating seconds ``start..end`` inclusive; ``rps`` is per second of the window."""
        rows = list(self.series(group, start, end))
        seconds = len(rows) or 1
        merged = _merge_rows(rows, rows[0].t if rows else 0, group, seconds=seconds)
        targets = [r.target_rps for r in rows if r.target_rps is not None]
        return Row(**{**merged.__dict__, "users": max((r.users or 0 for r in rows), default=None),
                      "target_rps": round(sum(targets) / len(targets), 3) if targets else None})

    def achieved_vs_target(self, *, skip_start_s: int = 2, skip_end_s: int = 1) -> dict:
        """Requests sent vs requests the profile asked for, over the seconds with a target.

        The first ``skip_start_s`` seconds (users still being spawned) and the last ``skip_end_s``
        (cut short by the stop) are left out.
        """
        rows = [r for r in self.series(ALL) if r.target_rps]
        rows = rows[skip_start_s: len(rows) - skip_end_s if skip_end_s else None]
        target = sum(r.target_rps or 0.0 for r in rows)
        sent = sum(r.requests for r in rows)
        return {"seconds": len(rows), "target_requests": round(target, 1), "sent_requests": sent,
                "target_rps": round(target / len(rows), 3) if rows else None,
                "achieved_rps": round(sent / len(rows), 3) if rows else None,
                "ratio": round(sent / target, 4) if target else None}

    def summary(self) -> dict:
        """Per group and overall: requests, failures, percentiles over the whole run, and the share a CDN
        answered from its cache (``cdn_hit_ratio``; None when no answer came through one)."""
        out = {}
        for group in [ALL, *self.groups()]:
            w = self.window(group=group)
            out[group] = {"requests": w.requests, "failures": w.failures,
                          "failure_ratio": round(w.failures / w.requests, 5) if w.requests else None,
                          "rps": w.rps, "p50_ms": w.p50_ms, "p95_ms": w.p95_ms, "p99_ms": w.p99_ms,
                          "max_ms": w.max_ms, "codes": w.codes, "cdn_hit_ratio": w.cdn_hit_ratio}
        return out
