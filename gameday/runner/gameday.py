"""One game day: preflight, baseline load, each scenario's experiment under load, judgement, report.

    result = run(suite, env, reports_dir=Path("reports"), progress=print)
    result.report["verdict"], result.out_dir, result.exit_code

Every instant lands in ``events.jsonl`` (one clock: ``time.time()``); RTO, time to detect and
availability come from the load timeline (:mod:`gameday.measure.recovery`). The runner holds the
target's lock for the whole day and lets its ``chaos run`` children act under it. On SIGTERM or
Ctrl-C the running experiment is stopped (its rollbacks run), every recorded fault is undone, and a
partial report is still written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .. import __version__, children, hostguard, site_slo
from ..chaos import ledger
from ..chaos.lock import lock_for
from ..deadline import Deadline
from ..errors import GamedayError
from ..load import runner as load_runner
from ..load.timeline import ALL, Timeline
from ..measure.canary import Canaries, CanaryEndpoints
from ..measure.recovery import measure
from .. import recovery
from ..recovery.context import Context
from ..report import model, render
from ..targets import Target, for_environment
from ..targets.environment import Environment
from .events import EventLog
from .suite import ScenarioSpec, Suite

CHAOS = str(Path(sys.executable).with_name("chaos"))
SCENARIO_BUDGET_S = 300.0  # load is planned for this much per scenario; the run stops it when done
EXPERIMENT_TIMEOUT_S = 900.0
STEADY_TIMEOUT_S = 180.0

Progress = Callable[[str], None]
Live = Callable[[dict], None]  # {"scenario", "phase", "rps", "target_rps", "error_ratio", "p95_ms", ...} every ~5 s


class Interrupted(GamedayError):
    """SIGTERM or Ctrl-C during a game day."""


@dataclass
class Result:
    report: dict[str, Any]
    out_dir: Path
    paths: dict[str, Path]
    undo_failed: list[dict[str, Any]] = field(default_factory=list)  # faults still in place after the run

    @property
    def exit_code(self) -> int:
        return 0 if self.report["verdict"] == "passed" and not self.undo_failed else 1


def load_options(env: Environment, profile: str, site_url: str, duration: float, out: Path) -> load_runner.RunOptions:
    """How a game day drives its load: one local Locust process, or (``load.workers`` in the
    environment) a master waiting for that many external workers; a Kubernetes environment, being
    allow-listed, may load its own site's host, and nothing else."""
    workers = int(env.load.get("workers", 0))
    bind_host, _, bind_port = str(env.load.get("master_bind", "0.0.0.0:5557")).rpartition(":")
    allow = hostguard.site_hosts(env)
    return load_runner.RunOptions(profile=profile, host=site_url, duration_s=duration, out_dir=out,
                                  master=workers > 0, expect_workers=workers, master_bind_host=bind_host,
                                  master_bind_port=int(bind_port), allow_hosts=tuple(h for h in allow if h),
                                  extra_env=children.marked({}, env.name))  # gameday cleanup finds a leftover


def _sleep(seconds: float) -> None:
    deadline = Deadline(seconds)
    while not deadline.expired():
        time.sleep(min(0.5, deadline.remaining()) or 0.05)


def _on_sigterm(signum, frame):  # noqa: ANN001 - signal handler signature
    raise Interrupted("interrupted by SIGTERM")


class GameDay:
    def __init__(self, suite: Suite, env: Environment, reports_dir: Path, progress: Progress,
                 live: Live | None = None):
        self.suite, self.env, self.progress, self.live = suite, env, progress, live
        self.scenario_name: str | None = None
        self.phase = "preflight"
        self.target = for_environment(env)  # allow-list, production flag, credentials: before any file
        known_secrets(env, self.target)  # every output of this process is masked from here on (gameday.redact)
        self.reports_dir = reports_dir
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.out: Path | None = None  # made once the lock is held (:meth:`make_run_folder`)
        self.events: EventLog | None = None
        self.lock = lock_for(env)
        self.holds_lock = False
        self.final_undo: ledger.Outcome | None = None
        self.started_at = time.time()
        self.done: list[tuple[ScenarioSpec, dict[str, Any]]] = []
        self.chaos_proc: subprocess.Popen | None = None

    # ---- phases -----------------------------------------------------------------------------
    def preflight(self) -> None:
        """Checks that touch nothing, then the lock; only a run holding the lock makes its folder,
        repairs faults a dead run left, or touches anything at all."""
        self.target.check_tools()  # the twin's servers installed (a cluster needs nothing local)
        self.site_url = self.target.site_url()  # raises NotRunning with the fix when the twin is down
        self.target.check_layers()  # a namespace or selector that finds nothing: one clear error, nothing touched
        replaced = self.lock.acquire(purpose=f"game day {self.run_id}")
        self.holds_lock = True
        self.make_run_folder()
        if replaced:
            self.progress(f"took over the lock of a dead run (pid {replaced.get('pid')})")
        self.undo_leftovers("undid a fault left by an earlier run")
        self.events.add("preflight", target=self.env.name, site=self.site_url, suite=self.suite.name)

    def make_run_folder(self) -> None:
        """``reports/<run id>/``, created exclusively: two runs started in the same second get
        distinct ids (``...Z``, ``...Z-2``), and neither ever writes in or deletes the other's."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        base = self.run_id
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}-{n}"
            try:
                (self.reports_dir / candidate).mkdir()
            except FileExistsError:
                continue
            self.run_id = candidate
            break
        else:
            raise GamedayError(f"no free run folder for {base} in {self.reports_dir}")
        self.out = (self.reports_dir / self.run_id).resolve()  # children run with cwd=self.out
        (self.out / "journals").mkdir()
        self.events = EventLog(self.out / "events.jsonl")
        self.run_log = self.out / "faults.jsonl"  # what this run injected and undid (ledger.removed_under)
        self.run_log.touch()

    def undo_leftovers(self, what: str) -> ledger.Outcome:
        """Undo every recorded fault of the target, trying each (only ever called holding the lock);
        a failure is said and kept in the events, never skips what follows."""
        previous = os.environ.get(ledger.RUN_LOG_ENV)
        os.environ[ledger.RUN_LOG_ENV] = str(self.run_log)
        try:
            outcome = ledger.undo_all(self.env)
        finally:
            if previous is None:
                os.environ.pop(ledger.RUN_LOG_ENV, None)
            else:
                os.environ[ledger.RUN_LOG_ENV] = previous
        for repaired in outcome.undone:
            self.progress(f"{what}: {repaired['reason']}")
        for failed in outcome.failed:
            self.progress(f"could NOT undo {failed['reason']}: {failed['error']} (run `gameday cleanup` once fixed)")
            self.events.add("undo.failed", reason=failed["reason"], record=failed["id"], error=failed["error"])
        return outcome

    def start_load(self) -> None:
        duration = self.suite.baseline_s + len(self.suite.scenarios) * SCENARIO_BUDGET_S
        self.load_run = load_runner.prepare(load_options(self.env, self.suite.profile, self.site_url, duration,
                                                         self.out / "load"))
        self.load_stop = threading.Event()
        self.load_result: dict[str, Any] = {}

        def go() -> None:
            try:
                self.load_result["summary"] = load_runner.execute(self.load_run, progress=self._on_load,
                                                                  stop=self.load_stop)
            except GamedayError as err:
                self.load_result["error"] = str(err)

        self.load_thread = threading.Thread(target=go, name="load", daemon=True)
        self.load_thread.start()
        self.events.add("load.start", profile=self.suite.profile, planned_s=duration)

    def _on_load(self, sample: dict) -> None:
        """The load's last seconds (from the timeline), tagged with where the game day is."""
        if self.live is not None:
            self.live({"scenario": self.scenario_name, "phase": self.phase, **sample})

    def enter(self, phase: str) -> None:
        self.phase = phase

    def stop_load(self) -> None:
        if getattr(self, "load_thread", None) is None:
            return
        self.load_stop.set()
        self.load_thread.join(timeout=60)
        self.events.add("load.stop", **{k: v for k, v in self.load_result.items() if k == "error"})

    def wait_for_steady_state(self, timeout: float = STEADY_TIMEOUT_S) -> float:
        """Before each fault, the site must meet the suite's SLO (a cool-down that ends when it does)."""
        started = time.monotonic()
        deadline = Deadline(timeout)
        last = None
        while not deadline.expired():
            last = site_slo.measure(self.site_url, window_s=3, rate=10, allow=hostguard.site_hosts(self.env))
            if last["success_ratio"] >= self.suite.slo.min_success_ratio and last["p95_ms"] <= self.suite.slo.max_p95_ms:
                return time.monotonic() - started
        raise GamedayError(f"the site did not reach a steady state within {timeout:.0f}s before the fault "
                           f"(last window: {last})")

    def scenario(self, spec: ScenarioSpec) -> dict[str, Any]:
        self.progress(f"scenario {spec.name}: {spec.experiment.relative_to(spec.experiment.parents[2])}")
        self.scenario_name = spec.name
        self.enter("steady state")
        waited = self.wait_for_steady_state()
        if waited > 5:  # one 3 s measuring window is the normal case
            self.progress(f"  waited {waited:.0f}s for a steady state")
        started = time.time()
        self.events.add("scenario.start", scenario=spec.name)
        ctx = Context.for_environment(self.env)
        canaries = Canaries(CanaryEndpoints.from_context(ctx)).start()
        self.events.add("canaries.start", run=canaries.run)
        journal_path = self.out / "journals" / f"{spec.name}.json"
        log_path = self.out / "journals" / f"{spec.name}.log"
        var_file = self.out / "environment.yaml"
        var_file.write_text(yaml.safe_dump({"configuration": {"gameday_environment": self.env.as_configuration()}}))
        env = children.marked({**os.environ, "GAMEDAY_LOCK_PID": str(os.getpid()), "GAMEDAY_RUN_ID": self.run_id,
                               ledger.RUN_LOG_ENV: str(self.run_log)}, self.env.name)
        self.enter("experiment")
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
        journal = json.loads(journal_path.read_text()) if journal_path.exists() else {}
        fault = next((r.get("output") for r in journal.get("run", [])
                      if r["activity"].get("type") == "action" and isinstance(r.get("output"), dict)
                      and "fault_at" in r["output"]), None)
        left = self.undo_leftovers("undid a fault the experiment left")
        removed = ledger.removed_under(self.run_log, [{"id": f["id"]} for f in left.failed])
        self._removed_before = getattr(self, "_removed_before", set())
        removed = [r for r in removed if r["id"] not in self._removed_before]
        self._removed_before |= {r["id"] for r in removed}
        for r in removed:
            self.progress(f"  the fault '{r['reason']}' was removed under this run: {r['why']}")
            self.events.add("fault.removed_under_run", scenario=spec.name, reason=r["reason"], why=r["why"])
        fault_at = fault["fault_at"] if fault else None
        if fault_at:
            self.events.add("fault", at=fault_at, scenario=spec.name, touched=fault.get("touched"))
        self.enter("playbook")
        playbook = self.restore(spec, ctx, fault_at)
        self.progress(f"  experiment {journal.get('status', 'did not run')} (exit {code}); cooling down "
                      f"{self.suite.cooldown_s:.0f}s")
        self.enter("cool-down")
        _sleep(self.suite.cooldown_s)
        ended = time.time()
        self.enter("canary check")
        rpo = {layer: r.to_dict() for layer, r in canaries.verify(timeout=120).items()}
        lost = sum(r["rpo_records"] for r in rpo.values())
        self.events.add("canaries.verified", lost=lost,
                        acknowledged={layer: r["acknowledged"] for layer, r in rpo.items()})
        if lost:
            self.progress(f"  {lost} acknowledged canary record(s) lost: "
                          + ", ".join(f"{k} {v['lost']}" for k, v in rpo.items() if v["lost"]))
        self.events.add("scenario.end", scenario=spec.name, status=journal.get("status"))
        return {"started": started, "ended": ended, "journal": journal, "fault_at": fault_at,
                "exit_code": code, "journal_path": journal_path, "log_path": log_path, "rpo": rpo,
                "playbook": playbook, "removed_under": removed, "undo_failed": left.failed}

    def restore(self, spec: ScenarioSpec, ctx: Context, fault_at: float | None) -> dict[str, Any] | None:
        """Run the scenario's recovery playbook (``--apply``), timed; the events mark each step."""
        if not spec.playbook:
            return None
        self.events.add("playbook.start", playbook=spec.playbook)
        result = recovery.run(recovery.load_playbook(spec.playbook), ctx, apply=True, fault_at=fault_at,
                              rto_target_s=spec.targets.get("rto_s"))
        data = result.to_dict()
        for step in data["steps"]:
            self.events.add("playbook.step", playbook=spec.playbook, step=step["name"], status=step["status"],
                            started=step["started_at"], seconds=step["seconds"])
        self.events.add("playbook.end", playbook=spec.playbook, outcome=data["outcome"])
        self.progress(f"  playbook {spec.playbook}: {data['outcome']}"
                      + (f" ({len(data['steps'])} steps)" if data["steps"] else ""))
        return data

    # ---- judgement --------------------------------------------------------------------------
    def judge(self, spec: ScenarioSpec, run: dict[str, Any], timeline: Timeline | None) -> model.Scenario:
        doc = yaml.safe_load(spec.experiment.read_text())
        journal = run["journal"]
        status = {"completed": "completed", "interrupted": "interrupted"}.get(journal.get("status"), "error")
        error = None
        before = (journal.get("steady_states") or {}).get("before") or {}
        if before and not before.get("steady_state_met", True):
            status, error = "error", "the steady state was not met before the fault, so no fault was injected"
        elif journal.get("deviated"):
            status, error = "error", "the steady state was not met after the fault"
        elif status != "completed":
            error = f"experiment {journal.get('status', 'did not run')} (see {run['log_path'].name})"
        checks: list[model.Check] = []
        recovery: dict[str, Any] = {}
        series: list[dict[str, Any]] = []
        marks: dict[str, float | None] = {"fault": run["fault_at"]}
        if timeline is not None and run["fault_at"]:
            # The recorder writes a second once its requests have finished: the last few seconds before
            # the load stopped may be missing, and must not count as failed seconds.
            t_end = min(run["ended"], timeline.end or run["ended"])
            rec = measure(timeline, t_fault=run["fault_at"], t_end=t_end, slo=self.suite.slo)
            recovery = rec.as_dict()
            marks.update(detected=rec.first_failed_second, recovered=rec.recovered_at)
            checks = [
                model.Check("RTO", rec.rto_s, spec.targets.get("rto_s"), "s",
                            explain="Find what slowed recovery in the playbook steps and the chart."),
                model.Check("time to detect", rec.ttd_s, None, "s",
                            explain="" if rec.ttd_s is not None else "no second failed the SLO"),
                model.Check("availability", rec.availability, spec.targets.get("availability"), "%",
                            higher_is_better=True, explain="Readers saw errors for longer than allowed."),
            ]
            rpo = run.get("rpo") or {}
            if rpo:
                lost = sum(r["rpo_records"] for r in rpo.values())
                checks.append(model.Check("RPO (records lost)", lost, spec.targets.get("rpo_records", 0), "records",
                                          explain="Acknowledged writes did not survive recovery: " + ", ".join(
                                              f"{k} seq {v['lost'][:10]}" for k, v in rpo.items() if v["lost"])))
                checks.append(model.Check("RPO (time span lost)", max(r["rpo_s"] for r in rpo.values()), None, "s"))
            for row in timeline.series(ALL, int(run["started"]) - 5, int(t_end)):
                series.append({"t": row.t, "rps": row.rps, "p95_ms": row.p95_ms,
                               "error_ratio": round(row.failures / row.requests, 4) if row.requests else None})
        elif status == "completed":
            status, error = "error", "no fault instant or no load timeline to measure the scenario against"
        if run.get("removed_under"):
            status, error = "error", ("the fault was removed under this run by someone else, so the scenario "
                                      "proves nothing: " + "; ".join(f"{r['reason']} ({r['why']})"
                                                                     for r in run["removed_under"]))
        if run.get("undo_failed"):
            status, error = "error", "a fault could not be undone: " + "; ".join(
                f"{f['reason']}: {f['error']}" for f in run["undo_failed"])
        playbook = run.get("playbook")
        if playbook is not None:
            if playbook["outcome"] == "failed":
                status, error = "error", f"the {spec.playbook} playbook failed to restore: {playbook.get('error')}"
            playbook = {"outcome": playbook["outcome"], "steps": [
                {"description": st["description"], "outcome": st["did"] or st["status"], "seconds": st["seconds"]}
                for st in playbook["steps"]] or [{"description": "diagnose: nothing to restore",
                                                   "outcome": playbook["outcome"], "seconds": playbook["diagnose_s"]}]}
        return model.Scenario(
            name=spec.name, title=doc.get("title", spec.name), playbook=playbook, rpo=run.get("rpo") or {}, description=doc.get("description", "").strip(),
            layer=spec.layer, experiment=str(spec.experiment.relative_to(spec.experiment.parents[2])),
            status=status, fault_at=run["fault_at"], checks=checks, recovery=recovery, series=series, marks=marks,
            artifacts={"journal": f"journals/{run['journal_path'].name}", "log": f"journals/{run['log_path'].name}"},
            error=error)

    def report(self, interrupted: bool) -> Result:
        from .. import redact
        secrets = known_secrets(self.env, self.target)
        red = redact.redactor(secrets)
        red.tree(self.out)  # what the children wrote (chaos journals and logs, load/, environment.yaml)
        timeline = None
        if getattr(self, "load_run", None) is not None and self.load_run.timeline_path.exists():
            timeline = Timeline.load(self.load_run.timeline_path)
        scenarios = [self.judge(spec, run, timeline) for spec, run in self.done]
        versions = {"gameday": __version__, **self.target.versions(),
                    "python": sys.version.split()[0]}
        load_info = {"profile": self.suite.profile, **self.load_result}
        if timeline is not None:
            load_info["achieved_vs_target"] = timeline.achieved_vs_target()
        lb = self.load_balancer_view()
        if lb is not None:
            load_info["load_balancer"] = lb
        report = red.data(model.build(run_id=self.run_id, started_at=self.started_at, ended_at=time.time(),
                                      target={"name": self.env.name, "kind": self.env.kind}, suite=self.suite.name,
                                      scenarios=scenarios, versions=versions, interrupted=interrupted,
                                      load=load_info))  # masked as data: files, --json and the export alike
        paths = render.write(report, self.out, secrets=secrets)
        if render.chromium():
            try:
                paths["pdf"] = render.pdf(paths["html"])
            except GamedayError as err:
                self.progress(f"report.pdf not written: {err}")
        paths["index"] = render.write_index(self.out.parent, secrets)
        self.export(report)
        self.events.add("report", verdict=report["verdict"], score=report["score"])
        red.tree(self.out)  # a last pass over the whole run folder, whatever wrote into it
        return Result(report=report, out_dir=self.out, paths=paths)

    def load_balancer_view(self) -> dict[str, Any] | None:
        """Cloud Monitoring's view of the day (when configured): beside Locust's in the report."""
        if not self.env.cloud_monitoring:
            return None
        from ..gcp.report_view import lb_view
        self.progress("reading the load balancer's own figures from Cloud Monitoring (waits for its sampling delay)")
        view = lb_view(self.env.cloud_monitoring, self.started_at, time.time())
        if view and view.get("error"):
            self.progress(f"load balancer figures not read: {view['error']}")
        return view

    def export(self, report: dict[str, Any]) -> None:
        """Results as Cloud Monitoring custom metrics when the environment asks for it
        (``cloud_monitoring.export: true``); a failed export is reported, never fatal."""
        from ..gcp.export import export_configured
        try:
            done = export_configured(report, self.env.cloud_monitoring)
        except GamedayError as err:
            self.progress(f"results not exported to Cloud Monitoring: {err}")
            self.events.add("export.failed", error=str(err))
            return
        if done is not None:
            self.progress(f"exported {done['series_written']} series to Cloud Monitoring project {done['project']}")
            self.events.add("export", project=done["project"], series=done["series_written"])

    # ---- the whole day ----------------------------------------------------------------------
    def run(self) -> Result:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        interrupted = False
        try:
            self.preflight()
            self.start_load()
            self.progress(f"baseline load for {self.suite.baseline_s:.0f}s ({self.suite.profile} profile)")
            self.enter("baseline")
            _sleep(self.suite.baseline_s)
            for spec in self.suite.scenarios:
                self.done.append((spec, self.scenario(spec)))
        except (Interrupted, KeyboardInterrupt):
            if self.out is None:
                raise  # interrupted before this run held the lock: nothing to undo or report
            interrupted = True
            self.progress("interrupted: stopping the experiment, undoing faults, writing a partial report")
            self.events.add("interrupted")
            if self.chaos_proc is not None and self.chaos_proc.poll() is None:
                self.chaos_proc.terminate()  # Chaos Toolkit turns SIGTERM into an interruption + rollbacks
                self.chaos_proc.wait(timeout=120)
        except GamedayError as err:
            if not getattr(self, "load_thread", None):
                if self.out is not None:  # a preflight failure after this run made its own folder
                    shutil.rmtree(self.out)  # nothing ran, nothing to report or keep
                raise
            interrupted = True
            self.progress(f"game day stopped early: {err}")
            self.events.add("aborted", reason=str(err))
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stop_load()
            if self.holds_lock:  # a run refused by the lock touches nothing of the run that holds it
                try:
                    if self.out is not None:
                        self.final_undo = self.undo_leftovers("undid")
                finally:
                    self.lock.release()
        result = self.report(interrupted)
        result.undo_failed = self.final_undo.failed if self.final_undo else []
        return result


def known_secrets(env: Environment, target: Target) -> list[str]:
    """Secret values no output may hold: the credentials the environment references (variables set
    here, Kubernetes secrets read through the API) and what its target reads itself (the twin's
    database password). Registers them with :mod:`gameday.redact` (stdout, stderr, logs and every
    run file are masked from then on) and returns them; never print what it returns. A chaos child
    reads the same secrets: known here first, so its files are masked too."""
    from .. import redact
    from ..targets.credentials import known_values
    out = known_values(env.credentials) + target.secrets()
    out = [s for s in out if s]
    redact.register(*out)
    return out


def run(suite: Suite, env: Environment, *, reports_dir: Path, progress: Progress = lambda _m: None,
        live: Live | None = None) -> Result:
    """Run ``suite`` against ``env``; ``progress`` gets one line per step, ``live`` the load's state
    (rate, error ratio, p95, phase) every few seconds while the load runs."""
    return GameDay(suite, env, reports_dir, progress, live).run()
