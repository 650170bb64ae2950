"""Load shapes: open-model user counts for the smoke, day, peak and surge profiles.

Each shape turns a target rate (requests/s, from ``gameday.load.profiles.Schedule``) into a
user count: every user sends one request per ``pacing_s`` (on its grid: ``arrivals.py``), so

    users = target_rps x pacing_s

and a server that stalls for less than ``pacing_s`` cannot slow the arrivals down: a stalled user is
still inside its pacing interval, and the others keep sending on schedule (no coordinated
omission). Parameters are class attributes; ``tick()`` returns None when the run is over.

The locustfile picks one with :func:`for_profile` (from ``GAMEDAY_PROFILE`` and the
``GAMEDAY_LOAD_*`` variables that ``gameday load run`` sets), so it exposes a single shape class
to Locust. To use one directly::

    class MyPeak(PeakShape):
        peak_rps = 40.0
        duration_s = 600
"""

from __future__ import annotations

from locust import LoadTestShape

from gameday.load.model import Plan, users_for
from gameday.load.profiles import Schedule

__all__ = ["PacedShape", "SmokeShape", "DayShape", "PeakShape", "SurgeShape", "for_profile"]


class PacedShape(LoadTestShape):
    """Users = target rate x pacing, re-computed every second."""

    abstract = True
    profile = "peak"
    duration_s = 300.0
    peak_rps = 20.0
    surge_factor = 3.0
    ramp_s = 10.0
    smoke_rps = 5.0
    pacing_s = 10.0
    min_spawn_rate = 50.0  # users/s; users stagger their first request over one pacing interval anyway

    def __init__(self) -> None:
        super().__init__()
        self.schedule = Schedule(profile=self.profile, duration_s=float(self.duration_s),
                                 peak_rps=float(self.peak_rps), surge_factor=float(self.surge_factor),
                                 ramp_s=float(self.ramp_s), smoke_rps=float(self.smoke_rps))
        self.current_target_rps: float | None = None

    def tick(self) -> tuple[int, float] | None:
        rps = self.schedule.target_rps(self.get_run_time())
        self.current_target_rps = rps
        if rps is None:
            return None
        users = users_for(rps, self.pacing_s)
        return users, max(float(users), self.min_spawn_rate)


class SmokeShape(PacedShape):
    abstract = True
    profile = "smoke"
    duration_s = 30.0


class DayShape(PacedShape):
    abstract = True
    profile = "day"
    duration_s = 600.0


class PeakShape(PacedShape):
    abstract = True
    profile = "peak"
    duration_s = 300.0


class SurgeShape(PacedShape):
    abstract = True
    profile = "surge"
    duration_s = 300.0


SHAPES = {"smoke": SmokeShape, "day": DayShape, "peak": PeakShape, "surge": SurgeShape}


def for_profile(env: dict[str, str], plan: Plan, pacing_s: float) -> type[PacedShape]:
    """A concrete shape class for ``env["GAMEDAY_PROFILE"]``, parameters from ``env`` then ``plan``."""
    schedule = Schedule.from_env(env, plan)
    base = SHAPES[schedule.profile]
    return type(f"{base.__name__}Run", (base,), {
        "abstract": False, "duration_s": schedule.duration_s, "peak_rps": schedule.peak_rps,
        "surge_factor": schedule.surge_factor, "ramp_s": schedule.ramp_s, "smoke_rps": schedule.smoke_rps,
        "pacing_s": pacing_s, "__module__": __name__,
    })
