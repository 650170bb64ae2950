"""The platform inventory (``platform.yaml``, ``inventory/<name>.yaml``; schema ``gameday.platform/v1``)
as a model. :mod:`gameday.coverage.inventory` builds its ``Inventory`` from it."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal, Optional

from pydantic import Field

from .base import Problem, Strict

SCHEMA = "gameday.platform/v1"


class FailureMode(Strict):
    id: str = Field(min_length=1, max_length=100, description="unique within its component, e.g. primary-lost")
    title: str = Field(min_length=1, max_length=300, description="what happens, in a sentence")
    signals: Optional[list[str]] = Field(None, max_length=100, description="what detects it")
    experiments: Optional[list[str]] = Field(None, max_length=100, description="experiment files that cover it")
    playbooks: Optional[list[str]] = Field(None, max_length=100, description="playbook files that restore it")


class Component(Strict):
    id: str = Field(min_length=1, max_length=100, description="unique in the inventory, e.g. kafka-brokers")
    name: str = Field(min_length=1, max_length=300, description="its name for people")
    layer: Optional[str] = Field(None, max_length=100, description="the gameday layer it belongs to")
    kind: str = Field(min_length=1, max_length=100, description="e.g. database, statefulset, deployment")
    description: Optional[str] = Field(None, max_length=2000, description="what it does")
    depends_on: Optional[list[str]] = Field(None, max_length=100, description="ids of components it needs")
    realised_by: Optional[dict[str, Any]] = Field(None, description="what runs it (workload, members, endpoints)")
    failure_modes: Optional[list[FailureMode]] = Field(None, max_length=200, description="how it fails")


class AbsentComponent(Strict):
    """A component of the platform this environment does not run (the Python twin has no object cache):
    a claim naming it is not a problem here, and none of its failure modes is a cell of this inventory."""

    id: str = Field(min_length=1, max_length=100, description="the component's id where it runs, e.g. object-cache")
    why: str = Field(min_length=1, max_length=500, description="why it is not here, and where it is")
    failure_modes: Optional[list[str]] = Field(None, max_length=200, description="its failure mode ids")


class PlatformFile(Strict):
    """A platform inventory: components, dependencies, failure modes and what covers them."""

    schema_: Literal["gameday.platform/v1"] = Field(alias="schema", description=f"always {SCHEMA}")
    platform: str = Field(min_length=1, max_length=100, description="the platform's name, e.g. sandbox")
    description: Optional[str] = Field(None, max_length=2000, description="one paragraph about it")
    generated_by: Optional[str] = Field(None, max_length=300, description="the command that wrote the file")
    components: list[Component] = Field(max_length=1000, description="every component")
    harness: Optional[list[dict[str, Any]]] = Field(None, max_length=1000, description="what the harness itself runs")
    absent: Optional[list[AbsentComponent]] = Field(None, max_length=1000,
                                                    description="components of the platform this environment does not run")

    @classmethod
    def cross_problems(cls, data: Any) -> list[Problem]:
        if not isinstance(data, dict) or not isinstance(data.get("components"), list):
            return []
        components = [c for c in data["components"] if isinstance(c, dict)]
        ids = [c.get("id") for c in components if isinstance(c.get("id"), str)]
        out = [Problem(f"components: the id {i!r} is listed twice", "component ids must be unique")
               for i, n in Counter(ids).items() if n > 1]
        known = set(ids)
        for c in components:
            modes = [m.get("id") for m in c.get("failure_modes") or [] if isinstance(m, dict)] \
                if isinstance(c.get("failure_modes"), list) else []
            out += [Problem(f"component {c.get('id')!r}: failure mode {m!r} is listed twice",
                            "failure mode ids must be unique per component")
                    for m, n in Counter(x for x in modes if isinstance(x, str)).items() if n > 1]
            deps = c.get("depends_on")
            for dep in deps if isinstance(deps, list) else []:
                if isinstance(dep, str) and dep not in known:
                    out.append(Problem(f"component {c.get('id')!r} depends on {dep!r}, which is not in the inventory",
                                       f"components: {', '.join(sorted(known))}"[:300]))
        return out
