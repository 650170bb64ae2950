"""A scenario's RTO split into phases, from the run's recorded events (one clock: ``time.time()``).

    phases = from_events(events, scenario="search-data-node", fault_at=f, detected_at=d, serving_at=s)
    phases.milestones       # fault, detected, playbook started, serving again, redundancy restored
    phases.steps            # each recovery step (the runner's playbook, or one the experiment ran)
    phases.redundancy       # per layer: when its redundancy was full again (ISR full, green, replicas ready)
    phases.as_dict()        # the report's ``scenarios[].phases`` (:meth:`Phases.from_dict` reads it back)

Pure: no I/O. The events are those :mod:`gameday.runner.scenario` writes (``playbook.start``,
``playbook.step``, ``experiment.step``, ``redundancy``); detection and serving again come from the load
timeline (:func:`gameday.measure.recovery.measure`). :func:`judge_samples` turns a layer's redundancy
samples (:mod:`gameday.runner.redundancy`) into one :class:`LayerRedundancy`, and
:func:`experiment_steps` reads the recovery steps an experiment ran itself out of its chaos journal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

# A layer's redundancy after a fault, in the order a reader cares about.
RESTORED = "restored"  # lost after the fault, full again at restored_at
NEVER_LOST = "never-lost"  # full in every sample after the fault
NOT_RESTORED = "not-restored"  # still not full when the bounded wait ended
NOT_MEASURED = "not-measured"  # no check for this layer here (detail says why)

MILESTONES = (
    ("fault", "fault injected"),
    ("detected", "detected"),
    ("playbook_started", "playbook started"),
    ("serving_again", "serving again"),
    ("redundancy_restored", "redundancy restored"),
)


@dataclass(frozen=True)
class Sample:
    """One look at a layer's redundancy: ``full`` True/False, at ``at`` (when the answer came)."""

    at: float
    full: bool
    detail: str
    answered: bool = True  # False: the layer did not answer (counted as not full)


@dataclass(frozen=True)
class LayerRedundancy:
    """When one layer could survive its next loss again, as the runner measured it after a scenario."""

    layer: str
    check: str  # what "full" means here, in words: "every partition's ISR full", "cluster green", ...
    status: str  # RESTORED | NEVER_LOST | NOT_RESTORED | NOT_MEASURED
    lost_at: float | None = None  # first sample after the fault that was not full
    restored_at: float | None = None  # first full sample after the last one that was not
    full_before: bool | None = None  # the sample taken before the experiment
    detail: str = ""
    samples: int = 0

    def after_fault_s(self, fault_at: float | None) -> float | None:
        """Seconds from the fault to full redundancy: 0 when it was never lost, None when not restored
        or not measured (or no fault)."""
        if fault_at is None:
            return None
        if self.status == NEVER_LOST:
            return 0.0
        if self.status == RESTORED and self.restored_at is not None:
            return round(max(0.0, self.restored_at - fault_at), 1)
        return None

    def to_event(self) -> dict[str, Any]:
        """The fields of the run's ``redundancy`` event (:meth:`from_event` reads them back)."""
        return asdict(self)

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> "LayerRedundancy":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in event.items() if k in names})

    def sentence(self, fault_at: float | None) -> str:
        """The plain-words account the report prints beside the site's RTO."""
        after = self.after_fault_s(fault_at)
        if self.status == NEVER_LOST:
            return f"{self.layer}: {self.check} throughout"
        if self.status == RESTORED and after is not None:
            return f"{self.layer}: {self.check} again {after:.1f} s after the fault"
        if self.status == NOT_RESTORED:
            return f"{self.layer}: {self.check} NOT restored when the wait ended ({self.detail})"
        return f"{self.layer}: {self.check}: not measured ({self.detail})"


@dataclass(frozen=True)
class Span:
    """One recovery step on the timeline: the runner's playbook's (``by="playbook"``) or one the
    experiment ran itself (``by="experiment"``: the drills whose undo is the playbook)."""

    name: str
    by: str
    started_at: float
    seconds: float
    status: str = ""

    @property
    def ended_at(self) -> float:
        return self.started_at + self.seconds


@dataclass(frozen=True)
class Milestone:
    key: str  # see MILESTONES
    label: str
    at: float | None
    after_fault_s: float | None
    note: str = ""  # plain words when there is no instant, or what the instant means
    target_s: float | None = None  # serving again: the scenario's RTO target


@dataclass(frozen=True)
class Phases:
    fault_at: float
    milestones: tuple[Milestone, ...]
    steps: tuple[Span, ...] = ()
    redundancy: tuple[LayerRedundancy, ...] = field(default_factory=tuple)

    def milestone(self, key: str) -> Milestone:
        return next(m for m in self.milestones if m.key == key)

    @property
    def end_s(self) -> float:
        """The last instant on the timeline, in seconds after the fault (the chart's width)."""
        ends = [m.after_fault_s for m in self.milestones if m.after_fault_s is not None]
        ends += [s.ended_at - self.fault_at for s in self.steps]
        ends += [r.restored_at - self.fault_at for r in self.redundancy if r.restored_at is not None]
        return max([1.0, *ends])

    def as_dict(self) -> dict[str, Any]:
        return {"fault_at": self.fault_at,
                "milestones": [asdict(m) for m in self.milestones],
                "steps": [{**asdict(s), "after_fault_s": round(s.started_at - self.fault_at, 1)} for s in self.steps],
                "redundancy": [{**asdict(r), "after_fault_s": r.after_fault_s(self.fault_at)} for r in self.redundancy]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Phases":
        """Read :meth:`as_dict`'s output back (the renderer works from the report's JSON)."""
        def fields(kind: type, d: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in d.items() if k in kind.__dataclass_fields__}
        return cls(fault_at=data["fault_at"],
                   milestones=tuple(Milestone(**fields(Milestone, m)) for m in data["milestones"]),
                   steps=tuple(Span(**fields(Span, s)) for s in data.get("steps", [])),
                   redundancy=tuple(LayerRedundancy(**fields(LayerRedundancy, r)) for r in data.get("redundancy", [])))


def _after(at: float | None, fault_at: float) -> float | None:
    return None if at is None else round(at - fault_at, 1)


def judge_samples(layer: str, check: str, samples: Iterable[Sample], *, full_before: bool | None,
                  fault_at: float | None) -> LayerRedundancy:
    """One layer's redundancy from its samples taken from the start of the experiment to the end of
    the wait: lost at the first sample that was not full, restored at the first full sample after the
    last one that was not (an upper bound: the state changed between those two samples)."""
    samples = sorted(samples, key=lambda s: s.at)
    if not samples:
        return LayerRedundancy(layer, check, NOT_MEASURED, full_before=full_before, detail="no sample was taken")
    if fault_at is None:
        return LayerRedundancy(layer, check, NOT_MEASURED, full_before=full_before, samples=len(samples),
                               detail="no fault was injected")
    if not any(s.answered for s in samples) and full_before is not True:
        return LayerRedundancy(layer, check, NOT_MEASURED, full_before=full_before, samples=len(samples),
                               detail=samples[-1].detail)
    bad = [i for i, s in enumerate(samples) if not s.full]
    note = "" if full_before is not False else "already not full before the fault; "
    if not bad:
        return LayerRedundancy(layer, check, NEVER_LOST, full_before=full_before, samples=len(samples),
                               detail=note + samples[-1].detail)
    last_bad = bad[-1]
    lost_at = samples[bad[0]].at
    if last_bad == len(samples) - 1:
        return LayerRedundancy(layer, check, NOT_RESTORED, lost_at=lost_at, full_before=full_before,
                               samples=len(samples), detail=note + samples[last_bad].detail)
    back = samples[last_bad + 1]
    return LayerRedundancy(layer, check, RESTORED, lost_at=lost_at, restored_at=back.at, full_before=full_before,
                           samples=len(samples), detail=note + back.detail)


def _epoch(iso: str | None) -> float | None:
    """A chaos journal's ISO instant (timezone-aware since chaostoolkit-lib 1.4x; naive is UTC)."""
    if not iso:
        return None
    when = datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _playbook_steps(output: Any) -> list[Span]:
    """Steps of a playbook an action ran and reported as ``{"steps": {name: {"status", "seconds",
    "ended_at"}}}``, at the top of its output or in a list under any key (``rebuilt: [...]``)."""
    found: list[Span] = []
    if not isinstance(output, dict):
        return found
    holders = [output] + [x for v in output.values() if isinstance(v, list) for x in v if isinstance(x, dict)]
    for holder in holders:
        steps = holder.get("steps")
        if not isinstance(steps, dict):
            continue
        for name, st in steps.items():
            if isinstance(st, dict) and st.get("ended_at") is not None and st.get("seconds") is not None:
                found.append(Span(name=str(name), by="experiment", started_at=float(st["ended_at"]) - float(st["seconds"]),
                                  seconds=float(st["seconds"]), status=str(st.get("status", ""))))
    return found


def _provider(activity: dict[str, Any]) -> tuple[str, str]:
    p = activity.get("provider") or {}
    return str(p.get("module", "")), str(p.get("func", ""))


def experiment_steps(journal: dict[str, Any], fault_at: float | None) -> list[Span]:
    """What the experiment itself did to recover after its fault, from its chaos journal: each
    action of the method, started after the fault, that is also one of the experiment's rollbacks
    (the drills whose undo is run as a method step: format the lost disk, rebuild the cluster), as
    the steps of the playbook it ran when it reports them, else as one step (its activity name, the
    journal's start and duration). Other actions (editors publishing) and probes (waits and
    measurements) are not recovery steps."""
    if fault_at is None:
        return []
    undo = {_provider(a) for a in (journal.get("experiment") or {}).get("rollbacks", []) or []}
    spans: list[Span] = []
    for run in journal.get("run", []) or []:
        activity = run.get("activity") or {}
        start = _epoch(run.get("start"))
        if activity.get("type") != "action" or start is None or start < fault_at or _provider(activity) not in undo:
            continue
        inner = _playbook_steps(run.get("output"))
        spans += inner or [Span(name=str(activity.get("name", "action")), by="experiment", started_at=start,
                                seconds=float(run.get("duration") or 0.0), status=str(run.get("status", "")))]
    for run in journal.get("rollbacks", []) or []:
        spans += _playbook_steps(run.get("output"))  # a rollback that rebuilt something (not a no-op undo)
    return sorted(spans, key=lambda s: s.started_at)


def from_events(events: Iterable[dict[str, Any]], *, scenario: str, fault_at: float,
                detected_at: float | None, serving_at: float | None, rto_target_s: float | None = None,
                never_failed: bool = False, load_measured: bool = True) -> Phases:
    """The phases of ``scenario`` from the run's events. ``detected_at``/``serving_at``: the load
    timeline's first failed instant and recovery instant (None: not seen); ``never_failed``: no
    second failed the SLO, so readers were served throughout (serving again = the fault);
    ``load_measured`` False: there was no load timeline to read them from."""
    mine = [e for e in events if e.get("scenario") == scenario]
    steps = [Span(name=e["step"], by="playbook", started_at=float(e["started"]), seconds=float(e["seconds"]),
                  status=e.get("status", "")) for e in mine
             if e.get("event") == "playbook.step" and e.get("started") is not None and e.get("seconds") is not None]
    steps += [Span(name=e["step"], by="experiment", started_at=float(e["started"]), seconds=float(e["seconds"]),
                   status=e.get("status", "")) for e in mine if e.get("event") == "experiment.step"]
    steps.sort(key=lambda s: s.started_at)
    redundancy = tuple(LayerRedundancy.from_event(e) for e in mine if e.get("event") == "redundancy")
    starts = [e["at"] for e in mine if e.get("event") == "playbook.start"] + [s.started_at for s in steps]
    playbook_at = min(starts) if starts else None

    if not load_measured:
        detected = Milestone("detected", "detected", None, None, "not measured (no load timeline)")
        serving = Milestone("serving_again", "serving again", None, None, "not measured (no load timeline)", rto_target_s)
    elif never_failed:
        detected = Milestone("detected", "detected", None, None, "no second failed the SLO: readers did not notice")
        serving = Milestone("serving_again", "serving again", fault_at, 0.0, "readers were served within the SLO throughout",
                            rto_target_s)
    else:
        detected = Milestone("detected", "detected", detected_at, _after(detected_at, fault_at))
        serving = Milestone("serving_again", "serving again", serving_at, _after(serving_at, fault_at),
                            "" if serving_at is not None else "readers were not served within the SLO again in this scenario",
                            rto_target_s)
    by = [s for s in steps if s.by == "experiment"]
    if playbook_at is None:
        note = "no playbook ran"
    elif by and playbook_at == by[0].started_at:
        note = "the experiment ran the recovery itself"
    elif serving.at is not None and serving.at < playbook_at:
        note = "after readers were served again: the platform recovered by itself (restarts), the playbook checked it"
    else:
        note = ""
    playbook = Milestone("playbook_started", "playbook started", playbook_at, _after(playbook_at, fault_at), note)
    measured = [r for r in redundancy if r.status != NOT_MEASURED]
    if any(r.status == NOT_RESTORED for r in measured):
        late = ", ".join(r.layer for r in measured if r.status == NOT_RESTORED)
        full = Milestone("redundancy_restored", "redundancy restored", None, None, f"not restored when the wait ended: {late}")
    elif not measured:
        full = Milestone("redundancy_restored", "redundancy restored", None, None, "not measured")
    else:
        restored = [r.restored_at for r in measured if r.status == RESTORED and r.restored_at is not None]
        at = max(restored) if restored else fault_at
        last = max((r for r in measured if r.status == RESTORED), key=lambda r: r.restored_at or 0, default=None)
        full = Milestone("redundancy_restored", "redundancy restored", at, _after(max(at, fault_at), fault_at),
                         f"{last.layer}: {last.check}" if last else "no layer lost redundancy")
    fault = Milestone("fault", "fault injected", fault_at, 0.0)
    return Phases(fault_at=fault_at, milestones=(fault, detected, playbook, serving, full), steps=tuple(steps),
                  redundancy=redundancy)
