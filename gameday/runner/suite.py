"""Game-day suites (``experiments/suites/<name>.yaml``), validated on load with clear errors
(models: :mod:`gameday.schema.suite`; JSON Schema: ``schemas/suite.schema.json``), their objectives
resolved from ``targets.yaml``, the one source of recovery objectives::

    suite = load("default")                           # or a path; objectives of targets.yaml's defaults
    suite = suite.for_environment(env.name)          # ... and of its environments.<name> (the runner does this)
    for sc in suite.scenarios: sc.experiment, sc.targets.rto_s, sc.targets.min_availability
    suite.slo.min_success_ratio, suite.slo.max_p95_ms, suite.slo.window_s
    suite.profile, suite.ramp_s                       # load: {profile: peak, ramp_s: 10}; ramp_s None: the model's

A scenario's objectives: targets.yaml's for its layer and experiment (``experiments/<layer>/<scenario>.yaml``
-> ``layers.<layer>.scenarios.<scenario>``) in the environment, then the suite's own ``targets:``
(same keys). The SLO: targets.yaml's ``slo`` for the environment, then the suite's ``slo:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..measure.recovery import Slo
from ..project import root as project_root
from ..recovery import targets_yaml
from ..schema.base import check
from ..schema.suite import SuiteFile, SuiteLoad
from ..yamlfile import read_named

ROOT = project_root()
SUITES = ROOT / "experiments" / "suites"
FIELDS = ("rto_s", "rpo_records", "rpo_s", "min_availability")  # targets.yaml's objective keys


@dataclass(frozen=True)
class Objectives:
    """One scenario's resolved objectives (targets.yaml's keys), each judged against its figure."""

    rto_s: float
    rpo_records: float
    rpo_s: float
    min_availability: float

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in FIELDS}


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    experiment: Path
    layer: str
    targets: Objectives
    playbook: str | None = None
    overrides: dict[str, float] = field(default_factory=dict)  # the suite's own targets: {...}

    @property
    def scenario(self) -> str:
        """The scenario's key in targets.yaml (``layers.<layer>.scenarios.<key>``): the experiment's file name."""
        return self.experiment.stem


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    profile: str
    baseline_s: float
    cooldown_s: float
    slo: Slo
    scenarios: list[ScenarioSpec] = field(default_factory=list)
    slo_overrides: dict[str, float] = field(default_factory=dict)  # the suite's own slo: {...}
    ramp_s: float | None = None  # load.ramp_s; None: the traffic model's
    environment: str | None = None  # the targets.yaml environment the objectives were resolved for

    def for_environment(self, environment: str | None, targets: targets_yaml.Targets | None = None) -> "Suite":
        """The same suite with its objectives and SLO resolved for ``environment`` (targets.yaml's
        ``environments.<name>``, when it has one), the suite's overrides still winning. The runner
        calls it with the environment it runs against."""
        targets = targets or targets_yaml.load()
        return replace(self, environment=environment, slo=resolve_slo(targets, environment, self.slo_overrides),
                       scenarios=[replace(sc, targets=resolve(targets, sc.layer, sc.scenario, environment, sc.overrides))
                                  for sc in self.scenarios])


def resolve(targets: targets_yaml.Targets, layer: str, scenario: str | None, environment: str | None,
            overrides: dict[str, float]) -> Objectives:
    """targets.yaml's objectives for ``layer`` / ``scenario`` in ``environment``, then ``overrides``."""
    base = targets.for_layer(layer, environment=environment, scenario=scenario).to_dict()
    return Objectives(**{k: float(overrides.get(k, base[k])) for k in FIELDS})


def resolve_slo(targets: targets_yaml.Targets, environment: str | None, overrides: dict[str, float]) -> Slo:
    """targets.yaml's ``slo`` for ``environment``, then ``overrides`` (its keys), as the measure's :class:`Slo`."""
    slo: dict[str, Any] = {**targets.slo(environment), **overrides}
    return Slo(min_success_ratio=float(slo["success_ratio"]), max_p95_ms=float(slo["p95_ms"]),
               window_s=int(slo["window_s"]))


def load(name_or_path: str | Path, *, environment: str | None = None,
         targets: targets_yaml.Targets | None = None) -> Suite:
    """Load ``experiments/suites/<name>.yaml`` (a bare name: no '/', no '..') or a ``.yaml`` path,
    checked against :class:`gameday.schema.suite.SuiteFile` (one UsageError lists every problem),
    with objectives resolved from ``targets`` (default: the repository's targets.yaml) for
    ``environment`` (default: targets.yaml's defaults)."""
    path, data = read_named(name_or_path, SUITES, "suite")
    suite = check(SuiteFile, data, str(path), schema="suite")
    targets = targets or targets_yaml.load()
    scenarios = []
    for sc in suite.scenarios:
        overrides = sc.targets.model_dump(exclude_none=True, include=set(FIELDS)) if sc.targets else {}
        experiment = (ROOT / sc.experiment).resolve()
        scenarios.append(ScenarioSpec(name=sc.name, experiment=experiment, layer=sc.layer, playbook=sc.playbook,
                                      overrides=overrides,
                                      targets=resolve(targets, sc.layer, experiment.stem, environment, overrides)))
    slo_overrides = suite.slo.model_dump(exclude_none=True, include={"success_ratio", "p95_ms", "window_s"}) \
        if suite.slo else {}
    load = suite.load or SuiteLoad()
    return Suite(name=path.stem, title=suite.title or path.stem, profile=load.profile,
                 baseline_s=float(suite.baseline_s), cooldown_s=float(suite.cooldown_s),
                 slo=resolve_slo(targets, environment, slo_overrides), scenarios=scenarios,
                 slo_overrides=slo_overrides, environment=environment, ramp_s=load.ramp_s)
