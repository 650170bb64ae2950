"""What each experiment and playbook says it covers: ``<component>/<failure mode>`` names.

An experiment says it in a Chaos Toolkit extension (Chaos Toolkit keeps extensions as they are)::

    extensions:
      - name: gameday-coverage
        covers: [kafka-brokers/partition-leader-lost]

A playbook (``recovery_playbooks/<name>.py``) in a module constant, read without importing it::

    COVERS = ("kafka-brokers/partition-leader-lost", "kafka-brokers/below-min-isr")

    found = scan(ROOT)          # [Claim(kind="experiment", source="experiments/kafka/...", component=..., mode=...)]
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..yamlfile import read_yaml

EXTENSION = "gameday-coverage"
EXPERIMENTS = "experiments"
PLAYBOOKS = "recovery_playbooks"


@dataclass(frozen=True)
class Claim:
    kind: str  # experiment | playbook
    source: str  # path relative to the repository root
    component: str
    mode: str

    @property
    def cell(self) -> str:
        return f"{self.component}/{self.mode}"


def _split(name: Any, source: str) -> tuple[str, str]:
    if not isinstance(name, str) or name.count("/") != 1 or not all(name.split("/")):
        raise UsageError(f"{source}: coverage entry {name!r} is not <component>/<failure mode>",
                         hint="e.g. covers: [kafka-brokers/partition-leader-lost]")
    component, mode = name.split("/")
    return component, mode


def experiment_covers(data: Any, source: str) -> list[str]:
    """The ``covers`` names of an experiment's ``gameday-coverage`` extension (none: [])."""
    if not isinstance(data, dict):
        return []
    out: list[str] = []
    for ext in data.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == EXTENSION:
            covers = ext.get("covers") or []
            if not isinstance(covers, list):
                raise UsageError(f"{source}: extension {EXTENSION} covers must be a list",
                                 hint="covers: [<component>/<failure mode>, ...]")
            out += covers
    return out


def playbook_covers(text: str, source: str) -> list[str]:
    """The literal ``COVERS`` tuple/list of a playbook module's source (none: [])."""
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise UsageError(f"{source} is not valid Python: {err.msg} (line {err.lineno})") from err
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "COVERS" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError as err:
                raise UsageError(f"{source}: COVERS must be a literal tuple of strings") from err
            if not isinstance(value, (tuple, list)):
                raise UsageError(f"{source}: COVERS must be a tuple of '<component>/<failure mode>' strings")
            return list(value)
    return []


def experiment_files(root: Path) -> list[Path]:
    """Every experiment of the catalog (``experiments/<layer>/*.yaml``; suites are not experiments)."""
    return sorted(p for p in (root / EXPERIMENTS).glob("*/*.yaml") if p.parent.name != "suites")


def playbook_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / PLAYBOOKS).glob("*.py") if not p.stem.startswith("_"))


def scan(root: Path) -> list[Claim]:
    """Every claim of every experiment and playbook under ``root``, in file order."""
    out: list[Claim] = []
    for path in experiment_files(root):
        source = path.relative_to(root).as_posix()
        data = read_yaml(path, "experiment")  # the one safe reader: no aliases, no duplicate keys
        out += [Claim("experiment", source, *_split(name, source)) for name in experiment_covers(data, source)]
    for path in playbook_files(root):
        source = path.relative_to(root).as_posix()
        out += [Claim("playbook", source, *_split(name, source)) for name in playbook_covers(path.read_text(), source)]
    return out


def by_cell(found: list[Claim]) -> dict[str, dict[str, list[str]]]:
    """``{"component/mode": {"experiments": [...], "playbooks": [...]}}``."""
    out: dict[str, dict[str, list[str]]] = {}
    for c in found:
        entry = out.setdefault(c.cell, {"experiments": [], "playbooks": []})
        bucket = entry["experiments" if c.kind == "experiment" else "playbooks"]
        if c.source not in bucket:
            bucket.append(c.source)
    return out
