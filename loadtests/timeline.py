"""Per-second timeline recorder, running inside Locust (format: ``gameday.load.timeline``).

Two parts, wired by :func:`install` from the locustfile:

- a **collector** in every process that runs users (the local runner, or each worker): buckets
  every request by the wall-clock second it was *sent* (the ``start_time`` Locust passes with each
  request event, ``time.time()`` before sending) and by endpoint group, as latency histograms. Each second it sends the
  seconds that are complete - no request sent in them is still in flight - to the writer, with a
  watermark (every second before it is complete here). Locust's custom messages carry them, so
  the same path serves one process, ``--processes N`` and external workers.
- a **writer** in the process that owns the run (local runner or master): merges what every
  worker sent, and appends a second to the file once every connected worker's watermark has
  passed it (or it is older than ``pacing + 5 s``, so a lost worker cannot hold the file back).

Requests are sent through :func:`send` (the locustfile's users do) so that in-flight requests are
counted and a second is written as soon as it is complete; a request made some other way is
still recorded at its send second, and at worst written late (readers merge late rows).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import gevent

from gameday.load.timeline import ALL, GROUPS, SCHEMA, group_of, make_row, merge_hist, round_ms

log = logging.getLogger("gameday.timeline")

MESSAGE = "gameday_timeline"
FLUSH_INTERVAL = 1.0


class _Bucket:
    """One second x group: latency histogram, failures, status codes, and the send instants of its
    first and last failed request (what lets RTO and time-to-detect be read finer than a second)."""

    __slots__ = ("hist", "failures", "codes", "first_fail", "last_fail", "cdn_hits")

    def __init__(self) -> None:
        self.hist: dict[int, int] = {}
        self.failures = 0
        self.codes: dict[int, int] = {}
        self.first_fail: float | None = None
        self.last_fail: float | None = None
        self.cdn_hits: int | None = None  # answers with X-Cache: HIT; None while no answer carried X-Cache

    def add(self, ms: int, failed: bool, code: int, sent: float | None = None, cache: str | None = None) -> None:
        if cache is not None:  # the answer came through the CDN (its X-Cache: HIT or MISS)
            self.cdn_hits = (self.cdn_hits or 0) + (cache == "HIT")
        hist = self.hist
        hist[ms] = hist.get(ms, 0) + 1
        if failed:
            self.failures += 1
            if sent is not None:
                self._fail_span(sent, sent)
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1

    def _fail_span(self, first: float | None, last: float | None) -> None:
        if first is not None and (self.first_fail is None or first < self.first_fail):
            self.first_fail = first
        if last is not None and (self.last_fail is None or last > self.last_fail):
            self.last_fail = last

    def merge(self, data: dict) -> None:
        merge_hist(self.hist, data["hist"])
        self.failures += int(data["failures"])
        for code, n in data["codes"].items():
            self.codes[int(code)] = self.codes.get(int(code), 0) + int(n)
        self._fail_span(data.get("first_fail_at"), data.get("last_fail_at"))
        if data.get("cdn_hits") is not None:
            self.cdn_hits = (self.cdn_hits or 0) + int(data["cdn_hits"])

    def wire(self) -> dict:
        """Plain data for Locust's messages (string keys) and for rows."""
        return {"hist": {str(k): v for k, v in self.hist.items()}, "failures": self.failures,
                "codes": {str(k): v for k, v in self.codes.items()},
                "first_fail_at": None if self.first_fail is None else round(self.first_fail, 3),
                "last_fail_at": None if self.last_fail is None else round(self.last_fail, 3),
                "cdn_hits": self.cdn_hits}


class Collector:
    """Buckets requests by the second they were sent; ships complete seconds to the writer."""

    def __init__(self, send: Callable[[dict], None]):
        self._send = send
        self.buckets: dict[int, dict[str, _Bucket]] = {}
        self.inflight: dict[int, int] = {}
        self._greenlet: gevent.Greenlet | None = None

    def started(self, t0: float) -> int:
        second = int(t0)
        self.inflight[second] = self.inflight.get(second, 0) + 1
        return second

    def finished(self, second: int) -> None:
        left = self.inflight.get(second, 0) - 1
        if left > 0:
            self.inflight[second] = left
        else:
            self.inflight.pop(second, None)

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   exception: BaseException | None = None, context: dict | None = None,
                   response: Any = None, start_time: float | None = None, **_: Any) -> None:
        # Locust passes the wall-clock send time (time.time()) as start_time; older clients do not.
        t0 = start_time if start_time is not None else time.time() - (response_time or 0) / 1000.0
        group = context.get("gameday_group") if context else None
        if group is None:
            group = group_of(f"{request_type} {name}" if request_type == "POST" else name)
        code = getattr(response, "status_code", 0) or 0
        groups = self.buckets.get(int(t0))
        if groups is None:
            groups = self.buckets[int(t0)] = {}
        bucket = groups.get(group)
        if bucket is None:
            bucket = groups[group] = _Bucket()
        ms = response_time or 0
        headers = getattr(response, "headers", None)
        cache = headers.get("X-Cache") if headers is not None else None
        bucket.add(int(ms + 0.5) if ms < 99.5 else round_ms(ms), exception is not None, code, t0, cache)

    def watermark(self, now: float | None = None) -> int:
        """Every second before this one is complete (nothing sent in it is still in flight)."""
        current = int(time.time() if now is None else now)
        return min([current, *self.inflight])

    def drain(self, final: bool = False) -> dict:
        limit = None if final else self.watermark()
        ready = sorted(s for s in self.buckets if limit is None or s < limit)
        out = {str(s): {g: b.wire() for g, b in self.buckets.pop(s).items()} for s in ready}
        return {"watermark": limit if limit is not None else int(time.time()) + 1, "final": final, "buckets": out}

    def flush(self, final: bool = False) -> None:
        self._send(self.drain(final))

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while self._greenlet is not None:
            gevent.sleep(FLUSH_INTERVAL)
            self.flush()

    def stop(self) -> None:
        if self._greenlet is not None:
            greenlet, self._greenlet = self._greenlet, None
            greenlet.kill(block=False)
        self.flush(final=True)


class Writer:
    """Merges every collector's complete seconds and appends rows to the timeline file."""

    def __init__(self, environment: Any, path: Path, *, max_lag_s: float, meta: dict):
        self.env = environment
        self.path = path
        self.max_lag_s = max_lag_s
        self.meta = meta
        self.pending: dict[int, dict[str, _Bucket]] = {}
        self.watermarks: dict[str, tuple[int, float]] = {}  # node id -> (watermark, monotonic seen)
        self.users: dict[int, int] = {}
        self.targets: dict[int, float | None] = {}
        self.next_second: int | None = None
        self.stopped_second: int | None = None  # the test's last second, once it stopped
        self.last_second: int | None = None
        self.rows_written = 0
        self.late_rows = 0
        self._fh = None
        self._greenlet: gevent.Greenlet | None = None

    # ---- input -------------------------------------------------------------------------------
    def on_message(self, environment: Any = None, msg: Any = None, **_: Any) -> None:
        data = msg.data
        node = str(msg.node_id)
        for second, groups in data["buckets"].items():
            s = int(second)
            target = self.pending.setdefault(s, {})
            for group, wire in groups.items():
                (target.get(group) or target.setdefault(group, _Bucket())).merge(wire)
        self.watermarks[node] = (int(data["watermark"]), time.monotonic())

    def sample(self) -> None:
        """Record this second's user count and target rate (the writer's process runs the shape)."""
        second = int(time.time())
        runner = self.env.runner
        self.users[second] = int(getattr(runner, "user_count", 0) or 0)
        shape = self.env.shape_class
        self.targets[second] = getattr(shape, "current_target_rps", None) if shape is not None else None

    # ---- output ------------------------------------------------------------------------------
    def begin(self) -> None:
        if self._fh is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", buffering=1)  # one run, one timeline
        now = time.time()
        self.next_second = int(now)
        header = {"schema": SCHEMA, "started_at": round(now, 3), "groups": list(GROUPS), **self.meta}
        self._fh.write(json.dumps(header) + "\n")

    def start(self) -> None:
        """Write complete seconds every second until :meth:`finish`."""
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while self._greenlet is not None:
            self.sample()
            self.write_ready()
            gevent.sleep(FLUSH_INTERVAL)

    def _limit(self) -> int:
        """Write every second before this one."""
        now = time.time()
        nodes = self._expected_nodes()
        marks = []
        for node in nodes:
            mark = self.watermarks.get(node)
            marks.append(mark[0] if mark else (self.next_second or int(now)))
        limit = min(marks) if marks else int(now)
        # Nothing older than max_lag is held back (a lost worker, a request that never returns).
        return max(limit, int(now - self.max_lag_s))

    def _expected_nodes(self) -> list[str]:
        clients = getattr(self.env.runner, "clients", None)
        if clients is None:  # local runner: its own collector
            return ["local"]
        live = [str(c.id) for c in clients.values() if getattr(c, "state", None) != "missing"]
        return live or list(self.watermarks)

    def write_ready(self, final: bool = False) -> None:
        if self._fh is None or self.next_second is None:
            return
        if final:
            if self.stopped_second is None:
                self.stopped_second = int(time.time())
            limit = self.stopped_second + 1
            if self.pending:
                limit = max(limit, max(self.pending) + 1)
        else:
            limit = self._limit()
        # late data for seconds already written: write them now (readers merge duplicate rows)
        for s in sorted(x for x in self.pending if x < self.next_second):
            self._write_second(s, late=True)
        for s in range(self.next_second, limit):
            self._write_second(s)
        self.next_second = max(self.next_second, limit)
        self._fh.flush()

    def _write_second(self, s: int, late: bool = False) -> None:
        groups = self.pending.pop(s, {})
        total = _Bucket()
        lines = []
        for group in sorted(groups):
            b = groups[group]
            total.merge(b.wire())
            wire = b.wire()
            lines.append(make_row(s, group, b.hist, b.failures, wire["codes"], first_fail_at=wire["first_fail_at"],
                                  last_fail_at=wire["last_fail_at"], cdn_hits=wire["cdn_hits"]).as_dict())
        if late and not groups:
            return
        users = self.users.get(s, self.users.get(s - 1))
        target = self.targets.get(s, self.targets.get(s - 1))
        wire = total.wire()
        lines.append(make_row(s, ALL, total.hist, total.failures, wire["codes"], users=users,
                              target_rps=None if late else target, first_fail_at=wire["first_fail_at"],
                              last_fail_at=wire["last_fail_at"], cdn_hits=wire["cdn_hits"]).as_dict())
        for line in lines:
            self._fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.rows_written += len(lines)
        self.late_rows += len(lines) if late else 0
        self.last_second = s

    def finish(self) -> None:
        if self._greenlet is not None:
            greenlet, self._greenlet = self._greenlet, None
            greenlet.kill(block=False)
        if self._fh is not None:
            self.sample()
            self.write_ready(final=True)

    def close(self) -> None:
        self.finish()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ---- wiring ------------------------------------------------------------------------------------
def collector(environment: Any) -> Collector | None:
    return getattr(environment, "gameday_collector", None)


def send(user: Any, method: str, path: str, *, name: str, group: str, **kwargs: Any) -> Any:
    """Send one request through ``user.client``, counted in flight until Locust has recorded it."""
    coll = getattr(user.environment, "gameday_collector", None)
    if coll is None:
        return user.client.request(method, path, name=name, context={"gameday_group": group}, **kwargs)
    second = coll.started(time.time())
    try:
        return user.client.request(method, path, name=name, context={"gameday_group": group}, **kwargs)
    finally:
        coll.finished(second)


def install(events: Any, *, path_option: str = "timeline", meta: Callable[[Any], dict] | None = None,
            max_lag_s: Callable[[], float] = lambda: 15.0) -> None:
    """Hook the recorder on Locust's events. ``--timeline PATH`` (or ``GAMEDAY_TIMELINE``) turns it on."""

    @events.init.add_listener
    def _on_init(environment: Any, **_: Any) -> None:
        opts = environment.parsed_options
        path = getattr(opts, path_option, "") if opts is not None else os.environ.get("GAMEDAY_TIMELINE", "")
        runner = environment.runner
        if runner is None:
            return
        kind = type(runner).__name__
        is_worker = kind == "WorkerRunner"
        is_master = kind == "MasterRunner"
        if not is_worker and not path:
            return  # no timeline asked for
        if not is_worker:
            writer = Writer(environment, Path(path), max_lag_s=max_lag_s(),
                            meta=meta(environment) if meta else {})
            environment.gameday_writer = writer
            runner.register_message(MESSAGE, writer.on_message)
        if not is_master:
            coll = Collector(lambda data: runner.send_message(MESSAGE, data))
            environment.gameday_collector = coll
            environment.events.request.add_listener(coll.on_request)

    @events.test_start.add_listener
    def _on_test_start(environment: Any, **_: Any) -> None:
        writer = getattr(environment, "gameday_writer", None)
        if writer is not None:
            writer.begin()
            writer.start()
        coll = collector(environment)
        if coll is not None:
            coll.start()

    @events.test_stop.add_listener
    def _on_test_stop(environment: Any, **_: Any) -> None:
        coll = collector(environment)
        if coll is not None:
            coll.stop()
        writer = getattr(environment, "gameday_writer", None)
        if writer is not None:
            writer.finish()

    @events.quitting.add_listener
    def _on_quitting(environment: Any, **_: Any) -> None:
        writer = getattr(environment, "gameday_writer", None)
        if writer is not None:
            writer.close()
            log.info("timeline: %d rows (%d late) in %s", writer.rows_written, writer.late_rows, writer.path)
