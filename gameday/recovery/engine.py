"""The playbook engine: diagnose -> plan -> restore -> verify, every step timed and bounded.

A playbook is a list of :class:`Step` objects grouped in :class:`Part` s (one part per layer)::

    Step("start-brokers", "Start brokers that are stopped or scaled away", deadline_s=240,
         when=("kafka.members-missing",), act=start_missing("kafka"), check=members_ready("kafka"))

``run(playbook, ctx, apply=False)``:

1. **diagnose**: every part says what is wrong, in words (:class:`Finding` s). None: the layer is
   healthy, nothing is planned or done, whatever ``apply`` says.
2. **plan**: the steps whose ``when`` names a finding, plus every ``verify`` step.
3. **restore** (only with ``apply``): each step acts once, then its check is polled until it
   passes or the step's deadline passes (the step then fails with the check's last words, and the
   remaining steps are not run; ``always`` steps, such as resuming a paused consumer, still run).
4. **verify**: diagnose again; anything still found fails the run.

The result is a :class:`PlaybookResult` (``to_dict()`` is the ``gameday.playbook/v1`` JSON).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..deadline import Deadline
from ..errors import GamedayError

SCHEMA = "gameday.playbook/v1"
CHECK_INTERVAL = 1.0

# Outcomes, in the order a person cares about them.
HEALTHY = "healthy"  # nothing was wrong; nothing was done
NEEDS_RESTORE = "needs-restore"  # dry run: something is wrong, the plan was printed, nothing done
RESTORED = "restored"  # something was wrong, the plan ran, and the layer verified healthy
FAILED = "failed"  # a step failed or passed its deadline, or the layer is still not healthy


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a layer, said in words. ``code`` is ``<layer>.<what>``."""

    code: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return self.code.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "layer": self.layer, "text": self.text, "data": self.data}


@dataclass(frozen=True)
class Check:
    """The answer of a step's check: done or not, and why, in words."""

    ok: bool
    detail: str


Act = Callable[["Any"], str]
Probe = Callable[["Any"], Check]


def _always_ok(_ctx: Any) -> Check:
    return Check(True, "nothing to wait for")


@dataclass(frozen=True)
class Step:
    """One bounded step: ``act`` (optional) runs once, then ``check`` is polled until it passes.

    ``when``: finding codes that make the step part of the plan (a ``verify`` step is always
    planned when anything was found). ``always``: run even after an earlier step failed (only if
    a step of the same part acted before, e.g. to resume consumers a restore paused).
    ``foresee`` (optional, read-only): what the step will do, in words, found out without changing
    anything (e.g. whether a flag change restarts a database); a dry run's plan says it as the
    step's ``detail``, before anything is touched.
    """

    name: str
    description: str
    deadline_s: float
    check: Probe = _always_ok
    act: Act | None = None
    when: tuple[str, ...] = ()
    kind: str = "restore"  # restore | verify
    always: bool = False
    foresee: Callable[[Any], str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("restore", "verify"):
            raise ValueError(f"step {self.name}: kind must be restore or verify, not {self.kind!r}")
        if self.deadline_s <= 0:
            raise ValueError(f"step {self.name}: deadline_s must be positive")
        if self.kind == "restore" and not self.when:
            raise ValueError(f"step {self.name}: a restore step needs `when` (the findings it answers)")

    def planned(self, codes: set[str]) -> bool:
        return self.kind == "verify" or bool(codes & set(self.when))


@dataclass(frozen=True)
class Part:
    """The steps of one layer and how to diagnose it."""

    layer: str
    diagnose: Callable[[Any], list[Finding]]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Playbook:
    name: str
    title: str
    parts: tuple[Part, ...]

    def plan(self, findings: Iterable[Finding]) -> list[tuple[Part, Step]]:
        codes = {f.code for f in findings}
        return [(part, step) for part in self.parts for step in part.steps if step.planned(codes)]


@dataclass
class StepResult:
    layer: str
    name: str
    description: str
    deadline_s: float
    status: str = "not-run"  # ok | failed | not-run
    did: str = ""
    detail: str = ""
    started_at: float | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PlaybookResult:
    playbook: str
    environment: str
    apply: bool
    outcome: str = HEALTHY
    findings: list[Finding] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # still found after the restore
    started_at: float = 0.0
    finished_at: float = 0.0
    diagnose_s: float = 0.0
    restore_s: float | None = None  # first action to verified, apply only
    rto: dict[str, Any] | None = None  # {"measured_s", "target_s", "from", "met"}
    error: str | None = None

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def step_timings(self) -> dict[str, dict[str, Any]]:
        """Each step by name: status, seconds, what it did, its detail and when it ended (epoch
        seconds), as the drills' undos report them for milestones measured from the fault."""
        return {s.name: {"status": s.status, "seconds": s.seconds, "did": s.did, "detail": s.detail,
                         "ended_at": None if s.started_at is None or s.seconds is None else s.started_at + s.seconds}
                for s in self.steps}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "playbook": self.playbook, "environment": self.environment, "apply": self.apply,
            "outcome": self.outcome, "findings": [f.to_dict() for f in self.findings],
            "steps": [s.to_dict() for s in self.steps], "remaining": [f.to_dict() for f in self.remaining],
            "started_at": self.started_at, "finished_at": self.finished_at, "diagnose_s": round(self.diagnose_s, 2),
            "restore_s": None if self.restore_s is None else round(self.restore_s, 2), "rto": self.rto,
            "error": self.error,
        }


Progress = Callable[[str, StepResult], None]  # (event: "start" | "done", step)


def _no_progress(_event: str, _step: StepResult) -> None:
    return None


def diagnose(playbook: Playbook, ctx: Any) -> list[Finding]:
    """Every part's findings, in the playbook's order; a part that cannot even be diagnosed is itself a
    finding. The parts are asked at once (they only read): a layer that is down makes its questions
    wait for their timeouts (with the KRaft quorum lost, the quorum tool and the indexer's offsets
    each take 10 s), and asked one after another those waits add up."""
    def one(part: Part) -> list[Finding]:
        try:
            return list(part.diagnose(ctx))
        except GamedayError as err:
            return [Finding(f"{part.layer}.unreachable", f"{part.layer}: could not diagnose: {err}")]

    if len(playbook.parts) < 2:
        return [f for part in playbook.parts for f in one(part)]
    with ThreadPoolExecutor(max_workers=len(playbook.parts), thread_name_prefix="diagnose") as pool:
        return [f for found in pool.map(one, playbook.parts) for f in found]


def _poll(check: Probe, ctx: Any, deadline: Deadline) -> Check:
    """Poll ``check`` until it passes or the deadline passes; errors count as "not yet"."""
    last = Check(False, "not checked")
    checked = False
    while not checked or not deadline.expired():
        checked = True
        try:
            last = check(ctx)
        except GamedayError as err:
            last = Check(False, str(err))
        if last.ok:
            return last
        time.sleep(min(CHECK_INTERVAL, deadline.remaining()))
    return last


def run_step(part: Part, step: Step, ctx: Any, *, step_timeout: float | None = None) -> StepResult:
    budget = step.deadline_s if step_timeout is None else min(step.deadline_s, step_timeout)
    res = StepResult(layer=part.layer, name=step.name, description=step.description, deadline_s=budget,
                     started_at=time.time())
    started = time.monotonic()
    deadline = Deadline(budget)
    ctx.deadline = deadline
    try:
        if step.act is not None:
            res.did = step.act(ctx) or ""
        if deadline.expired():
            last = step.check(ctx)  # the act used the whole budget: one last look
        else:
            last = _poll(step.check, ctx, deadline)
    except GamedayError as err:
        res.status, res.detail = "failed", str(err)
    else:
        if last.ok:
            res.status, res.detail = "ok", last.detail
        else:
            res.status = "failed"
            res.detail = f"deadline of {budget:g}s passed: {last.detail}"
    finally:
        ctx.deadline = None
        res.seconds = round(time.monotonic() - started, 2)
    return res


def run(playbook: Playbook, ctx: Any, *, apply: bool = False, step_timeout: float | None = None,
        fault_at: float | None = None, rto_target_s: float | None = None,
        progress: Progress = _no_progress) -> PlaybookResult:
    """Diagnose, plan and (with ``apply``) restore and verify. Never raises for a layer problem:
    the result says what failed; only bad input (a broken playbook) raises."""
    result = PlaybookResult(playbook=playbook.name, environment=ctx.env.name, apply=apply, started_at=time.time())
    t0 = time.monotonic()
    result.findings = diagnose(playbook, ctx)
    result.diagnose_s = time.monotonic() - t0
    plan = playbook.plan(result.findings)
    result.steps = _not_run(plan, step_timeout)
    if not result.findings:
        result.steps = []
        result.outcome = HEALTHY
    elif not apply:
        result.outcome = NEEDS_RESTORE
        _foresee(plan, ctx, result.steps)
    else:
        _restore(playbook, plan, ctx, result, step_timeout, progress)
        result.restore_s = time.monotonic() - t0 - result.diagnose_s
    result.finished_at = time.time()
    if apply and result.findings:
        origin = fault_at if fault_at is not None else result.started_at
        measured = result.finished_at - origin
        result.rto = {"measured_s": round(measured, 1), "from": "fault" if fault_at is not None else "playbook start",
                      "target_s": rto_target_s,
                      "met": result.outcome == RESTORED and (rto_target_s is None or measured <= rto_target_s)}
    return result


def _foresee(plan: list[tuple[Part, Step]], ctx: Any, planned: list[StepResult]) -> None:
    """A dry run: each planned step that can say what it will do (``Step.foresee``, read-only) says it
    in its ``detail``; one that cannot find out says why, and nothing else stops."""
    for (_part, step), result in zip(plan, planned, strict=True):
        if step.foresee is None:
            continue
        try:
            result.detail = step.foresee(ctx)
        except GamedayError as err:
            result.detail = f"could not tell what it will do: {err}"


def _not_run(plan: list[tuple[Part, Step]], step_timeout: float | None) -> list[StepResult]:
    """The plan's steps as results not run yet, each with its deadline (capped by ``step_timeout``)."""
    return [StepResult(layer=p.layer, name=s.name, description=s.description,
                       deadline_s=s.deadline_s if step_timeout is None else min(s.deadline_s, step_timeout))
            for p, s in plan]


REPLANS = 2  # findings that appear during a restore are planned again at most this many times


def _restore(playbook: Playbook, plan: list[tuple[Part, Step]], ctx: Any, result: PlaybookResult,
             step_timeout: float | None, progress: Progress) -> None:
    """Run the plan, then diagnose again. A layer can still be settling when it is first diagnosed
    (a broker just back: leadership moves, an offset read meets a stale leader); a finding that only
    appears afterwards gets the steps for it, up to :data:`REPLANS` more times. A finding the steps
    were planned for and did not fix is a failure at once."""
    seen = {f.code for f in result.findings}
    offset = 0
    for replan in range(REPLANS + 1):
        if _run_plan(plan, offset, ctx, result, step_timeout, progress):
            result.outcome = FAILED
            step = result.failed_step
            result.error = f"step {step.layer}/{step.name} failed: {step.detail}" if step else "a step failed"
            return
        result.remaining = diagnose(playbook, ctx)
        if not result.remaining:
            result.outcome = RESTORED
            return
        new = [f for f in result.remaining if f.code not in seen]
        plan = playbook.plan(new) if replan < REPLANS and len(new) == len(result.remaining) else []
        if not plan:
            break
        seen |= {f.code for f in new}
        offset = len(result.steps)
        result.steps += _not_run(plan, step_timeout)
    result.outcome = FAILED
    result.error = "still wrong after the restore: " + "; ".join(f.text for f in result.remaining)


def _run_plan(plan: list[tuple[Part, Step]], offset: int, ctx: Any, result: PlaybookResult,
              step_timeout: float | None, progress: Progress) -> bool:
    """Run ``plan``'s steps into ``result.steps[offset:]``; after a failed step only the ``always``
    steps of parts that acted run. True when a step failed."""
    failed = False
    acted_parts: set[str] = set()
    for i, (part, step) in enumerate(plan, start=offset):
        if failed and not (step.always and part.layer in acted_parts):
            continue
        progress("start", result.steps[i])
        res = run_step(part, step, ctx, step_timeout=step_timeout)
        result.steps[i] = res
        progress("done", res)
        if step.act is not None:
            acted_parts.add(part.layer)
        if res.status == "failed":
            failed = True
    return failed
