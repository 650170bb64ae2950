"""The traffic model: from 28-day active users to peak concurrency and origin requests/s.

Pure maths, no Locust import. Every figure is an assumption to calibrate against the site's
analytics, so every one is a parameter in ``loadtests/traffic.yaml``::

    model = TrafficModel.load("loadtests/traffic.yaml")    # validated (gameday.schema.traffic); errors name the key and the fix
    plan = model.plan()
    plan.peak_concurrency      # people on the site in the busiest hour (Little's law: L = lambda x W)
    plan.peak_origin_rps       # requests/s that reach the origin (after the CDN)
    plan.generator_users("peak")   # Locust users needed to send that with open-model pacing

The chain, for the busiest hour::

    daily actives        = monthly actives x daily/monthly ratio
    daily sessions       = daily actives x sessions per daily user
    session arrivals/s   = daily sessions x peak-hour share / 3600              (lambda)
    peak concurrency     = lambda x session length in seconds                    (L = lambda W)
    page views/s         = lambda x pages per session
    edge requests/s      = page views/s x requests per page
    origin requests/s    = edge requests/s x (1 - CDN hit ratio)
    surge                = every rate above x surge factor
    generator users      = origin requests/s x pacing (each user sends one request per pacing interval)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..project import root as project_root
from ..schema.base import check
from ..schema.traffic import TrafficFile
from ..yamlfile import read_yaml

__all__ = ["TrafficModel", "Plan", "JOURNEYS", "SEARCH_KINDS", "DEFAULT_TRAFFIC", "load"]

DEFAULT_TRAFFIC = project_root() / "loadtests" / "traffic.yaml"
MAX_ORIGIN_RPS = 100_000  # at surge; far beyond the SPS site, and beyond what a Locust fleet here sends
MAX_USERS = 1_000_000  # Locust users at surge (rate x pacing)

# Journeys (one Locust task each) and the endpoint group each one's requests land in.
JOURNEYS: dict[str, str] = {
    "home": "home",
    "read_guidance": "article",
    "read_monograph": "monograph",
    "browse_category": "category",
    "search": "search",
    "publish": "publish",
}
SEARCH_KINDS = ("popular", "long_tail", "misspelling", "empty")

@dataclass(frozen=True)
class Plan:
    """Derived figures for the busiest hour (and the surge)."""

    daily_actives: float
    daily_sessions: float
    session_arrivals_per_s: float
    session_seconds: float
    peak_concurrency: float
    page_views_per_s: float
    edge_rps: float
    peak_origin_rps: float
    surge_concurrency: float
    surge_origin_rps: float
    smoke_rps: float
    pacing_s: float

    def target_rps(self, profile: str) -> float:
        """The highest origin rate a profile drives (``day`` peaks at the busiest hour)."""
        return {"smoke": self.smoke_rps, "day": self.peak_origin_rps, "peak": self.peak_origin_rps,
                "surge": self.surge_origin_rps}[profile]

    def generator_users(self, profile: str) -> int:
        """Locust users that send ``target_rps(profile)`` with one request per pacing interval each."""
        return users_for(self.target_rps(profile), self.pacing_s)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def users_for(rps: float, pacing_s: float) -> int:
    """Open-model user count: enough users that each sends one request per ``pacing_s``."""
    return max(1, math.ceil(rps * pacing_s - 1e-9)) if rps > 0 else 0


@dataclass(frozen=True)
class TrafficModel:
    monthly_active_users: float
    daily_to_monthly_ratio: float
    sessions_per_daily_user: float
    peak_hour_share: float
    session_minutes: float
    pages_per_session: float
    requests_per_page: float
    cdn_hit_ratio: float
    surge_factor: float
    pacing_s: float = 10.0
    smoke_rps: float = 5.0
    ramp_s: float = 10.0
    journeys: dict[str, float] = field(default_factory=dict)
    search_mix: dict[str, float] = field(default_factory=dict)
    search_api_share: float = 0.5
    source: str = "<dict>"

    # ---- loading and validation --------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "TrafficModel":
        """Read and validate a traffic file (default ``loadtests/traffic.yaml``)."""
        path = Path(path) if path else DEFAULT_TRAFFIC
        if not path.exists():
            raise UsageError(f"traffic model {path} not found",
                             hint=f"pass --traffic with a path to a traffic.yaml (the default is {DEFAULT_TRAFFIC})")
        return cls.from_dict(read_yaml(path, "traffic model"), source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> "TrafficModel":
        """The model of parsed traffic data, checked against :class:`gameday.schema.traffic.TrafficFile`
        (one UsageError lists every problem with its key path and fix)."""
        checked = check(TrafficFile, data, source, schema="traffic")
        values: dict[str, Any] = checked.audience.model_dump()
        if checked.generator is not None:
            values.update(checked.generator.model_dump(exclude_none=True))
        values["journeys"] = {name: float(getattr(checked.journeys, name)) for name in JOURNEYS}
        values["search_mix"] = {name: float(getattr(checked.search_mix, name)) for name in SEARCH_KINDS}
        values["search_api_share"] = checked.search_api_share
        model = cls(**{k: float(v) if isinstance(v, int) else v for k, v in values.items()}, source=source)
        plan = model.plan()
        if plan.surge_origin_rps > MAX_ORIGIN_RPS or plan.generator_users("surge") > MAX_USERS:
            raise UsageError(f"{source}: the model asks for {plan.surge_origin_rps:,.0f} origin requests/s and "
                             f"{plan.generator_users('surge'):,} Locust users at surge, more than gameday drives "
                             f"({MAX_ORIGIN_RPS:,} req/s, {MAX_USERS:,} users)",
                             hint="check audience.monthly_active_users, the per-session figures and surge_factor")
        return model

    # ---- maths -------------------------------------------------------------------------------
    def plan(self) -> Plan:
        daily_actives = self.monthly_active_users * self.daily_to_monthly_ratio
        daily_sessions = daily_actives * self.sessions_per_daily_user
        arrivals = daily_sessions * self.peak_hour_share / 3600.0
        session_s = self.session_minutes * 60.0
        concurrency = arrivals * session_s
        page_views = arrivals * self.pages_per_session
        edge = page_views * self.requests_per_page
        origin = edge * (1.0 - self.cdn_hit_ratio)
        return Plan(
            daily_actives=daily_actives, daily_sessions=daily_sessions, session_arrivals_per_s=arrivals,
            session_seconds=session_s, peak_concurrency=concurrency, page_views_per_s=page_views,
            edge_rps=edge, peak_origin_rps=origin, surge_concurrency=concurrency * self.surge_factor,
            surge_origin_rps=origin * self.surge_factor, smoke_rps=self.smoke_rps, pacing_s=self.pacing_s,
        )

    def journey_shares(self) -> dict[str, float]:
        total = sum(self.journeys.values())
        return {k: v / total for k, v in self.journeys.items()}

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def load(path: str | Path | None = None) -> TrafficModel:
    return TrafficModel.load(path)
