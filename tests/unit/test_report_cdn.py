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
