"""``loadtests/traffic.yaml`` as a model: the audience, the generator, the journey and search mixes.

Bounds keep every figure within what a real site and one load generator can mean: 500 billion
28-day actives is a typo, not a plan. :class:`gameday.load.model.TrafficModel` is built from it.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from .base import Problem, Strict

MAX_ACTIVE_USERS = 1_000_000_000  # a billion 28-day actives: beyond any health site; 500 billion is a typo
FIX = "compare with loadtests/traffic.yaml"


class Audience(Strict):
    monthly_active_users: float = Field(gt=0, le=MAX_ACTIVE_USERS,
                                        description="28-day active users (unique people in 28 days), e.g. 500000")
    daily_to_monthly_ratio: float = Field(gt=0, le=1, description="daily actives / 28-day actives, 0 < x <= 1, e.g. 0.15")
    sessions_per_daily_user: float = Field(gt=0, le=100, description="sessions a daily active user starts per day, e.g. 1.2")
    peak_hour_share: float = Field(gt=0, le=1, description="share of a day's sessions that start in the busiest hour, "
                                                           "e.g. 0.10")
    session_minutes: float = Field(gt=0, le=1440, description="mean session length in minutes, e.g. 4")
    pages_per_session: float = Field(gt=0, le=1000, description="page views per session, e.g. 5")
    requests_per_page: float = Field(gt=0, le=1000, description="origin-bound HTTP requests per page view "
                                                                "(HTML + API calls), e.g. 4")
    cdn_hit_ratio: float = Field(ge=0, lt=1, description="share of requests the CDN answers without the origin, "
                                                         "0 <= x < 1 (with 1 no request reaches the origin)")
    surge_factor: float = Field(ge=1, le=100, description="multiplier for a surge (e.g. a national shortage alert), >= 1")


class Generator(Strict):
    pacing_s: Optional[float] = Field(None, ge=0.5, le=120, description="seconds between two requests of one virtual "
                                                                        "user; also its request timeout")
    smoke_rps: Optional[float] = Field(None, gt=0, le=10_000, description="requests/s of the smoke profile, e.g. 5")
    ramp_s: Optional[float] = Field(None, ge=0, le=3600, description="seconds to ramp up to the peak rate, e.g. 10")


def _weight(what: str) -> Any:
    return Field(ge=0, le=1_000_000, description=f"relative share of {what} (0 turns it off)")


class Journeys(Strict):
    """Relative shares of origin requests, one per Locust task."""

    home: float = _weight("GET /")
    read_guidance: float = _weight("guidance pages")
    read_monograph: float = _weight("medicine monographs")
    browse_category: float = _weight("category pages")
    search: float = _weight("searches")
    publish: float = _weight("editors' updates")


class SearchMix(Strict):
    """What searchers type (relative shares)."""

    popular: float = _weight("popular terms")
    long_tail: float = _weight("multi-word queries")
    misspelling: float = _weight("misspellings")
    empty: float = _weight("queries with no results")


class TrafficFile(Strict):
    """``loadtests/traffic.yaml``: the audience the load tests stand in for."""

    audience: Audience = Field(description="who uses the site and how")
    generator: Optional[Generator] = Field(None, description="how Locust sends the load")
    journeys: Journeys = Field(description="relative share of each journey")
    search_mix: SearchMix = Field(description="relative share of each kind of search")
    search_api_share: float = Field(0.5, ge=0, le=1, description="share of searches sent to /api/search "
                                                                 "(the rest to /search), 0..1")

    @classmethod
    def cross_problems(cls, data: Any) -> list[Problem]:
        if not isinstance(data, dict):
            return []
        out = []
        for key in ("journeys", "search_mix"):
            weights = data.get(key)
            if isinstance(weights, dict) and weights and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0 for v in weights.values()):
                out.append(Problem(f"every weight in {key} is 0", "give at least one a positive weight"))
        return out
