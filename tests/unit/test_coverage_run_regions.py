"""The coverage words of a region game day: the report of a run of the regions suite names the run's own
two regions (from its environment files, not the default twin of platform.yaml), the region active when
it ended, and what its drills proved, each beside its target. Journals as the region experiments write
them (tests/unit/test_report_regions.py, test_report_failback.py), rendered by the real report code."""

from __future__ import annotations

import json

import pytest

from gameday.coverage import run_regions
from gameday.report import render
from tests.unit.test_report import T0, build, scenario
from tests.unit.test_report_failback import lost_and_failed_back
from tests.unit.test_report_regions import region_scenario, switchover_journal, write_run


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))  # no region set of this machine is read
    return tmp_path


def regions_game_day(reports, target: str, rto_target: float | None = None) -> dict:
    """A regions suite run: a planned switchover, then a region lost, failed over and failed back (the
    regions each journal names are the helpers')."""
    return write_run(reports, "run-regions", T0, {"switchover": switchover_journal(T0 + 50),
                                                  "lose-region": lost_and_failed_back(T0 + 400)},
                     region_scenario("switchover", "switchover", T0 + 50),
                     region_scenario("lose-region", "lose-region", T0 + 400, rto_target=rto_target),
                     target=target)


def test_a_region_game_day_names_its_own_two_regions_and_what_it_proved(state_dir):
    saved = regions_game_day(state_dir / "reports", "regions-bench")
    cov = saved["coverage"]
    headline = cov["headline"]
    # the run's regions (environments/regions-bench.yaml and its standby), not the default twin's 127.10/11
    assert ("Two regions: r1 (rgbench, 127.56.0.0/16) and r2 (rgbench-r2, 127.57.0.0/16), readers through "
            "rgbench-global.") in headline
    assert "default-r2" not in headline and "not running here" not in headline
    assert "counted in one region's twin (platform.yaml); each region runs its own." in headline
    assert headline.endswith(
        " This game day rehearsed r1 and r2: a planned switchover from r1 to r2 (RTO 6.2 s, target 30 s; nothing "
        "lost), r1 lost and failed over to r2 (RTO 26.2 s without the decision, target 60 s; 3 acknowledged writes "
        "lost, named in the region section) and the failback from r2 to r1 (RTO 1.9 s, target 30 s); r1 was active "
        "when it ended. Proven within target: region/switchover, region/region-lost.")
    assert cov["regions"]["active_at_end"] == "r1"
    assert cov["regions"]["set"]["regions"]["r2"] == {"environment": "regions-bench-r2", "twin": "rgbench-r2",
                                                      "network": "127.57.0.0/16"}
    assert cov["regions"]["proven"] == ["region/switchover", "region/region-lost"] and cov["regions"]["not_proven"] == []
    html = (state_dir / "reports" / "run-regions" / "report.html").read_text()
    assert "This game day rehearsed r1 and r2: a planned switchover from r1 to r2" in html


def test_a_missed_target_is_exercised_not_proven(state_dir):
    saved = regions_game_day(state_dir / "reports", "sandbox", rto_target=10)  # the scenario's RTO check: 12 s > 10 s
    cov = saved["coverage"]
    assert "Two regions: r1 (default, 127.10.0.0/16) and r2 (default-r2, 127.11.0.0/16)" in cov["headline"]
    assert cov["regions"]["proven"] == ["region/switchover"]
    assert cov["regions"]["not_proven"] == ["region/region-lost"]
    assert cov["headline"].endswith("Proven within target: region/switchover. Exercised but not proven (a target "
                                    "missed or the drill did not finish): region/region-lost.")


def test_a_failback_that_failed_before_the_front_switched_leaves_the_failed_over_region_active(state_dir):
    journal = lost_and_failed_back(T0 + 400)
    run = journal["run"][-1]["output"]["restored"][0]["playbook"]
    run["outcome"] = "failed"
    run["steps"]["switch-front"]["status"] = "failed"
    for name in ("resume-writes", "rebuild-old-as-standby", "scale-down-old"):
        run["steps"][name].update(status="not-run", seconds=None, ended_at=None)
    saved = write_run(state_dir / "reports", "run-fb-failed", T0, {"lose-region": journal},
                      region_scenario("lose-region", "lose-region", T0 + 400), target="regions-bench")
    cov = saved["coverage"]
    assert cov["regions"]["active_at_end"] == "r2"
    assert "the failback from r2 to r1 (did not finish, target 30 s); r2 was active when it ended." in cov["headline"]


def test_a_run_without_region_drills_keeps_the_inventorys_words(tmp_path):
    report = build(scenario("kill-one-pod", rto_target=30, down_for=3))
    saved = render.write(report, tmp_path / "run")
    cov = json.loads(saved["json"].read_text())["coverage"]
    assert cov["regions"] is None and "This game day rehearsed" not in cov["headline"]


def test_an_environment_without_regions_or_unreadable_has_no_region_set():
    assert run_regions.region_set("rehearsal") is None
    assert run_regions.region_set("no-such-environment") is None
    assert run_regions.region_set(None) is None
