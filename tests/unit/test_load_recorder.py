"""The timeline recorder's bookkeeping (``loadtests/timeline.py``), driven directly without Locust.

The recorder talks to Locust through two things only: request events (keyword arguments) and
custom messages (objects with ``.data`` and ``.node_id``). Both are plain data here; the whole
path with real Locust processes is covered in tests/integration/test_load.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))
import timeline as recorder  # noqa: E402  (imports gevent, never Locust)

from gameday.load.timeline import Timeline, make_row  # noqa: E402


def request(coll: recorder.Collector, t0: float, ms: float, group: str = "article", code: int = 200,
            failed: bool = False, headers: dict | None = None) -> None:
    coll.on_request(request_type="GET", name="/guidance/[slug]", response_time=ms, response_length=10,
                    exception=RuntimeError("503") if failed else None, context={"gameday_group": group},
                    response=SimpleNamespace(status_code=code, headers=headers), start_time=t0)


def test_a_second_is_held_back_while_a_request_sent_in_it_is_in_flight():
    sent: list[dict] = []
    coll = recorder.Collector(sent.append)
    stalled = coll.started(100.2)            # sent at 100, not back yet
    request(coll, 100.5, 12)
    request(coll, 101.1, 8)
    coll.flush()
    assert sent[-1]["watermark"] == 100 and sent[-1]["buckets"] == {}
    request(coll, 100.2, 5000)                # the stalled one returns, 5 s later
    coll.finished(stalled)
    coll.flush()
    buckets = sent[-1]["buckets"]
    assert set(buckets) >= {"100", "101"}
    assert buckets["100"]["article"]["hist"] == {"12": 1, "5000": 1}  # counted at the second it was sent


def test_requests_are_bucketed_by_send_time_and_group_with_codes():
    sent: list[dict] = []
    coll = recorder.Collector(sent.append)
    request(coll, 50.9, 3)
    request(coll, 50.1, 250, group="search", code=503, failed=True)
    coll.flush(final=True)
    b = sent[-1]["buckets"]["50"]
    assert b["article"] == {"hist": {"3": 1}, "failures": 0, "codes": {"200": 1},
                            "first_fail_at": None, "last_fail_at": None, "cdn_hits": None}
    assert b["search"] == {"hist": {"250": 1}, "failures": 1, "codes": {"503": 1},
                           "first_fail_at": 50.1, "last_fail_at": 50.1, "cdn_hits": None}


def test_answers_from_a_cdn_are_counted_as_hits_and_a_second_without_one_has_none(tmp_path):
    """Issue 17, C8: the load goes through the CDN; each answer's X-Cache says whether the CDN served it
    from its cache. The hit ratio is read from the timeline, merged across workers and late rows."""
    sent: list[dict] = []
    coll = recorder.Collector(sent.append)
    for i, cache in enumerate(["HIT", "HIT", "MISS", "HIT"]):
        request(coll, 60.1 + i / 10, 3, headers={"X-Cache": cache})
    request(coll, 60.6, 3, headers={"Content-Type": "text/html"})  # a pass straight from the origin
    request(coll, 61.2, 3, headers=None)  # an answer with no headers at all (the request failed before them)
    coll.flush(final=True)
    buckets = {s: b for msg in sent for s, b in msg["buckets"].items()}
    assert buckets["60"]["article"]["cdn_hits"] == 3 and buckets["61"]["article"]["cdn_hits"] is None
    other = recorder._Bucket()
    other.add(3, False, 200, 60.9, "HIT")
    merged = recorder._Bucket()
    merged.merge(buckets["60"]["article"])
    merged.merge(other.wire())
    assert merged.cdn_hits == 4
    rows = [make_row(60, "all", merged.hist, 0, {"200": 6}, cdn_hits=merged.cdn_hits),
            make_row(61, "all", {3: 1}, 0, {"200": 1})]
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"schema": "gameday.load.timeline/v1"}\n' + "".join(json.dumps(r.as_dict()) + "\n" for r in rows))
    assert "cdn_hits" not in rows[1].as_dict()  # no CDN in that second: the row's format is unchanged
    tl = Timeline.load(path)
    assert tl.row(60).cdn_hit_ratio == round(4 / 6, 4) and tl.row(61).cdn_hit_ratio is None
    assert tl.window().cdn_hits == 4 and tl.window().cdn_hit_ratio == round(4 / 7, 4)


def test_failed_requests_keep_their_send_instants_through_merging():
    sent: list[dict] = []
    coll = recorder.Collector(sent.append)
    request(coll, 70.25, 3, failed=True, code=503)
    request(coll, 70.5, 3)
    request(coll, 70.75, 3, failed=True, code=503)
    coll.flush(final=True)
    merged = recorder._Bucket()
    merged.merge(sent[-1]["buckets"]["70"]["article"])
    other = recorder._Bucket()
    other.add(3, True, 503, 70.1)
    merged.merge(other.wire())
    assert (merged.first_fail, merged.last_fail, merged.failures) == (70.1, 70.75, 3)


class _Runner:
    """What the writer reads from Locust's master runner: connected workers and the user count."""

    def __init__(self, workers: list[str]):
        self.clients = {w: SimpleNamespace(id=w, state="running") for w in workers}
        self.user_count = 40


def _message(node: str, watermark: int, buckets: dict) -> SimpleNamespace:
    return SimpleNamespace(node_id=node, data={"watermark": watermark, "final": False, "buckets": buckets})


def _bucket(latencies: dict[int, int], failures: int = 0) -> dict:
    codes = {"200": sum(latencies.values()) - failures, "503": failures}
    return {"hist": {str(k): v for k, v in latencies.items()}, "failures": failures,
            "codes": {k: v for k, v in codes.items() if v}}


def test_the_writer_waits_for_every_worker_then_merges_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    now = {"t": 1000.5}
    monkeypatch.setattr(recorder.time, "time", lambda: now["t"])
    env = SimpleNamespace(runner=_Runner(["w1", "w2"]), shape_class=SimpleNamespace(current_target_rps=4.0))
    writer = recorder.Writer(env, tmp_path / "timeline.jsonl", max_lag_s=15, meta={"profile": "test"})
    now["t"] = 1000.2
    writer.begin()  # the file and its header; the once-a-second loop is not started, the test drives it
    for t in range(1000, 1004):
        now["t"] = t + 0.5
        writer.sample()
    writer.on_message(msg=_message("w1", 1003, {"1000": {"article": _bucket({10: 2})},
                                                "1002": {"article": _bucket({20: 1})}}))
    writer.write_ready()
    assert writer.next_second == 1000                      # w2 has not reported: nothing written
    writer.on_message(msg=_message("w2", 1002, {"1000": {"search": _bucket({300: 1}, failures=1)}}))
    writer.write_ready()
    assert writer.next_second == 1002                      # both past 1001; w2 still holds 1002
    now["t"] = 1030.0                                       # w2 went silent: max lag lets the file move on
    writer.write_ready()
    writer.close()
    tl = Timeline.load(tmp_path / "timeline.jsonl")
    assert tl.header["profile"] == "test"
    first = tl.row(1000)
    assert (first.requests, first.failures, first.users, first.target_rps) == (3, 1, 40, 4.0)
    assert tl.row(1000, "search").codes == {"503": 1}
    assert tl.row(1001).requests == 0 and tl.row(1002).requests == 1
