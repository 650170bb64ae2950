"""Build the report as a plain dict with a versioned schema (``gameday.report/v1``).

The runner hands over what happened; this module judges each figure against its target, scores the
run and words the verdict. Everything the HTML, JUnit and PDF show comes from this dict::

    report = build(run_id=..., started_at=..., ended_at=..., target={...}, suite="default",
                   scenarios=[Scenario(...), ...], versions={...})
    json.dumps(report)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..measure.backup_age import BackupAge
from ..measure.phases import NOT_RESTORED, Phases

SCHEMA = "gameday.report/v1"
SCORE_FORMULA = ("score = 100 x (targets met / targets judged), over every scenario's RTO, RPO and availability; "
                 "a scenario that did not finish counts as one missed target")


@dataclass
class Check:
    """One figure next to its target. ``higher_is_better`` for availability, lower for RTO/RPO/TTD."""

    name: str
    value: float | None
    target: float | None
    unit: str
    higher_is_better: bool = False
    explain: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None  # reported, not judged
        if self.value is None:
            return False  # e.g. never recovered
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "target": self.target, "unit": self.unit,
                "met": self.met, "higher_is_better": self.higher_is_better, "explain": self.explain}


@dataclass
class Scenario:
    name: str
    title: str
    description: str
    layer: str
    experiment: str
    status: str  # "completed" (ran to the end), "interrupted", "error"
    fault_at: float | None
    checks: list[Check]
    recovery: dict[str, Any] = field(default_factory=dict)
    rpo: dict[str, Any] = field(default_factory=dict)
    playbook: dict[str, Any] | None = None
    series: list[dict[str, Any]] = field(default_factory=list)  # per second: t, rps, error_ratio, p95_ms
    marks: dict[str, float | None] = field(default_factory=dict)  # fault, detected, recovered (unix s)
    artifacts: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    phases: Phases | None = None  # the RTO split on a timeline, each layer's redundancy restored
    edge: dict[str, Any] | None = None  # the CDN's hit ratio before and during the fault (runner.judge._edge)

    @property
    def passed(self) -> bool:
        return self.status == "completed" and all(c.met is not False for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "layer": self.layer,
                "experiment": self.experiment, "status": self.status, "passed": self.passed,
                "fault_at": self.fault_at, "checks": [c.as_dict() for c in self.checks],
                "recovery": self.recovery, "rpo": self.rpo, "playbook": self.playbook, "series": self.series,
                "marks": self.marks, "artifacts": self.artifacts, "error": self.error,
                "phases": self.phases.as_dict() if self.phases else None, "edge": self.edge,
                "full_redundancy": self.full_redundancy()}

    def full_redundancy(self) -> dict[str, Any] | None:
        """The summary beside the site's RTO: seconds from the fault until every measured layer was
        full again (``after_fault_s``; None when not restored or not measured), and each layer's account."""
        if self.phases is None:
            return None
        m = self.phases.milestone("redundancy_restored")
        return {"after_fault_s": m.after_fault_s, "note": m.note,
                "layers": {r.layer: {"status": r.status, "check": r.check,
                                     "after_fault_s": r.after_fault_s(self.phases.fault_at),
                                     "text": r.sentence(self.phases.fault_at)} for r in self.phases.redundancy}}


def figure(value: float | None, unit: str = "", judged: bool = True) -> str:
    """A figure as people read it: 97.12%, 8.3 s, 0 records; ``never`` for a judged time that never
    came (a recovery that did not happen), ``not measured`` for a judged count that could not be read
    (canaries whose read-back failed), ``-`` for a figure with nothing to show."""
    if value is None:
        if not judged:
            return "-"
        return {"s": "never", "records": "not measured"}.get(unit, "-")
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit == "s":
        return f"{value:.1f} s"
    return f"{value:g} {unit}".strip()


def action_items(scenarios: list[Scenario]) -> list[str]:
    items = []
    for s in scenarios:
        if s.status != "completed":
            items.append(f"{s.title}: the scenario did not finish ({s.status}{': ' + s.error if s.error else ''}); "
                         "investigate and re-run it.")
        for c in s.checks:
            if c.met is False:
                items.append(f"{s.title}: {c.name} was {figure(c.value, c.unit)} against a target of "
                             f"{figure(c.target, c.unit)}. {c.explain}".strip())
        for r in (s.phases.redundancy if s.phases else ()):
            if r.status == NOT_RESTORED:
                items.append(f"{s.title}: the {r.layer} layer's redundancy ({r.check}) was not restored when the "
                             f"game day stopped waiting ({r.detail}); until it is, the next loss is an outage.")
    return items


def verdict(scenarios: list[Scenario], interrupted: bool) -> tuple[str, str]:
    """(``passed`` | ``failed`` | ``partial``, a sentence a stakeholder can read)."""
    failed = [s for s in scenarios if not s.passed]
    if interrupted:
        return "partial", (f"The game day was interrupted after {len(scenarios)} scenario(s); "
                           f"{len(scenarios) - len(failed)} met every target.")
    if not scenarios:
        return "failed", "No scenario ran."
    if not failed:
        rpo_checked = any(c.name.startswith("RPO") for s in scenarios for c in s.checks)
        return "passed", (f"Every one of the {len(scenarios)} failures we caused was recovered within its targets"
                          + (", and no acknowledged data was lost." if rpo_checked else
                             ". (Data loss was not measured in this run.)"))
    names = ", ".join(s.title for s in failed)
    return "failed", f"{len(failed)} of {len(scenarios)} scenarios missed a target: {names}."


def build(*, run_id: str, started_at: float, ended_at: float, target: dict[str, Any], suite: str,
          scenarios: list[Scenario], versions: dict[str, str], interrupted: bool = False,
          load: dict[str, Any] | None = None, backups: list[BackupAge] | None = None) -> dict[str, Any]:
    """The report. ``backups``: preflight's look at the last database backup and search snapshot
    (:mod:`gameday.measure.backup_age`); each warning is shown, listed as an action item, and
    never changes the verdict."""
    judged = [c for s in scenarios for c in s.checks if c.met is not None]
    met = sum(1 for c in judged if c.met)
    unfinished = sum(1 for s in scenarios if s.status != "completed")
    total = len(judged) + unfinished
    word, sentence = verdict(scenarios, interrupted)
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_s": round(ended_at - started_at, 1),
        "target": target,
        "suite": suite,
        "versions": versions,
        "verdict": word,
        "headline": sentence,
        "interrupted": interrupted,
        "score": round(100.0 * met / total, 1) if total else 0.0,
        "score_formula": SCORE_FORMULA,
        "targets_met": met,
        "targets_judged": total,
        "scenarios": [s.as_dict() for s in scenarios],
        "action_items": [w for b in backups or [] if (w := b.warning)] + action_items(scenarios),
        "load": load or {},
        "preflight": {"backups": [b.as_dict() for b in backups or []],
                      "warnings": [w for b in backups or [] if (w := b.warning)]},
    }
