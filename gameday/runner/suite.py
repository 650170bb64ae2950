"""Game-day suites (``experiments/suites/<name>.yaml``), validated on load with clear errors.

    suite = load("default")          # or a path
    for sc in suite.scenarios: sc.experiment, sc.targets["rto_s"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..load.profiles import check_profile
from ..measure.recovery import Slo
from ..yamlfile import read_named, unknown_key

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "experiments" / "suites"
TARGET_KEYS = {"rto_s", "availability", "rpo_records"}
SUITE_KEYS = {"title", "load", "baseline_s", "cooldown_s", "slo", "scenarios"}
SCENARIO_KEYS = {"name", "experiment", "layer", "targets", "playbook"}


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


def _check_keys(data: dict, valid: set[str], where: str) -> None:
    for key in data:
        if key not in valid:
            raise unknown_key(key, valid, where)


def _number(value: Any, where: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise UsageError(f"{where} must be a number >= {minimum:g}, not {value!r}")
    return float(value)


def load(name_or_path: str | Path) -> Suite:
    path, data = read_named(name_or_path, SUITES, "suite")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a suite is a mapping with title, load, scenarios, ...")
    _check_keys(data, SUITE_KEYS, str(path))
    slo_raw = data.get("slo") or {}
    _check_keys(slo_raw, {"min_success_ratio", "max_p95_ms", "window_s"}, f"{path}: slo")
    slo = Slo(min_success_ratio=_number(slo_raw.get("min_success_ratio", 0.99), f"{path}: slo.min_success_ratio"),
              max_p95_ms=_number(slo_raw.get("max_p95_ms", 1000), f"{path}: slo.max_p95_ms"),
              window_s=int(_number(slo_raw.get("window_s", 10), f"{path}: slo.window_s", minimum=1)))
    scenarios = []
    for i, raw in enumerate(data.get("scenarios") or []):
        where = f"{path}: scenarios[{i}]"
        if not isinstance(raw, dict):
            raise UsageError(f"{where} must be a mapping")
        _check_keys(raw, SCENARIO_KEYS, where)
        for required in ("name", "experiment", "layer"):
            if required not in raw:
                raise UsageError(f"{where}: {required} is missing")
        experiment = (ROOT / raw["experiment"]).resolve()
        if not experiment.is_file():
            raise UsageError(f"{where}: experiment {raw['experiment']} does not exist")
        targets = raw.get("targets") or {}
        _check_keys(targets, TARGET_KEYS, f"{where}: targets")
        targets = {k: _number(v, f"{where}: targets.{k}") for k, v in targets.items()}
        targets.setdefault("rpo_records", 0.0)
        scenarios.append(ScenarioSpec(name=str(raw["name"]), experiment=experiment, layer=str(raw["layer"]),
                                      targets=targets, playbook=raw.get("playbook")))
    if not scenarios:
        raise UsageError(f"{path}: the suite lists no scenarios")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise UsageError(f"{path}: scenario names must be unique")
    load_raw = data.get("load") or {}
    _check_keys(load_raw, {"profile"}, f"{path}: load")
    return Suite(name=path.stem, title=str(data.get("title", path.stem)),
                 profile=check_profile(str(load_raw.get("profile", "peak"))),
                 baseline_s=_number(data.get("baseline_s", 20), f"{path}: baseline_s"),
                 cooldown_s=_number(data.get("cooldown_s", 10), f"{path}: cooldown_s"),
                 slo=slo, scenarios=scenarios)
