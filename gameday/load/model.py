"""The traffic model: from 28-day active users to peak concurrency and origin requests/s.

Pure maths, no Locust import. Every figure is an assumption to calibrate against the site's
analytics, so every one is a parameter in ``loadtests/traffic.yaml``::

    model = TrafficModel.load("loadtests/traffic.yaml")    # validated; errors name the key and the fix
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

import yaml

from ..errors import UsageError

__all__ = ["TrafficModel", "Plan", "JOURNEYS", "SEARCH_KINDS", "DEFAULT_TRAFFIC", "load"]

DEFAULT_TRAFFIC = Path(__file__).resolve().parents[2] / "loadtests" / "traffic.yaml"

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

# key -> (smallest allowed value, may it equal that value, largest allowed value or None, meaning).
_AUDIENCE = {
    "monthly_active_users": (0.0, False, None, "28-day active users (unique people in 28 days), e.g. 500000"),
    "daily_to_monthly_ratio": (0.0, False, 1.0, "daily actives / 28-day actives, 0 < x <= 1, e.g. 0.15"),
    "sessions_per_daily_user": (0.0, False, None, "sessions a daily active user starts per day, e.g. 1.2"),
    "peak_hour_share": (0.0, False, 1.0, "share of a day's sessions that start in the busiest hour, e.g. 0.10"),
    "session_minutes": (0.0, False, None, "mean session length in minutes, e.g. 4"),
    "pages_per_session": (0.0, False, None, "page views per session, e.g. 5"),
    "requests_per_page": (0.0, False, None, "origin-bound HTTP requests per page view (HTML + API calls), e.g. 4"),
    "cdn_hit_ratio": (0.0, True, 1.0, "share of requests the CDN answers without the origin, 0 <= x < 1"),
    "surge_factor": (1.0, True, None, "multiplier for a surge (e.g. a national shortage alert), >= 1"),
}
_GENERATOR = {
    "pacing_s": (0.5, True, 120.0, "seconds between two requests of one virtual user; also its request timeout"),
    "smoke_rps": (0.0, False, None, "requests/s of the smoke profile, e.g. 5"),
    "ramp_s": (0.0, True, None, "seconds to ramp up to the peak rate (peak and surge profiles), e.g. 10"),
}


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
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise UsageError(f"traffic model {path} not found",
                             hint=f"pass --traffic with a path to a traffic.yaml (the default is {DEFAULT_TRAFFIC})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise UsageError(f"traffic model {path} is not valid YAML: {err}",
                             hint="fix the syntax; compare with loadtests/traffic.yaml") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> "TrafficModel":
        if not isinstance(data, dict):
            raise UsageError(f"{source}: expected a mapping with sections audience, generator, journeys, search_mix",
                             hint="compare with loadtests/traffic.yaml")
        _no_unknown(data, {"audience", "generator", "journeys", "search_mix", "search_api_share"}, source, "")
        audience = _section(data, "audience", source, required=True)
        _no_unknown(audience, set(_AUDIENCE), source, "audience.")
        values: dict[str, Any] = {}
        for key, bounds in _AUDIENCE.items():
            values[key] = _number(audience, key, bounds, source, "audience.")
        if values["cdn_hit_ratio"] >= 1.0:
            raise UsageError(f"{source}: audience.cdn_hit_ratio is {values['cdn_hit_ratio']}: with 1.0 no request "
                             "reaches the origin", hint="set it below 1, e.g. 0.6")
        generator = _section(data, "generator", source, required=False)
        _no_unknown(generator, set(_GENERATOR), source, "generator.")
        for key, bounds in _GENERATOR.items():
            if key in generator:
                values[key] = _number(generator, key, bounds, source, "generator.")
        values["journeys"] = _weights(data, "journeys", tuple(JOURNEYS), source)
        values["search_mix"] = _weights(data, "search_mix", SEARCH_KINDS, source)
        if "search_api_share" in data:
            values["search_api_share"] = _number(
                data, "search_api_share",
                (0.0, True, 1.0, "share of searches sent to /api/search (the rest to /search), 0..1"), source, "")
        return cls(**values, source=source)

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


# ---- validation helpers ----------------------------------------------------------------------
def _section(data: dict, key: str, source: str, *, required: bool) -> dict:
    if key not in data:
        if required:
            raise UsageError(f"{source}: missing section {key!r}", hint="compare with loadtests/traffic.yaml")
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise UsageError(f"{source}: {key} must be a mapping of name: value", hint="compare with loadtests/traffic.yaml")
    return value


def _no_unknown(section: dict, known: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise UsageError(f"{source}: unknown key {prefix}{unknown[0]}",
                         hint=f"known keys here: {', '.join(sorted(known))} (a typo?)")


def _number(section: dict, key: str, bounds: tuple, source: str, prefix: str) -> float:
    lo, lo_inclusive, hi, meaning = bounds
    if key not in section or section[key] is None:
        raise UsageError(f"{source}: {prefix}{key} is missing", hint=f"set it: {meaning}")
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise UsageError(f"{source}: {prefix}{key} must be a number, got {value!r}", hint=f"set it: {meaning}")
    if value < 0:
        raise UsageError(f"{source}: {prefix}{key} is negative ({value})", hint=f"set it: {meaning}")
    if value < lo or (value == lo and not lo_inclusive):
        raise UsageError(f"{source}: {prefix}{key} is {value}, too small", hint=f"set it: {meaning}")
    if hi is not None and value > hi:
        raise UsageError(f"{source}: {prefix}{key} is {value}, above {hi}", hint=f"set it: {meaning}")
    return float(value)


def _weights(data: dict, key: str, names: tuple[str, ...], source: str) -> dict[str, float]:
    section = _section(data, key, source, required=True)
    _no_unknown(section, set(names), source, f"{key}.")
    out: dict[str, float] = {}
    for name in names:
        if name not in section or section[name] is None:
            raise UsageError(f"{source}: {key}.{name} is missing",
                             hint=f"give every one of {', '.join(names)} a weight (0 turns it off)")
        value = section[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isinf(value) or math.isnan(value):
            raise UsageError(f"{source}: {key}.{name} must be a number >= 0, got {value!r}",
                             hint="weights are relative shares, e.g. 35")
        out[name] = float(value)
    if sum(out.values()) <= 0:
        raise UsageError(f"{source}: every weight in {key} is 0", hint="give at least one a positive weight")
    return out
