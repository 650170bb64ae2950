"""Reading and summarising the per-second timeline; the runner's input checks (no Locust, no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.load import runner
from gameday.load.timeline import ALL, SCHEMA, Timeline, group_of, make_row, percentile, round_ms


def write(path: Path, rows: list[dict], header: bool = True) -> Path:
    lines = ([json.dumps({"schema": SCHEMA, "started_at": 1000.0})] if header else [])
    lines += [json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def row(t: int, group: str, latencies: list[int], failures: int = 0, **extra) -> dict:
    hist: dict[int, int] = {}
    for ms in latencies:
        hist[round_ms(ms)] = hist.get(round_ms(ms), 0) + 1
    return make_row(t, group, hist, failures, {"200": len(latencies) - failures, "503": failures} if failures
                    else {"200": len(latencies)}, **extra).as_dict()


def test_rounding_and_percentiles():
    assert [round_ms(x) for x in (0.4, 7.6, 99.4, 123, 4567, 51234)] == [0, 8, 99, 120, 4600, 51000]
    hist = {10: 98, 5000: 2}
    assert percentile(hist, 0.5) == 10 and percentile(hist, 0.98) == 10 and percentile(hist, 0.99) == 5000
    assert percentile({}, 0.5) is None


def test_group_of_request_names():
    assert [group_of(n) for n in ("/", "/guidance/[slug]", "/medicines/x", "/category/y", "/search?q=[popular]",
                                  "/api/search?q=a", "POST /api/articles", "/elsewhere")] == [
        "home", "article", "monograph", "category", "search", "search", "publish", "other"]


def test_load_fills_gaps_and_merges_late_rows(tmp_path: Path):
    path = write(tmp_path / "t.jsonl", [
        row(100, ALL, [10, 20], users=10, target_rps=2.0), row(100, "article", [10, 20]),
        row(102, ALL, [30], users=10, target_rps=2.0), row(102, "search", [30]),
        row(102, "search", [5000], failures=1),  # late data for a second already written
        row(102, ALL, [5000], failures=1),
    ])
    tl = Timeline.load(path)
    assert tl.header["schema"] == SCHEMA
    assert (tl.start, tl.end) == (100, 102)
    series = list(tl.series())
    assert [r.t for r in series] == [100, 101, 102]
    assert [r.requests for r in series] == [2, 0, 2]                       # 101: nothing sent, still a row
    merged = tl.row(102, "search")
    assert (merged.requests, merged.failures, merged.max_ms, merged.codes) == (2, 1, 5000, {"200": 1, "503": 1})
    assert tl.row(102).target_rps == 2.0 and tl.row(102).users == 10        # late row keeps the sample
    assert tl.groups() == ["article", "search"]


def test_window_percentiles_are_computed_from_the_histograms(tmp_path: Path):
    rows = []
    for t in range(200, 230):
        lat = [5000] if 210 <= t < 215 else [10] * 9
        rows.append(row(t, ALL, lat, users=50, target_rps=9.0))
    tl = Timeline.load(write(tmp_path / "t.jsonl", rows))
    whole = tl.window()
    assert whole.requests == 25 * 9 + 5
    assert whole.p50_ms == 10 and whole.p99_ms == 5000                     # the stall is in p99
    stall = tl.window(210, 214)
    assert stall.p50_ms == 5000 and stall.rps == 1.0
    summary = tl.summary()
    assert summary[ALL]["requests"] == whole.requests and summary[ALL]["failures"] == 0


def test_achieved_vs_target(tmp_path: Path):
    rows = [row(t, ALL, [10] * (5 if t < 110 else 2), users=50, target_rps=5.0) for t in range(100, 120)]
    tl = Timeline.load(write(tmp_path / "t.jsonl", rows))
    got = tl.achieved_vs_target(skip_start_s=0, skip_end_s=0)
    assert got["target_requests"] == 100 and got["sent_requests"] == 70 and got["ratio"] == 0.7
    assert got["achieved_rps"] == 3.5 and got["target_rps"] == 5.0


def test_a_damaged_timeline_is_a_clear_error(tmp_path: Path):
    with pytest.raises(UsageError, match="not found"):
        Timeline.load(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"t": 1}\n{"t": 2, "group": "all"}\n')
    with pytest.raises(UsageError, match="not a timeline row"):
        Timeline.load(tmp_path / "bad.jsonl")
    truncated = write(tmp_path / "cut.jsonl", [row(5, ALL, [1])])
    truncated.write_text(truncated.read_text() + '{"t": 6, "gro')  # a crash mid-line: the rest is kept
    assert Timeline.load(truncated).end == 5


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.50.10.1:8080/", "http://localhost:9",
                                 "https://[::1]:8443"])
def test_loopback_hosts_are_accepted(url):
    assert runner.check_host(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "http://www.sps.nhs.uk", "http://128.0.0.1",
                                 "ftp://127.0.0.1/", "127.0.0.1:8080"])
def test_other_hosts_are_refused(url):
    with pytest.raises(UsageError):
        runner.check_host(url)


@pytest.mark.parametrize("change, phrase", [
    ({"profile": "lunch"}, "unknown load profile"),
    ({"duration_s": 0}, "out of range"),
    ({"duration_s": 99_999}, "out of range"),
    ({"processes": 2, "master": True, "expect_workers": 2}, "cannot be combined"),
    ({"master": True}, "--expect-workers"),
    ({"expect_workers": 2}, "only makes sense with --master"),
    ({"pacing_s": 0.1}, "pacing"),
])
def test_prepare_refuses_bad_options_before_anything_runs(tmp_path: Path, change, phrase):
    opts = runner.RunOptions(**{"profile": "smoke", "host": "http://127.0.0.1:9", "out_dir": tmp_path / "run",
                                **change})
    with pytest.raises(UsageError, match=phrase):
        runner.prepare(opts, check_target=False)
    assert not (tmp_path / "run").exists()


def test_prepare_builds_the_locust_command(tmp_path: Path):
    opts = runner.RunOptions(profile="peak", host="http://127.0.0.1:9", out_dir=tmp_path / "run", duration_s=60,
                             master=True, expect_workers=3, master_bind_host="0.0.0.0", master_bind_port=5600)
    run = runner.prepare(opts, check_target=False)
    cmd = run.command
    assert cmd[1:3] == ["-m", "locust"] and "--headless" in cmd
    assert cmd[cmd.index("--expect-workers") + 1] == "3" and cmd[cmd.index("--master-bind-port") + 1] == "5600"
    assert "--csv-full-history" in cmd and cmd[cmd.index("--csv") + 1] == str(tmp_path / "run" / "locust")
    assert run.env["GAMEDAY_PROFILE"] == "peak" and float(run.env["GAMEDAY_LOAD_DURATION"]) == 60
    assert run.env["GAMEDAY_TIMELINE"] == str(tmp_path / "run" / "timeline.jsonl")
    assert run.hard_deadline_s > 60
