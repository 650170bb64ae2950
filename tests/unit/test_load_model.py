"""The traffic model's maths and validation, and the load profiles (pure logic, no Locust, no servers)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from gameday.errors import UsageError
from gameday.load.model import DEFAULT_TRAFFIC, JOURNEYS, TrafficModel, users_for
from gameday.load.profiles import DIURNAL, MAX_DURATION_S, PROFILES, Schedule

BASE = {
    "audience": {
        "monthly_active_users": 500_000, "daily_to_monthly_ratio": 0.15, "sessions_per_daily_user": 1.2,
        "peak_hour_share": 0.10, "session_minutes": 4, "pages_per_session": 5, "requests_per_page": 4,
        "cdn_hit_ratio": 0.6, "surge_factor": 3,
    },
    "generator": {"pacing_s": 10, "smoke_rps": 5, "ramp_s": 10},
    "journeys": {"read_guidance": 35, "read_monograph": 25, "search": 25, "browse_category": 8, "home": 6,
                 "publish": 1},
    "search_mix": {"popular": 60, "long_tail": 25, "misspelling": 10, "empty": 5},
}


def with_change(path: str, value) -> dict:
    data = copy.deepcopy(BASE)
    *parents, key = path.split(".")
    target = data
    for p in parents:
        target = target[p]
    if value is _DELETE:
        del target[key]
    else:
        target[key] = value
    return data


_DELETE = object()


def test_known_inputs_give_the_documented_figures():
    plan = TrafficModel.from_dict(BASE).plan()
    assert plan.daily_actives == pytest.approx(75_000)
    assert plan.daily_sessions == pytest.approx(90_000)
    assert plan.session_arrivals_per_s == pytest.approx(2.5)           # 90,000 x 10% / 3600
    assert plan.peak_concurrency == pytest.approx(600)                 # Little: 2.5/s x 240 s
    assert plan.page_views_per_s == pytest.approx(12.5)
    assert plan.edge_rps == pytest.approx(50)
    assert plan.peak_origin_rps == pytest.approx(20)                   # x (1 - 0.6)
    assert plan.surge_concurrency == pytest.approx(1800)
    assert plan.surge_origin_rps == pytest.approx(60)
    assert plan.generator_users("peak") == 200 and plan.generator_users("surge") == 600
    assert plan.generator_users("smoke") == 50


def test_littles_law_scales_linearly_and_cdn_only_touches_origin():
    big = TrafficModel.from_dict(with_change("audience.monthly_active_users", 1_000_000)).plan()
    assert big.peak_concurrency == pytest.approx(1200) and big.peak_origin_rps == pytest.approx(40)
    no_cdn = TrafficModel.from_dict(with_change("audience.cdn_hit_ratio", 0)).plan()
    assert no_cdn.peak_concurrency == pytest.approx(600) and no_cdn.peak_origin_rps == pytest.approx(50)


def test_the_shipped_traffic_file_is_valid_and_matches_the_documented_peak():
    model = TrafficModel.load(DEFAULT_TRAFFIC)
    assert model.monthly_active_users == 500_000
    assert set(model.journeys) == set(JOURNEYS)
    assert model.plan().peak_origin_rps > 0
    assert model.journey_shares()["publish"] < 0.05  # editors are a small share


@pytest.mark.parametrize("path, value, phrase", [
    ("audience.monthly_active_users", -5, "audience.monthly_active_users must be more than 0"),
    ("audience.session_minutes", _DELETE, "audience.session_minutes is missing"),
    ("audience.peak_hour_share", 1.5, "audience.peak_hour_share must be more than 0 and at most 1, not 1.5"),
    ("audience.cdn_hit_ratio", 1.0, "audience.cdn_hit_ratio must be at least 0 and less than 1, not 1.0"),
    ("audience.surge_factor", 0.5, "audience.surge_factor must be between 1 and 100, not 0.5"),
    ("audience.pages_per_session", "five", "audience.pages_per_session must be a number"),
    ("audience.pages_per_session", None, "audience.pages_per_session must be a number, not null"),
    ("audience.daily_to_monthly_ratio", 0, "audience.daily_to_monthly_ratio must be more than 0"),
    ("audience.sesion_minutes", 4, "audience: unknown key 'sesion_minutes'"),
    ("generator.pacing_s", -1, "generator.pacing_s must be between 0.5 and 120, not -1"),
    ("journeys.search", -1, "journeys.search must be between 0 and 1000000, not -1"),
    ("journeys.publish", _DELETE, "journeys.publish is missing"),
    ("search_mix.popular", True, "search_mix.popular must be a number"),
    ("audience", _DELETE, "audience is missing"),
])
def test_bad_values_name_the_key_and_the_fix(path, value, phrase):
    with pytest.raises(UsageError) as err:
        TrafficModel.from_dict(with_change(path, value), source="t.yaml")
    assert phrase in str(err.value)
    assert "->" in str(err.value) or "known keys" in str(err.value) or err.value.hint is None


def test_all_weights_zero_is_refused():
    data = copy.deepcopy(BASE)
    data["journeys"] = {k: 0 for k in data["journeys"]}
    with pytest.raises(UsageError, match="every weight in journeys is 0"):
        TrafficModel.from_dict(data)


def test_file_errors_are_usage_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="not found"):
        TrafficModel.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("audience: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        TrafficModel.load(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert TrafficModel.load(good).plan().peak_origin_rps == pytest.approx(20)


def test_users_for_open_model():
    assert users_for(20, 10) == 200
    assert users_for(0.25, 10) == 3  # rounded up: never fewer users than the rate needs
    assert users_for(0, 10) == 0


# ---- profiles ------------------------------------------------------------------------------------
PLAN = TrafficModel.from_dict(BASE).plan()


def test_smoke_is_constant_and_stops_at_the_duration():
    s = Schedule.for_profile("smoke", PLAN, duration_s=20)
    assert [s.target_rps(t) for t in (0, 5, 19.9)] == [5, 5, 5]
    assert s.target_rps(20) is None and s.target_rps(100) is None


def test_peak_ramps_then_holds_the_modelled_peak():
    s = Schedule.for_profile("peak", PLAN, ramp_s=10)
    assert s.duration_s == PROFILES["peak"][0]
    assert s.target_rps(5) == pytest.approx(10)
    assert s.target_rps(10) == pytest.approx(20) and s.target_rps(299) == pytest.approx(20)
    assert s.max_rps() == pytest.approx(20)


def test_through_the_cdn_the_load_drives_the_edge_rate_so_the_origin_sees_its_modelled_share():
    """Issue 17, C8: at the front door the load sends what readers send there (edge 50 req/s for the
    model's 20 at the origin with a 0.6 hit ratio), peak and surge alike; smoke stays a small check."""
    edge = Schedule.for_profile("peak", PLAN, ramp_s=10, at_edge=True)
    assert edge.max_rps() == pytest.approx(PLAN.edge_rps) == pytest.approx(50)
    assert edge.max_rps() * (1 - 0.6) == pytest.approx(Schedule.for_profile("peak", PLAN).max_rps())
    surge = Schedule.for_profile("surge", PLAN, duration_s=300, at_edge=True)
    assert surge.max_rps() == pytest.approx(150) and surge.surge_factor == pytest.approx(3)
    assert Schedule.for_profile("smoke", PLAN, at_edge=True).max_rps() == 5
    assert Schedule.from_env(edge.env()) == edge  # what Locust's shape rebuilds


def test_the_ramp_left_is_what_remains_until_the_full_rate():
    peak = Schedule.for_profile("peak", PLAN, ramp_s=10)
    assert [peak.ramp_left(t) for t in (0, 4, 10, 30)] == [10, 6, 0, 0]
    assert peak.target_rps(4 + peak.ramp_left(4)) == pytest.approx(peak.max_rps())
    assert Schedule.for_profile("surge", PLAN, duration_s=300, ramp_s=10).ramp_left(3) == 7
    assert Schedule.for_profile("smoke", PLAN, duration_s=20).ramp_left(0) == 0  # constant from the start
    assert Schedule.for_profile("day", PLAN, duration_s=300).ramp_left(0) == 0


def test_surge_triples_the_middle_third():
    s = Schedule.for_profile("surge", PLAN, duration_s=300, ramp_s=10)
    assert s.target_rps(50) == pytest.approx(20)
    assert s.target_rps(150) == pytest.approx(60)
    assert s.target_rps(250) == pytest.approx(20)
    assert s.max_rps() == pytest.approx(60)
    assert s.mean_rps() == pytest.approx(20 * 2 / 3 + 60 / 3, rel=0.05)


def test_day_follows_the_diurnal_curve_with_the_peak_at_ten():
    s = Schedule.for_profile("day", PLAN, duration_s=240)  # 10 s per hour
    busiest = DIURNAL.index(max(DIURNAL))
    assert s.target_rps(busiest * 10) == pytest.approx(20)
    assert s.target_rps(3 * 10) < 2  # 03:00 is quiet
    assert all(0 < s.target_rps(t) <= 20 for t in range(0, 240, 7))


def test_unknown_profile_and_bad_durations_are_refused():
    with pytest.raises(UsageError, match="unknown load profile 'lunch'"):
        Schedule.for_profile("lunch", PLAN)
    for d in (0, -1, MAX_DURATION_S + 1):
        with pytest.raises(UsageError, match="out of range"):
            Schedule.for_profile("peak", PLAN, duration_s=d)


def test_schedule_survives_the_trip_through_the_environment():
    s = Schedule.for_profile("surge", PLAN, duration_s=90, ramp_s=4)
    again = Schedule.from_env(s.env(), PLAN)
    assert again == s
    assert all(math.isclose(s.target_rps(t), again.target_rps(t)) for t in range(0, 90, 3))
