"""The platform inventory (``platform.yaml``, schema ``gameday.platform/v1``): components, what each
depends on, how each fails, the signals that detect each failure, and the experiments and playbooks
that cover it.

    inv = load(Path("platform.yaml"))       # Inventory, or one UsageError naming the file and every problem
                                            # (model: gameday.schema.platform; schemas/platform.schema.json)
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
from ..project import root as project_root
from ..schema.base import check
from ..schema.platform import SCHEMA, PlatformFile
from ..yamlfile import check_name, read_yaml

ROOT = project_root()
SANDBOX_INVENTORY = ROOT / "platform.yaml"
INVENTORIES = ROOT / "inventory"



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
    absent: tuple[dict[str, Any], ...] = ()  # {id, why, failure_modes}: components this environment does not run

    def absent_component(self, component_id: str) -> dict[str, Any] | None:
        """The ``absent`` entry of a component this environment does not run, or None."""
        return next((a for a in self.absent if a["id"] == component_id), None)

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
        if self.absent:
            out["absent"] = [dict(a) for a in self.absent]
        return out


def parse(data: Any, path: Path | None = None) -> Inventory:
    """An :class:`Inventory` from parsed YAML, checked against :class:`gameday.schema.platform.PlatformFile`:
    one UsageError names the file and lists every problem."""
    top = check(PlatformFile, data, str(path) if path else "inventory", schema="platform")
    components = tuple(
        Component(id=c.id, name=c.name, layer=c.layer, kind=c.kind, description=c.description or "",
                  depends_on=tuple(c.depends_on or ()), realised_by=dict(c.realised_by or {}),
                  failure_modes=tuple(FailureMode(id=m.id, title=m.title, signals=tuple(m.signals or ()),
                                                  experiments=tuple(m.experiments or ()),
                                                  playbooks=tuple(m.playbooks or ()))
                                      for m in c.failure_modes or ()))
        for c in top.components)
    return Inventory(path=path, platform=top.platform, description=top.description or "", components=components,
                     harness=tuple(top.harness or ()), generated_by=top.generated_by,
                     absent=tuple({"id": a.id, "why": a.why, "failure_modes": list(a.failure_modes or ())}
                                  for a in top.absent or ()))


def resolve(name_or_path: str | Path | None) -> Path:
    """The inventory file for ``--inventory``: a ``.yaml`` path, a name in ``inventory/`` (no '/', no '..'),
    or (None) ``platform.yaml``."""
    if name_or_path is None:
        return SANDBOX_INVENTORY
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return INVENTORIES / f"{check_name(str(name_or_path), 'inventory')}.yaml"


def load(name_or_path: str | Path | None = None) -> Inventory:
    """Read and validate an inventory (``None``: the sandbox's ``platform.yaml``)."""
    path = resolve(name_or_path)
    if not path.exists():
        known = ["platform.yaml"] + sorted(f"inventory/{p.name}" for p in INVENTORIES.glob("*.yaml"))
        raise UsageError(f"no inventory file {path}", hint=f"known: {', '.join(known)}; "
                                                           "`gameday coverage inventory --sandbox --write` makes platform.yaml")
    return parse(read_yaml(path, "inventory"), path)


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
