"""A game-day suite (``experiments/suites/<name>.yaml``) as a model.

Everything a suite names is checked before the first fault: the experiment file exists inside
``experiments/``, the layer is one ``targets.yaml`` knows, the playbook is a file of
``recovery_playbooks/``, scenario names are safe and unique.

Objectives come from ``targets.yaml``; a suite overrides them with targets.yaml's own keys
(``targets: {rto_s: 30, min_availability: 0.95}``, ``slo: {success_ratio: 0.95, p95_ms: 2000}``).
A key of the old suite format (``availability``, ``min_success_ratio``, ``max_p95_ms``) is an
error naming its new key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal, Optional

from pydantic import Field, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..load.profiles import PROFILES
from ..project import root as project_root
from .base import Problem, Strict
from .environment import NAME_PATTERN
from .targets import LAYERS, Objectives, SloOverride

ROOT = project_root()
EXPERIMENTS = ROOT / "experiments"
PLAYBOOKS = ROOT / "recovery_playbooks"
RENAMED = {"availability": "min_availability", "min_success_ratio": "success_ratio", "max_p95_ms": "p95_ms"}
Profile = Literal[tuple(PROFILES)]  # type: ignore[valid-type]
Layer = Literal[LAYERS]  # type: ignore[valid-type]


def playbooks() -> list[str]:
    """The playbook names a suite may use: ``recovery_playbooks/<name>.py``."""
    return sorted(p.stem for p in PLAYBOOKS.glob("*.py") if not p.stem.startswith("_"))


class SuiteLoad(Strict):
    profile: Profile = Field("peak", description=f"the load profile: {', '.join(PROFILES)}")
    ramp_s: Optional[float] = Field(None, ge=0, le=600, description="seconds to ramp up to the peak rate (peak and surge); "
                                    "default: the traffic model's generator.ramp_s (loadtests/traffic.yaml)")


def _renamed(value: Any, info: ValidationInfo) -> Any:
    """A key of the old suite format: always an error naming the key that replaced it."""
    new = RENAMED[info.field_name]
    raise ValueError(f"is now {new}, the key targets.yaml uses -> rename it to {new} (the value stays)")


class SuiteSlo(SloOverride):
    """What "a good second" means, overriding targets.yaml's ``slo`` (same keys) for this suite."""

    min_success_ratio: SkipJsonSchema[Any] = Field(None, exclude=True)  # renamed: success_ratio
    max_p95_ms: SkipJsonSchema[Any] = Field(None, exclude=True)  # renamed: p95_ms

    _old_keys = field_validator("min_success_ratio", "max_p95_ms")(_renamed)


class ScenarioTargets(Objectives):
    """This scenario's objectives, overriding what targets.yaml resolves for its layer and
    experiment (same keys); a key left out comes from targets.yaml."""

    availability: SkipJsonSchema[Any] = Field(None, exclude=True)  # renamed: min_availability

    _old_keys = field_validator("availability")(_renamed)


class Scenario(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=100,
                      description="unique in the suite (letters, digits, '-', '_', single dots)")
    experiment: str = Field(max_length=300, pattern=r"^experiments/[A-Za-z0-9_-]+/[A-Za-z0-9_.-]+\.ya?ml$",
                            description="the experiment file, e.g. experiments/web/kill-one-pod.yaml")
    layer: Layer = Field(description=f"the layer it faults: {', '.join(LAYERS)}")
    playbook: Optional[str] = Field(None, max_length=100, description="the recovery playbook "
                                    "(recovery_playbooks/<name>.py), e.g. web")
    targets: Optional[ScenarioTargets] = Field(None, description="objectives for this scenario, overriding "
                                               "targets.yaml's (same keys: rto_s, rpo_records, rpo_s, min_availability)")

    @field_validator("experiment")
    @classmethod
    def exists(cls, value: str) -> str:
        path = (ROOT / value).resolve()
        if not path.is_relative_to(EXPERIMENTS) or path.parent.name == "suites" or not path.is_file():
            raise ValueError(f"experiment {value} does not exist -> a file under experiments/<layer>/")
        return value

    @field_validator("playbook")
    @classmethod
    def known_playbook(cls, value: str | None) -> str | None:
        known = playbooks()
        if value is not None and value not in known:
            raise ValueError(f"is not a playbook -> one of {', '.join(known)} (recovery_playbooks/)")
        return value


class SuiteFile(Strict):
    """``experiments/suites/<name>.yaml``: scenarios run in order under load, each judged against targets."""

    title: Optional[str] = Field(None, max_length=200, description="the suite's title in the report")
    load: Optional[SuiteLoad] = Field(None, description="the load under which every scenario runs")
    baseline_s: float = Field(20, ge=0, le=3600, description="seconds of load before the first fault")
    cooldown_s: float = Field(10, ge=0, le=3600, description="seconds after each scenario")
    slo: Optional[SuiteSlo] = Field(None, description="what a good second is, overriding targets.yaml's slo "
                                    "(same keys: success_ratio, p95_ms, window_s)")
    scenarios: list[Scenario] = Field(min_length=1, max_length=100, description="the scenarios, in order")

    @field_validator("load", "slo", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any) -> Any:
        return None if value == {} else value

    @classmethod
    def cross_problems(cls, data: Any) -> list[Problem]:
        if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
            return []
        names = [s.get("name") for s in data["scenarios"] if isinstance(s, dict) and isinstance(s.get("name"), str)]
        twice = sorted(n for n, count in Counter(names).items() if count > 1)
        return [Problem(f"scenarios: the name {n!r} is used twice", "scenario names must be unique") for n in twice]
