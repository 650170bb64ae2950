"""The platform inventory (``platform.yaml``, schema ``gameday.platform/v1``): components, what each
depends on, how each fails, the signals that detect each failure, and the experiments and playbooks
that cover it.

    inv = load(Path("platform.yaml"))       # Inventory, or a UsageError naming the file and the key
    inv.component("kafka-brokers").mode("below-min-isr").signals
    text = dump(inv.to_dict())              # YAML as the generator writes it

Paths in ``experiments`` / ``playbooks`` are relative to the repository root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..yamlfile import unknown_key

SCHEMA = "gameday.platform/v1"
ROOT = Path(__file__).resolve().parents[2]
SANDBOX_INVENTORY = ROOT / "platform.yaml"
INVENTORIES = ROOT / "inventory"

TOP_KEYS = {"schema", "platform", "description", "generated_by", "components", "harness"}
COMPONENT_KEYS = {"id", "name", "layer", "kind", "description", "depends_on", "realised_by", "failure_modes"}
MODE_KEYS = {"id", "title", "signals", "experiments", "playbooks"}


@dataclass(frozen=True)
class FailureMode:
    id: str
    title: str
    signals: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    playbooks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "signals": list(self.signals),
                "experiments": list(self.experiments), "playbooks": list(self.playbooks)}


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    layer: str | None
    kind: str
    description: str
    depends_on: tuple[str, ...]
    failure_modes: tuple[FailureMode, ...]
    realised_by: dict[str, Any] = field(default_factory=dict)

    def mode(self, mode_id: str) -> FailureMode | None:
        return next((m for m in self.failure_modes if m.id == mode_id), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.layer:
            out["layer"] = self.layer
        out.update(kind=self.kind, description=self.description, depends_on=list(self.depends_on))
        if self.realised_by:
            out["realised_by"] = self.realised_by
        out["failure_modes"] = [m.to_dict() for m in self.failure_modes]
        return out


@dataclass(frozen=True)
class Inventory:
    path: Path | None
    platform: str
    description: str
    components: tuple[Component, ...]
    harness: tuple[dict[str, Any], ...] = ()
    generated_by: str | None = None

    def component(self, component_id: str) -> Component | None:
        return next((c for c in self.components if c.id == component_id), None)

    def cells(self) -> list[tuple[Component, FailureMode]]:
        """Every (component, failure mode) pair, in inventory order: the rows of the coverage matrix."""
        return [(c, m) for c in self.components for m in c.failure_modes]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "platform": self.platform, "description": self.description}
        if self.generated_by:
            out["generated_by"] = self.generated_by
        out["components"] = [c.to_dict() for c in self.components]
        if self.harness:
            out["harness"] = list(self.harness)
        return out


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where} must be a list of strings", hint="e.g. [experiments/web/kill-one-pod.yaml]")
    return tuple(value)


def _mapping(value: Any, keys: set[str], required: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping", hint=f"with keys {', '.join(required)}")
    for key in value:
        if key not in keys:
            raise unknown_key(str(key), keys, where)
    for key in required:
        if not value.get(key):
            raise UsageError(f"{where} has no {key!r}", hint=f"add {key}: ...")
    return value


def parse(data: Any, path: Path | None = None) -> Inventory:
    """An :class:`Inventory` from parsed YAML; every problem is a UsageError naming where it is."""
    name = str(path) if path else "inventory"
    top = _mapping(data, TOP_KEYS, ("schema", "platform", "components"), name)
    if top["schema"] != SCHEMA:
        raise UsageError(f"{name}: schema is {top['schema']!r}, not {SCHEMA!r}", hint=f"set schema: {SCHEMA}")
    if not isinstance(top["components"], list):
        raise UsageError(f"{name}: components must be a list")
    components = []
    seen: set[str] = set()
    for i, raw in enumerate(top["components"]):
        where = f"{name}: components[{i}]"
        c = _mapping(raw, COMPONENT_KEYS, ("id", "name", "kind"), where)
        where = f"{name}: component {c['id']!r}"
        if c["id"] in seen:
            raise UsageError(f"{where} is listed twice", hint="component ids must be unique")
        seen.add(c["id"])
        modes = []
        mode_ids: set[str] = set()
        for j, raw_mode in enumerate(c.get("failure_modes") or []):
            m = _mapping(raw_mode, MODE_KEYS, ("id", "title"), f"{where}: failure_modes[{j}]")
            mwhere = f"{where}: failure mode {m['id']!r}"
            if m["id"] in mode_ids:
                raise UsageError(f"{mwhere} is listed twice", hint="failure mode ids must be unique per component")
            mode_ids.add(m["id"])
            modes.append(FailureMode(id=str(m["id"]), title=str(m["title"]),
                                     signals=_strings(m.get("signals"), f"{mwhere}: signals"),
                                     experiments=_strings(m.get("experiments"), f"{mwhere}: experiments"),
                                     playbooks=_strings(m.get("playbooks"), f"{mwhere}: playbooks")))
        realised = c.get("realised_by") or {}
        if not isinstance(realised, dict):
            raise UsageError(f"{where}: realised_by must be a mapping")
        components.append(Component(id=str(c["id"]), name=str(c["name"]), layer=c.get("layer"), kind=str(c["kind"]),
                                     description=str(c.get("description") or ""),
                                     depends_on=_strings(c.get("depends_on"), f"{where}: depends_on"),
                                     failure_modes=tuple(modes), realised_by=realised))
    for c in components:
        for dep in c.depends_on:
            if dep not in seen:
                raise UsageError(f"{name}: component {c.id!r} depends on {dep!r}, which is not in the inventory",
                                 hint=f"components: {', '.join(sorted(seen))}")
    harness = top.get("harness") or []
    if not isinstance(harness, list):
        raise UsageError(f"{name}: harness must be a list")
    return Inventory(path=path, platform=str(top["platform"]), description=str(top.get("description") or ""),
                     components=tuple(components), harness=tuple(harness), generated_by=top.get("generated_by"))


def resolve(name_or_path: str | Path | None) -> Path:
    """The inventory file for ``--inventory``: a path, a name in ``inventory/``, or (None) ``platform.yaml``."""
    if name_or_path is None:
        return SANDBOX_INVENTORY
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path
    return INVENTORIES / f"{name_or_path}.yaml"


def load(name_or_path: str | Path | None = None) -> Inventory:
    """Read and validate an inventory (``None``: the sandbox's ``platform.yaml``)."""
    path = resolve(name_or_path)
    if not path.is_file():
        known = ["platform.yaml"] + sorted(f"inventory/{p.name}" for p in INVENTORIES.glob("*.yaml"))
        raise UsageError(f"no inventory file {path}", hint=f"known: {', '.join(known)}; "
                                                           "`gameday coverage inventory --sandbox --write` makes platform.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UsageError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from err
    return parse(data, path)


class _Dumper(yaml.SafeDumper):
    """Block style, but short lists of scalars inline (as the hand-written files are)."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = bool(data) and all(isinstance(v, (str, int, float)) for v in data) and sum(len(str(v)) for v in data) < 70
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump(data: dict[str, Any], header: str = "") -> str:
    """YAML text of an inventory dict, keys in the order given, preceded by ``header`` comment lines."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True, default_flow_style=False)
    return header + body
