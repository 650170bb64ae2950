"""Game-day suites (``experiments/suites/<name>.yaml``), validated on load with clear errors
(models: :mod:`gameday.schema.suite`; JSON Schema: ``schemas/suite.schema.json``).

    suite = load("default")          # or a path
    for sc in suite.scenarios: sc.experiment, sc.targets["rto_s"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..measure.recovery import Slo
from ..schema.base import check
from ..schema.suite import SuiteFile, SuiteLoad, SuiteSlo
from ..yamlfile import read_named
from ..project import root as project_root

ROOT = project_root()
SUITES = ROOT / "experiments" / "suites"


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    experiment: Path
    layer: str
    targets: dict[str, float]
    playbook: str | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    profile: str
    baseline_s: float
    cooldown_s: float
    slo: Slo
    scenarios: list[ScenarioSpec] = field(default_factory=list)


def load(name_or_path: str | Path) -> Suite:
    """Load ``experiments/suites/<name>.yaml`` (a bare name: no '/', no '..') or a ``.yaml`` path,
    checked against :class:`gameday.schema.suite.SuiteFile`: one UsageError lists every problem."""
    path, data = read_named(name_or_path, SUITES, "suite")
    suite = check(SuiteFile, data, str(path), schema="suite")
    slo = suite.slo or SuiteSlo()
    scenarios = []
    for sc in suite.scenarios:
        targets = {k: float(v) for k, v in (sc.targets.model_dump(exclude_none=True) if sc.targets else {}).items()}
        targets.setdefault("rpo_records", 0.0)
        scenarios.append(ScenarioSpec(name=sc.name, experiment=(ROOT / sc.experiment).resolve(), layer=sc.layer,
                                      targets=targets, playbook=sc.playbook))
    return Suite(name=path.stem, title=suite.title or path.stem, profile=(suite.load or SuiteLoad()).profile,
                 baseline_s=float(suite.baseline_s), cooldown_s=float(suite.cooldown_s),
                 slo=Slo(min_success_ratio=slo.min_success_ratio, max_p95_ms=slo.max_p95_ms, window_s=slo.window_s),
                 scenarios=scenarios)
