"""Recovery playbooks: diagnose a layer, plan, restore it and verify it, every step timed and bounded.

    from gameday.recovery import load_playbook, Context, run
    ctx = Context.for_environment(load("sandbox"))
    result = run(load_playbook("kafka"), ctx, apply=True)   # PlaybookResult; .to_dict() is JSON
    result.outcome                                           # healthy | needs-restore | restored | failed

The engine is :mod:`gameday.recovery.engine`; per-layer diagnosis, actions and checks live in
:mod:`gameday.recovery.layers` and act through the environment's target (``ctx.target``: members,
controls, endpoints; :mod:`gameday.recovery.context`); the playbooks themselves are thin modules in ``recovery_playbooks/``
(``PLAYBOOK = Playbook(...)``) found by name. Targets: :mod:`gameday.recovery.targets_yaml`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import UsageError
from ..project import root as project_root
from .engine import (FAILED, HEALTHY, NEEDS_RESTORE, RESTORED, Check, Finding, Part, Playbook, PlaybookResult,
                     Step, StepResult, run)

ROOT = project_root()
PLAYBOOKS = ROOT / "recovery_playbooks"
ORDER = ("db", "kafka", "search", "web", "site")


def available() -> list[str]:
    return sorted(p.stem for p in PLAYBOOKS.glob("*.py") if not p.stem.startswith("_"))


def load_playbook(name: str, directory: Path = PLAYBOOKS) -> Playbook:
    """The ``PLAYBOOK`` of ``recovery_playbooks/<name>.py``."""
    path = directory / f"{name}.py"
    if not name.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        names = ", ".join(p.stem for p in sorted(directory.glob("*.py")) if not p.stem.startswith("_"))
        raise UsageError(f"no playbook named {name!r}", hint=f"playbooks: {names}")
    spec = importlib.util.spec_from_file_location(f"recovery_playbooks.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    playbook = getattr(module, "PLAYBOOK", None)
    if not isinstance(playbook, Playbook):
        raise UsageError(f"{path} defines no PLAYBOOK = Playbook(...)")
    return playbook


def __getattr__(name: str):
    if name == "Context":  # imported lazily: it pulls in the target and database clients
        from .context import Context
        return Context
    raise AttributeError(name)


__all__ = ["Check", "Context", "Finding", "Part", "Playbook", "PlaybookResult", "Step", "StepResult", "run",
           "load_playbook", "available", "HEALTHY", "NEEDS_RESTORE", "RESTORED", "FAILED"]
