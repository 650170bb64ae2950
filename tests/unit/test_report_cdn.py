"""The report's traffic section says how the load came in through the site's CDN (issue 17, C8): the hit
ratio its readers got beside the traffic model's, or that it was not measured (no X-Cache in the answers)."""

from __future__ import annotations

from gameday.report import model, render

T0 = 1_800_000_000
SUMMARY = {"groups": {"all": {"requests": 9120, "failure_ratio": 0.001, "p95_ms": 40.0, "p99_ms": 90.0,
                              "codes": {"200": 9111, "503": 9}}}}


def html_for(tmp_path, cdn: dict) -> str:
    report = model.build(run_id="r", started_at=T0, ended_at=T0 + 300, target={"name": "sandbox", "kind": "sandbox"},
                         suite="default", scenarios=[], versions={}, interrupted=False,
                         load={"profile": "peak", "summary": SUMMARY, "cdn": cdn})
    return render.write(report, tmp_path)["html"].read_text()


def test_the_hit_ratio_readers_got_sits_beside_the_models(tmp_path):
    html = html_for(tmp_path / "a", {"front_door": "http://127.10.10.1:8081", "origin": "http://127.10.10.1:8080",
                                     "hit_ratio": 0.7105, "model_hit_ratio": 0.6, "requests": 9120, "hits": 6480,
                                     "origin_share": 0.2895})
    para = html[html.index('id="traffic-cdn"'):]
    para = " ".join(para[:para.index("</p>")].split())
    assert "http://127.10.10.1:8081" in para and "71.05% of the requests from its cache" in para
    assert "the traffic model expects 60.00%" in para and "the origin served 28.95% of them" in para


def test_answers_without_x_cache_say_the_hit_ratio_was_not_measured(tmp_path):
    html = html_for(tmp_path / "b", {"front_door": "https://www.sps.example.nhs.uk", "origin": "https://www.sps.example.nhs.uk",
                                     "hit_ratio": None, "model_hit_ratio": 0.6, "requests": 9120, "hits": None,
                                     "origin_share": None})
    para = html[html.index('id="traffic-cdn"'):]
    para = " ".join(para[:para.index("</p>")].split())
    assert "not measured here" in para and "from its cache (the traffic model" not in para


def test_a_load_not_through_a_cdn_says_nothing_of_one(tmp_path):
    report = model.build(run_id="r", started_at=T0, ended_at=T0 + 300, target={"name": "k", "kind": "kubernetes"},
                         suite="kubernetes", scenarios=[], versions={}, interrupted=False,
                         load={"profile": "peak", "summary": SUMMARY})
    assert 'id="traffic-cdn"' not in render.write(report, tmp_path / "c")["html"].read_text()


def test_each_scenario_says_what_its_readers_got_from_the_cdn_before_and_after_the_fault(tmp_path):
    """The judge reads the scenario's hit ratio from the load's X-Cache (the timeline's cdn_hits): before the
    fault and from the fault to the scenario's end; the scenario's section says both, reported, not judged.
    A load whose answers carried no X-Cache gives the scenario no CDN line."""
    from gameday.load.timeline import Timeline, make_row
    from gameday.measure.recovery import Slo
    from gameday.runner.judge import judge
    from gameday.runner.scenario import ScenarioRun
    from tests.unit.test_report_phases import EVENTS, FAULT, spec

    def timeline(hits_before: int | None, hits_after: int | None) -> Timeline:  # 20 requests a second, all 200
        return Timeline({}, [make_row(t, "all", {12: 20}, 0, {"200": 20},
                                      cdn_hits=hits_before if t < int(FAULT) else hits_after) for t in range(T0, T0 + 120)])

    def scenario(tl: Timeline):
        run = ScenarioRun(spec=spec(), started=T0 + 10, ended=T0 + 100, journal={"status": "completed"}, exit_code=0,
                          journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=FAULT, events=EVENTS)
        return judge(run, tl, Slo(min_success_ratio=0.95, max_p95_ms=2000, window_s=5))

    lost_edge = scenario(timeline(14, 0))  # 70% from the cache before, every answer a miss after (the CDN cold)
    assert lost_edge.edge == {"hit_ratio_before": 0.7, "hit_ratio_during": 0.0, "requests_during": 20 * 81,
                              "hits_during": 0}
    report = model.build(run_id="r", started_at=T0, ended_at=T0 + 120, target={"name": "sandbox", "kind": "sandbox"},
                         suite="smoke", scenarios=[lost_edge], versions={})
    assert report["scenarios"][0]["edge"]["hit_ratio_during"] == 0.0
    html = render.write(report, tmp_path / "a")["html"].read_text()
    line = " ".join(html.split('id="search-node-cdn">')[1].split("</p>")[0].split())
    assert line.startswith("At the CDN: 0.00% of the 1620 requests from the fault") and "(70.00% before the fault)" in line
    assert scenario(timeline(None, None)).edge is None  # no X-Cache: nothing said of a CDN
    no_line = model.build(run_id="r", started_at=T0, ended_at=T0 + 120, target={"name": "k", "kind": "kubernetes"},
                          suite="smoke", scenarios=[scenario(timeline(None, None))], versions={})
    assert 'id="search-node-cdn"' not in render.write(no_line, tmp_path / "b")["html"].read_text()
