"""One scenario of a game day: steady state, the chaos experiment as a child process, its fault in
the events, the recovery playbook, cool-down, and the RPO canaries read back.

    scenarios = ScenarioRunner(env=env, site_url=url, suite=suite, out=run_folder, run_id=run_id,
                               run_log=run_folder / "faults.jsonl", events=events, undo=day.undo_leftovers,
                               progress=print, on_phase=day.enter)
    result = scenarios.run(spec)           # a ScenarioRun, for gameday.runner.judge
    scenarios.stop_experiment()            # on SIGTERM / Ctrl-C: the experiment's rollbacks run

It acts only for a game day that holds the target's lock (:mod:`gameday.runner.gameday`): its
``chaos run`` child inherits the lock (``GAMEDAY_LOCK_PID``), is marked as the runner's and dies with
it, and every undo goes through the day's ``undo`` (which the lock holder alone calls).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .. import children, hostguard, recovery, site_slo
from ..chaos import ledger
from ..deadline import Deadline
from ..errors import GamedayError
from ..load.timeline import Timeline
from ..measure.canary import CanaryReport, Canaries, CanaryEndpoints
from ..measure.recovery import measure
from ..measure.phases import NOT_MEASURED, NOT_RESTORED, LayerRedundancy, experiment_steps
from ..recovery.context import Context
from ..targets import regions as region_pairs
from ..targets.environment import Environment
from .events import EventLog
from .redundancy import REDUNDANCY_WAIT_S, Watch
from .suite import ScenarioSpec, Suite

CHAOS = str(Path(sys.executable).with_name("chaos"))
EXPERIMENT_TIMEOUT_S = 900.0
STEADY_TIMEOUT_S = 180.0
STEADY_WINDOWS = 2  # consecutive windows meeting the SLO before a fault
STEADY_WINDOW_S, STEADY_RATE = 1.5, 20  # each: 30 requests (as 3 s at 10/s did, in half the time)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScenarioRun:
    """What one scenario did: the judge's input (:func:`gameday.runner.judge.judge`)."""

    spec: ScenarioSpec
    started: float  # the scenario's start (after the steady state), unix seconds
    ended: float  # after the cool-down, before the canaries are read back
    journal: dict[str, Any]  # the chaos journal ({} when the experiment wrote none)
    exit_code: int | None  # of ``chaos run``
    journal_path: Path
    log_path: Path
    fault_at: float | None = None  # when the fault action returned (its ``fault_at`` output)
    rpo: dict[str, dict[str, Any]] = field(default_factory=dict)  # per canary layer: Canaries.verify()'s figures
    playbook: dict[str, Any] | None = None  # the playbook result's to_dict(), when the scenario names one
    removed_under: list[dict[str, Any]] = field(default_factory=list)  # this run's faults someone else removed
    undo_failed: list[dict[str, Any]] = field(default_factory=list)  # faults that could not be undone after it
    events: list[dict[str, Any]] = field(default_factory=list)  # this scenario's events (its phases are read from them)


def pause(seconds: float) -> None:
    """Sleep ``seconds`` in short steps (a signal is handled within half a second)."""
    deadline = Deadline(seconds)
    while not deadline.expired():
        time.sleep(min(0.5, deadline.remaining()) or 0.05)


REGION_LAYER = "region"


class Throttled:
    """A check asked often, answered at most every ``every_s`` (the last answer in between): the
    cool-down polls twice a second, and reading the whole load timeline that often is waste."""

    def __init__(self, check: Callable[[], bool], every_s: float = 2.0):
        self.check, self.every_s = check, every_s
        self.at, self.last = float("-inf"), False

    def __call__(self) -> bool:
        if time.monotonic() - self.at >= self.every_s:
            self.last, self.at = self.check(), time.monotonic()
        return self.last


def region_rpo(journal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A region drill's RPO per canary layer, as the runner's own canaries report it: the output of the
    experiment's region RPO probe (``{"written_to", "read_from", "layers": {...}}``). When the probe did
    not run, one layer ``region`` that is not measured, with the reason: never a guess of 0."""
    for r in journal.get("run", []):
        out = r.get("output")
        if isinstance(out, dict) and "written_to" in out and isinstance(out.get("layers"), dict):
            return out["layers"]
    why = f"the drill's RPO probe did not run (experiment {journal.get('status', 'did not run')})"
    missing = CanaryReport(layer=REGION_LAYER, run="", attempts=0, acknowledged=0, failed_writes=0, lost=[],
                           lost_span_s=0.0, first_lost_at=None, last_lost_at=None, last_error=why)
    return {REGION_LAYER: {**missing.to_dict(), "rpo_records": None, "rpo_s": None}}


class ScenarioRunner:
    """Runs a game day's scenarios one at a time, in its run folder, under its lock."""

    def __init__(self, *, env: Environment, site_url: str, suite: Suite, out: Path, run_id: str, run_log: Path,
                 events: EventLog, undo: Callable[[str], ledger.Outcome], progress: Progress,
                 on_phase: Callable[[str | None, str], None], timeline: Callable[[], Path | None] = lambda: None):
        self.env, self.site_url, self.suite = env, site_url, suite
        self.timeline = timeline  # where the load's live timeline is (None: no load, nothing to wait for)
        self.out, self.run_id, self.events = out, run_id, events
        self.run_log = run_log  # what this run injected and undid (its children append; ledger.removed_under)
        self.undo, self.progress, self.on_phase = undo, progress, on_phase
        self.chaos_proc: subprocess.Popen | None = None
        self.removed_before: set[str] = set()  # faults already reported removed by an earlier scenario

    def wait_for_steady_state(self, timeout: float = STEADY_TIMEOUT_S) -> float:
        """Before each fault, the site must meet the suite's SLO in ``STEADY_WINDOWS`` windows in a
        row (a cool-down that ends when it does). One good window on a twin whose JVMs are still
        warming up was followed by the experiment's own steady-state probe failing a second later:
        the fault was then never injected and the scenario lost."""
        started = time.monotonic()
        deadline = Deadline(timeout)
        last = None
        good = 0
        while not deadline.expired():
            last = site_slo.measure(self.site_url, window_s=STEADY_WINDOW_S, rate=STEADY_RATE,
                                   allow=hostguard.site_hosts(self.env))
            met = last["success_ratio"] >= self.suite.slo.min_success_ratio and last["p95_ms"] <= self.suite.slo.max_p95_ms
            good = good + 1 if met else 0
            if good >= STEADY_WINDOWS:
                return time.monotonic() - started
        raise GamedayError(f"the site did not reach a steady state within {timeout:.0f}s before the fault "
                           f"(last window: {last})")

    def run(self, spec: ScenarioSpec) -> ScenarioRun:
        """Steady state, experiment, undo of what it left, playbook, cool-down, canaries: one scenario."""
        self.progress(f"scenario {spec.name}: {spec.experiment.relative_to(spec.experiment.parents[2])}")
        self.on_phase(spec.name, "steady state")
        waited = self.wait_for_steady_state()
        if waited > STEADY_WINDOW_S * STEADY_WINDOWS + 2:  # STEADY_WINDOWS windows is the normal case
            self.progress(f"  waited {waited:.0f}s for a steady state")
        started = time.time()
        self.events.add("scenario.start", scenario=spec.name)
        # each layer's redundancy, looked at from before the fault to after the playbook (a region drill: the active region's)
        watch = Watch(self.env, **({"make_target": region_pairs.active_region_target} if spec.layer == "region" else {}))
        try:
            watch.start()
            return self._run(spec, started, watch)
        finally:
            watch.stop(None)  # an interrupted scenario: no thread left looking

    def _run(self, spec: ScenarioSpec, started: float, watch: Watch) -> ScenarioRun:
        ctx = Context.for_environment(self.env)
        # the playbook verifies the site against the SLO this scenario is judged by (targets.yaml + the suite's overrides)
        ctx.state.slo = {"success_ratio": self.suite.slo.min_success_ratio, "p95_ms": self.suite.slo.max_p95_ms,
                         "window_s": self.suite.slo.window_s}
        # A region drill writes its own canaries to the active region and reads them back from the one
        # that took over (gameday.chaos.region.probes.region_rpo); the runner's would write to this
        # environment's region, which the drill fences or loses: its RPO is the drill's.
        canaries = None if spec.layer == REGION_LAYER else Canaries(CanaryEndpoints.from_context(ctx)).start()
        if canaries is not None:
            self.events.add("canaries.start", run=canaries.run)
        journal_path = self.out / "journals" / f"{spec.name}.json"
        log_path = self.out / "journals" / f"{spec.name}.log"
        self.on_phase(spec.name, "experiment")
        code = self.experiment(spec, journal_path, log_path)
        journal = json.loads(journal_path.read_text()) if journal_path.exists() else {}
        fault = next((r.get("output") for r in journal.get("run", [])
                      if r["activity"].get("type") == "action" and isinstance(r.get("output"), dict)
                      and "fault_at" in r["output"]), None)
        left = self.undo("undid a fault the experiment left")
        removed = self.removed_under(spec, left)
        fault_at = fault["fault_at"] if fault else None
        if fault_at:
            self.events.add("fault", at=fault_at, scenario=spec.name, touched=fault.get("touched"))
            for step in experiment_steps(journal, fault_at):  # a drill whose experiment ran the recovery itself
                self.events.add("experiment.step", scenario=spec.name, step=step.name, status=step.status,
                                started=step.started_at, seconds=round(step.seconds, 2))
        self.on_phase(spec.name, "playbook")
        playbook = self.restore(spec, ctx, fault_at)
        self.progress(f"  experiment {journal.get('status', 'did not run')} (exit {code}); cooling down "
                      f"{self.cooldown_s():.0f}s")
        self.on_phase(spec.name, "cool-down")
        self.redundancy(spec, watch, fault_at)  # the cool-down, longer (bounded) while a layer is not full again
        ended = time.time()
        self.on_phase(spec.name, "canary check")
        rpo = region_rpo(journal) if canaries is None else \
            {layer: r.to_dict() for layer, r in canaries.verify(timeout=120).items()}
        lost = sum(r["rpo_records"] or 0 for r in rpo.values())
        unread = {k: r for k, r in rpo.items() if r["rpo_records"] is None}
        self.events.add("canaries.verified", lost=lost, unverified={k: r["unverified"] for k, r in unread.items()},
                        acknowledged={layer: r["acknowledged"] for layer, r in rpo.items()})
        if lost:
            self.progress(f"  {lost} acknowledged canary record(s) lost: "
                          + ", ".join(f"{k} {v['lost']}" for k, v in rpo.items() if v["lost"]))
        for k, r in unread.items():
            self.progress(f"  WARNING: RPO not measured for {k}: {r['unverified']} acknowledged canary record(s) "
                          f"could not be read back ({r['last_error']})")
        self.events.add("scenario.end", scenario=spec.name, status=journal.get("status"))
        mine = [e for e in self.events.read() if e.get("scenario") == spec.name and e["at"] >= started - 1]
        return ScenarioRun(spec=spec, started=started, ended=ended, journal=journal, exit_code=code,
                           journal_path=journal_path, log_path=log_path, fault_at=fault_at, rpo=rpo,
                           playbook=playbook, removed_under=removed, undo_failed=left.failed, events=mine)

    def cooldown_s(self) -> float:
        """The suite's ``cooldown_s``, but never shorter than its SLO's ``window_s``: the RTO is the first
        run of ``window_s`` good seconds after the fault, read from this scenario's seconds only, so a
        site that recovered as the experiment ended must have that long to show it. A cool-down of 3 s
        after a 10 s SLO window read "RTO never" for a database back in 4 s (the in-cluster game day)."""
        return max(float(self.suite.cooldown_s), float(self.suite.slo.window_s))

    def site_recovered(self, fault_at: float) -> bool:
        """Whether the load's timeline so far holds the RTO's evidence: ``window_s`` seconds in a row
        meeting the SLO after the fault, read as the judge reads it (:func:`gameday.measure.recovery.measure`).
        True when there is no load timeline (nothing to wait for)."""
        path = self.timeline()
        if path is None or not path.exists():
            return True
        timeline = Timeline.load(path)
        return measure(timeline, t_fault=fault_at, t_end=timeline.end, slo=self.suite.slo).rto_s is not None

    def redundancy(self, spec: ScenarioSpec, watch: Watch, fault_at: float | None) -> list[LayerRedundancy]:
        """Wait out the cool-down, and up to REDUNDANCY_WAIT_S more while a layer that was full before
        the fault is not full again, or the load's timeline does not yet show the site back for the
        SLO's window (:meth:`site_recovered`: a fixed cool-down as long as the window read "RTO never"
        for a site back as the playbook ended, when the recorder's last seconds were not yet written);
        each layer's redundancy is then an event and a progress line."""
        cooldown = self.cooldown_s()
        seen = None if not fault_at or spec.layer == REGION_LAYER else Throttled(lambda: self.site_recovered(fault_at))
        waited = watch.wait(min_s=cooldown, max_s=cooldown + (REDUNDANCY_WAIT_S if fault_at else 0.0), until=seen)
        if waited > cooldown + 1:
            self.progress(f"  waited {waited - cooldown:.0f}s beyond the cool-down for full redundancy "
                          f"and the site's SLO window")
        results = watch.stop(fault_at)
        for r in results:
            self.events.add("redundancy", scenario=spec.name, **r.to_event())
        said = [r.sentence(fault_at) for r in results if r.status != NOT_MEASURED]
        if said:
            self.progress("  full redundancy: " + "; ".join(said))
        for r in results:
            if r.status == NOT_RESTORED:
                self.progress(f"  WARNING: {r.layer} redundancy not restored ({r.detail})")
        return results

    def experiment(self, spec: ScenarioSpec, journal_path: Path, log_path: Path) -> int | None:
        """``chaos run`` the scenario's experiment (rollbacks always), as a child marked as this
        runner's that dies with it and acts under its lock; its exit code."""
        var_file = self.out / "environment.yaml"
        var_file.write_text(yaml.safe_dump({"configuration": {"gameday_environment": self.env.as_configuration()}}))
        env = children.marked({**os.environ, "GAMEDAY_LOCK_PID": str(os.getpid()), "GAMEDAY_RUN_ID": self.run_id,
                               ledger.RUN_LOG_ENV: str(self.run_log)}, self.env.name)
        with open(log_path, "w") as log:
            self.chaos_proc = subprocess.Popen(
                [CHAOS, "--no-version-check", "--no-log-file", "run", str(spec.experiment),
                 "--rollback-strategy", "always", "--var-file", str(var_file), "--journal-path", str(journal_path)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.out, preexec_fn=children.die_with_parent)
            try:
                self.chaos_proc.wait(timeout=EXPERIMENT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.chaos_proc.terminate()
                self.chaos_proc.wait(timeout=60)
        code, self.chaos_proc = self.chaos_proc.returncode, None
        return code

    def stop_experiment(self, timeout: float = 120) -> None:
        """Stop a running experiment (on SIGTERM or Ctrl-C): Chaos Toolkit turns SIGTERM into an
        interruption and runs its rollbacks."""
        if self.chaos_proc is not None and self.chaos_proc.poll() is None:
            self.chaos_proc.terminate()
            self.chaos_proc.wait(timeout=timeout)

    def removed_under(self, spec: ScenarioSpec, left: ledger.Outcome) -> list[dict[str, Any]]:
        """This run's faults that someone else removed (by hand, or another process ran the undo)
        since the last scenario: said, and kept in the events; the judge fails the scenario."""
        removed = ledger.removed_under(self.run_log, [{"id": f["id"]} for f in left.failed])
        removed = [r for r in removed if r["id"] not in self.removed_before]
        self.removed_before |= {r["id"] for r in removed}
        for r in removed:
            self.progress(f"  the fault '{r['reason']}' was removed under this run: {r['why']}")
            self.events.add("fault.removed_under_run", scenario=spec.name, reason=r["reason"], why=r["why"])
        return removed

    def restore(self, spec: ScenarioSpec, ctx: Context, fault_at: float | None) -> dict[str, Any] | None:
        """Run the scenario's recovery playbook (``--apply``), timed against the scenario's RTO
        target; the events mark each step."""
        if not spec.playbook:
            return None
        self.events.add("playbook.start", scenario=spec.name, playbook=spec.playbook)
        result = recovery.run(recovery.load_playbook(spec.playbook), ctx, apply=True, fault_at=fault_at,
                              rto_target_s=spec.targets.rto_s)
        data = result.to_dict()
        for step in data["steps"]:
            self.events.add("playbook.step", scenario=spec.name, playbook=spec.playbook, step=step["name"],
                            status=step["status"], started=step["started_at"], seconds=step["seconds"])
        self.events.add("playbook.end", scenario=spec.name, playbook=spec.playbook, outcome=data["outcome"])
        self.progress(f"  playbook {spec.playbook}: {data['outcome']}"
                      + (f" ({len(data['steps'])} steps)" if data["steps"] else ""))
        return data
