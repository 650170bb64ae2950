"""Load profiles: the target request rate at each second of a run (the origin's, or the edge's when the
load goes through the site's CDN: ``at_edge``).

Pure functions, shared by the Locust shapes (``loadtests/shapes.py``, inside Locust) and by the
controller (plans, summaries), so both agree on what was asked for::

    schedule = Schedule.for_profile("surge", plan, duration_s=300)
    schedule.target_rps(120.0)      # requests/s wanted 120 s into the run; None once it is over

Profiles:

- ``smoke``: a small constant rate (``generator.smoke_rps``) to check the harness and the target.
- ``peak``: ramp (``generator.ramp_s``) to the modelled busiest-hour origin rate, then hold it.
- ``surge``: peak for the first third, peak x ``surge_factor`` for the middle third (reached within
  ``SURGE_RAMP_S``), peak again for the last third.
- ``day``: the 24 hours of a working day compressed into the run: the rate follows ``DIURNAL``
  (hourly relative traffic, busiest hour = the modelled peak), so nights are quiet and mid-morning
  is the peak. Rates are real; only the clock is compressed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from .model import Plan

__all__ = ["PROFILES", "MAX_DURATION_S", "Schedule", "DIURNAL", "check_profile"]

# name -> (default duration in seconds, one-line description)
PROFILES: dict[str, tuple[float, str]] = {
    "smoke": (30.0, "small constant rate: checks the harness and the target"),
    "day": (600.0, "a working day compressed into the run (quiet night, mid-morning peak)"),
    "peak": (300.0, "the modelled busiest hour, held"),
    "surge": (300.0, "peak, then peak x surge factor for the middle third, then peak"),
}
MAX_DURATION_S = 7200.0  # hard cap on any run, whatever --duration says
SURGE_RAMP_S = 10.0
# Relative traffic per hour of the day (00:00..23:00) for a UK professional audience; busiest 10:00.
DIURNAL: tuple[float, ...] = (2, 1, 1, 1, 1, 2, 4, 8, 14, 18, 20, 19, 16, 18, 19, 17, 14, 10, 8, 7, 6, 5, 4, 3)


def check_profile(name: str) -> str:
    if name not in PROFILES:
        raise UsageError(f"unknown load profile {name!r}", hint=f"choose one of {', '.join(PROFILES)}")
    return name


@dataclass(frozen=True)
class Schedule:
    profile: str
    duration_s: float
    peak_rps: float
    surge_factor: float = 1.0
    ramp_s: float = 10.0
    smoke_rps: float = 5.0

    @classmethod
    def for_profile(cls, profile: str, plan: Plan, *, duration_s: float | None = None,
                    surge_factor: float | None = None, ramp_s: float = 10.0, at_edge: bool = False) -> "Schedule":
        """``at_edge``: the load goes to the site's front door with its CDN, so it drives the rate readers
        send there (the model's ``edge_rps``) and the origin sees the share the CDN does not answer; else
        straight to the origin, at the origin's rate. ``smoke`` is the same small rate either way."""
        check_profile(profile)
        duration = PROFILES[profile][0] if duration_s is None else float(duration_s)
        if not 0 < duration <= MAX_DURATION_S:
            raise UsageError(f"duration {duration:g}s is out of range",
                             hint=f"give a duration between 1 and {MAX_DURATION_S:.0f} seconds")
        surge = surge_factor if surge_factor is not None else plan.surge_origin_rps / max(plan.peak_origin_rps, 1e-9)
        return cls(profile=profile, duration_s=duration, peak_rps=plan.edge_rps if at_edge else plan.peak_origin_rps,
                   surge_factor=surge,
                   ramp_s=ramp_s, smoke_rps=plan.smoke_rps)

    def target_rps(self, t: float) -> float | None:
        """Requests/s wanted ``t`` seconds into the run, or None when the run is over."""
        if t >= self.duration_s or t < 0:
            return None
        if self.profile == "smoke":
            return self.smoke_rps
        if self.profile == "day":
            return self.peak_rps * _diurnal(24.0 * t / self.duration_s)
        ramp = min(1.0, t / self.ramp_s) if self.ramp_s > 0 else 1.0
        base = self.peak_rps * max(ramp, 0.1)
        if self.profile == "peak":
            return base
        third = self.duration_s / 3.0
        if third <= t < 2 * third:  # surge
            rise = min(1.0, (t - third) / SURGE_RAMP_S)
            return self.peak_rps * (1.0 + (self.surge_factor - 1.0) * rise)
        return base

    def ramp_left(self, t: float) -> float:
        """Seconds until the shape, ``t`` seconds into its run, sends its full rate: what is left of
        the ramp for ``peak`` and ``surge``; 0 for ``smoke`` and ``day``, which do not ramp."""
        if self.profile not in ("peak", "surge"):
            return 0.0
        return max(0.0, self.ramp_s - t)

    def max_rps(self) -> float:
        return {"smoke": self.smoke_rps, "day": self.peak_rps, "peak": self.peak_rps,
                "surge": self.peak_rps * self.surge_factor}[self.profile]

    def mean_rps(self, step: float = 1.0) -> float:
        """Mean target over the run (what the whole run should send, divided by its length)."""
        n = max(1, int(self.duration_s / step))
        return sum(self.target_rps(i * step) or 0.0 for i in range(n)) / n

    def env(self) -> dict[str, str]:
        """The environment variables ``loadtests/shapes.py`` reads to rebuild this schedule."""
        return {"GAMEDAY_PROFILE": self.profile, "GAMEDAY_LOAD_DURATION": f"{self.duration_s:g}",
                "GAMEDAY_LOAD_PEAK_RPS": repr(self.peak_rps), "GAMEDAY_LOAD_SURGE_FACTOR": repr(self.surge_factor),
                "GAMEDAY_LOAD_RAMP_S": repr(self.ramp_s), "GAMEDAY_LOAD_SMOKE_RPS": repr(self.smoke_rps)}

    @classmethod
    def from_env(cls, env: dict[str, str], plan: Plan | None = None) -> "Schedule":
        """Inverse of :meth:`env`; values missing from ``env`` come from ``plan`` and the profile's defaults."""
        profile = check_profile(env["GAMEDAY_PROFILE"])

        def num(key: str, default: float) -> float:
            raw = env.get(key)
            if raw in (None, ""):
                return default
            try:
                return float(raw)
            except ValueError:
                raise UsageError(f"{key}={raw!r} is not a number") from None

        peak = plan.peak_origin_rps if plan else 0.0
        surge = plan.surge_origin_rps / peak if plan and peak else 1.0
        return cls(profile=profile,
                   duration_s=num("GAMEDAY_LOAD_DURATION", PROFILES[profile][0]),
                   peak_rps=num("GAMEDAY_LOAD_PEAK_RPS", peak),
                   surge_factor=num("GAMEDAY_LOAD_SURGE_FACTOR", surge),
                   ramp_s=num("GAMEDAY_LOAD_RAMP_S", 10.0),
                   smoke_rps=num("GAMEDAY_LOAD_SMOKE_RPS", plan.smoke_rps if plan else 5.0))


def _diurnal(hour: float) -> float:
    """Relative rate (busiest hour = 1.0) at a fractional hour of the day, linearly interpolated."""
    top = max(DIURNAL)
    i = int(hour) % 24
    frac = hour - int(hour)
    a, b = DIURNAL[i], DIURNAL[(i + 1) % 24]
    return (a + (b - a) * frac) / top
