"""``targets.yaml``: RTO, RPO and minimum availability per layer and scenario, with environment overrides.

    targets = load()                                   # the repository's targets.yaml
    t = targets.for_layer("kafka", environment="sandbox", scenario="kill-two-brokers")
    t.rto_s, t.rpo_records, t.rpo_s, t.min_availability
    t.backup_limit()                                   # ("backup_age_s", 900.0), or ("rpo_s", ...) when not set
    targets.slo("gke-production")                     # {"success_ratio", "p95_ms", "window_s"}

Validated on load (model: :mod:`gameday.schema.targets`; JSON Schema: ``schemas/targets.schema.json``):
one :class:`~gameday.errors.UsageError` names the file and lists every unknown key, wrong type or
out-of-range value with its key path and fix (for a typo, the closest valid key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..project import root as project_root
from ..schema.base import check
from ..schema.targets import LAYERS, SCHEMA, Objectives, TargetsFile  # noqa: F401 - LAYERS, SCHEMA re-exported
from ..yamlfile import closest, parse_yaml, read_yaml

ROOT = project_root()
DEFAULT_FILE = ROOT / "targets.yaml"
FIELDS = {"rto_s", "rpo_records", "rpo_s", "min_availability", "backup_age_s"}
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
    backup_age_s: float | None = None  # a layer's, never a scenario's; None: the layer does not set it

    def backup_limit(self) -> tuple[str, float]:
        """How old the layer's newest backup may be, and the targets.yaml key that says so: its
        ``backup_age_s``, else its ``rpo_s`` (preflight's backup check, :mod:`gameday.measure.backup_age`)."""
        return ("backup_age_s", self.backup_age_s) if self.backup_age_s is not None else ("rpo_s", self.rpo_s)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _objectives(entry: Objectives | None) -> dict[str, Any]:
    """``{"fields": {...given objectives...}, "scenarios": {name: {...}}}`` of one checked layer entry."""
    if entry is None:
        return {}
    scenarios = getattr(entry, "scenarios", None) or {}
    return {"fields": entry.model_dump(exclude_none=True, exclude={"scenarios"}),
            "scenarios": {str(n): sc.model_dump(exclude_none=True) for n, sc in scenarios.items()}}


def _layers(layers: Any) -> dict[str, dict]:
    if layers is None:
        return {}
    return {layer: got for layer in LAYERS if (got := _objectives(getattr(layers, layer)))}


class Targets:
    """A checked ``targets.yaml`` (model: :class:`gameday.schema.targets.TargetsFile`)."""

    def __init__(self, data: Any, source: str):
        self.source = source
        checked = check(TargetsFile, data, source, schema="targets")
        self._slo = checked.defaults.slo.model_dump(exclude_none=True)
        self._layers = _layers(checked.defaults.layers)
        self._envs: dict[str, dict] = {}
        for name, env in (checked.environments or {}).items():
            self._envs[str(name)] = {"slo": env.slo.model_dump(exclude_none=True) if env.slo else {},
                                     "layers": _layers(env.layers)}

    @property
    def environments(self) -> list[str]:
        return sorted(self._envs)

    def slo(self, environment: str | None = None) -> dict[str, float]:
        return {**self._slo, **self._envs.get(environment or "", {}).get("slo", {})}

    def for_layer(self, layer: str, *, environment: str | None = None, scenario: str | None = None) -> LayerTarget:
        if layer not in LAYERS:
            raise UsageError(f"{self.source}: layer: unknown key {layer!r}", hint=closest(layer, LAYERS))
        values: dict[str, float] = {}
        for layers in (self._layers, self._envs.get(environment or "", {}).get("layers", {})):
            entry = layers.get(layer)
            if entry:
                values.update(entry["fields"])
                if scenario:
                    values.update(entry["scenarios"].get(scenario, {}))
        return LayerTarget(layer=layer, scenario=scenario, environment=environment, rto_s=float(values["rto_s"]),
                           rpo_records=int(values["rpo_records"]), rpo_s=float(values["rpo_s"]),
                           min_availability=float(values["min_availability"]),
                           backup_age_s=float(values["backup_age_s"]) if "backup_age_s" in values else None)


def parse(text: str | bytes, source: str = "targets.yaml") -> Targets:
    """A :class:`Targets` from the text of a targets file (safe YAML, then the model)."""
    return Targets(parse_yaml(text, source), source)


def load(path: str | Path | None = None) -> Targets:
    """The targets file at ``path`` (default: the repository's ``targets.yaml``), checked."""
    p = Path(path) if path else DEFAULT_FILE
    if not p.exists():
        raise UsageError(f"targets file {p} does not exist", hint="the repository's targets.yaml is the example")
    return Targets(read_yaml(p, "targets"), str(p))
