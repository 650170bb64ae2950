"""``targets.yaml``: RTO, RPO and minimum availability per layer and scenario, with environment overrides.

    targets = load()                                   # the repository's targets.yaml
    t = targets.for_layer("kafka", environment="sandbox", scenario="kill-two-brokers")
    t.rto_s, t.rpo_records, t.rpo_s, t.min_availability
    targets.slo("gke-production")                     # {"success_ratio", "p95_ms", "window_s"}

Validated on load: an unknown key, a wrong type or an out-of-range value is a
:class:`~gameday.errors.UsageError` naming the file, the key's path and, for a typo, the closest
valid key.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "targets.yaml"
SCHEMA = "gameday.targets/v1"
LAYERS = ("web", "db", "kafka", "search", "indexer", "site")
FIELDS = {"rto_s", "rpo_records", "rpo_s", "min_availability"}
SLO_FIELDS = {"success_ratio", "p95_ms", "window_s"}


@dataclass(frozen=True)
class LayerTarget:
    layer: str
    scenario: str | None
    environment: str | None
    rto_s: float
    rpo_records: int
    rpo_s: float
    min_availability: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _unknown(key: Any, valid: set[str] | tuple[str, ...], where: str) -> UsageError:
    close = difflib.get_close_matches(str(key), sorted(valid), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(sorted(valid))}"
    return UsageError(f"{where}: unknown key {key!r}", hint=hint)


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping, not {type(value).__name__} ({value!r})")
    return value


def _number(value: Any, where: str, *, low: float = 0.0, high: float | None = None, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "a whole number" if integer else "a number"
        raise UsageError(f"{where} must be {kind}, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise UsageError(f"{where} must be {bounds}, not {value!r}")
    return value


def _check_fields(values: dict, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        if key == "scenarios":
            continue
        if key not in FIELDS:
            raise _unknown(key, FIELDS | {"scenarios"}, where)
        if key == "rto_s":
            out[key] = _number(value, f"{where}.{key}", low=1e-9)
        elif key == "rpo_records":
            out[key] = _number(value, f"{where}.{key}", integer=True)
        elif key == "min_availability":
            out[key] = _number(value, f"{where}.{key}", high=1.0)
        else:
            out[key] = _number(value, f"{where}.{key}")
    return out


def _check_layers(layers: Any, where: str) -> dict[str, dict]:
    checked: dict[str, dict] = {}
    for layer, values in _mapping(layers, where).items():
        if layer not in LAYERS:
            raise _unknown(layer, LAYERS, where)
        values = _mapping(values, f"{where}.{layer}")
        scenarios = {}
        for name, sc in _mapping(values.get("scenarios"), f"{where}.{layer}.scenarios").items():
            sc = _mapping(sc, f"{where}.{layer}.scenarios.{name}")
            if "scenarios" in sc:
                raise UsageError(f"{where}.{layer}.scenarios.{name}: scenarios do not nest")
            scenarios[str(name)] = _check_fields(sc, f"{where}.{layer}.scenarios.{name}")
        checked[layer] = {"fields": _check_fields(values, f"{where}.{layer}"), "scenarios": scenarios}
    return checked


def _check_slo(slo: Any, where: str) -> dict[str, float]:
    out = {}
    for key, value in _mapping(slo, where).items():
        if key not in SLO_FIELDS:
            raise _unknown(key, SLO_FIELDS, where)
        out[key] = _number(value, f"{where}.{key}", high=1.0 if key == "success_ratio" else None)
    return out


class Targets:
    def __init__(self, data: Any, source: str):
        self.source = source
        data = _mapping(data, source)
        for key in data:
            if key not in ("schema", "defaults", "environments"):
                raise _unknown(key, {"schema", "defaults", "environments"}, source)
        if data.get("schema") != SCHEMA:
            raise UsageError(f"{source}: schema must be {SCHEMA!r}, not {data.get('schema')!r}")
        defaults = _mapping(data.get("defaults"), f"{source}: defaults")
        for key in defaults:
            if key not in ("slo", "layers"):
                raise _unknown(key, {"slo", "layers"}, f"{source}: defaults")
        self._slo = _check_slo(defaults.get("slo"), f"{source}: defaults.slo")
        missing_slo = SLO_FIELDS - set(self._slo)
        if missing_slo:
            raise UsageError(f"{source}: defaults.slo is missing {', '.join(sorted(missing_slo))}")
        self._layers = _check_layers(defaults.get("layers"), f"{source}: defaults.layers")
        for layer in LAYERS:
            got = self._layers.get(layer, {"fields": {}})["fields"]
            missing = FIELDS - set(got)
            if missing:
                raise UsageError(f"{source}: defaults.layers.{layer} is missing {', '.join(sorted(missing))}",
                                 hint="every layer needs rto_s, rpo_records, rpo_s and min_availability")
        self._envs: dict[str, dict] = {}
        for name, env in _mapping(data.get("environments"), f"{source}: environments").items():
            env = _mapping(env, f"{source}: environments.{name}")
            for key in env:
                if key not in ("slo", "layers"):
                    raise _unknown(key, {"slo", "layers"}, f"{source}: environments.{name}")
            self._envs[str(name)] = {"slo": _check_slo(env.get("slo"), f"{source}: environments.{name}.slo"),
                                     "layers": _check_layers(env.get("layers"), f"{source}: environments.{name}.layers")}

    @property
    def environments(self) -> list[str]:
        return sorted(self._envs)

    def slo(self, environment: str | None = None) -> dict[str, float]:
        return {**self._slo, **self._envs.get(environment or "", {}).get("slo", {})}

    def for_layer(self, layer: str, *, environment: str | None = None, scenario: str | None = None) -> LayerTarget:
        if layer not in LAYERS:
            raise _unknown(layer, LAYERS, f"{self.source}: layer")
        values: dict[str, float] = {}
        for layers in (self._layers, self._envs.get(environment or "", {}).get("layers", {})):
            entry = layers.get(layer)
            if entry:
                values.update(entry["fields"])
                if scenario:
                    values.update(entry["scenarios"].get(scenario, {}))
        return LayerTarget(layer=layer, scenario=scenario, environment=environment, rto_s=float(values["rto_s"]),
                           rpo_records=int(values["rpo_records"]), rpo_s=float(values["rpo_s"]),
                           min_availability=float(values["min_availability"]))


def parse(text: str, source: str = "targets.yaml") -> Targets:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"{source}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    return Targets(data, source)


def load(path: str | Path | None = None) -> Targets:
    p = Path(path) if path else DEFAULT_FILE
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise UsageError(f"targets file {p} does not exist", hint="the repository's targets.yaml is the example") from None
    return parse(text, str(p))
