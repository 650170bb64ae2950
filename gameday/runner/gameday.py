"""One game day, orchestrated: preflight, the lock, baseline load, the scenarios in turn, the report.

    result = run(suite, env, reports_dir=Path("reports"), progress=print)
    result.report["verdict"], result.out_dir, result.exit_code

One scenario is :mod:`gameday.runner.scenario`'s job, judging it :mod:`gameday.runner.judge`'s; the
objectives are the suite's, resolved from targets.yaml for this environment (:mod:`gameday.runner.suite`).
Every instant lands in ``events.jsonl`` (one clock: ``time.time()``); RTO, time to detect and
availability come from the load timeline (:mod:`gameday.measure.recovery`). The runner holds the
target's lock for the whole day and lets its ``chaos run`` children act under it. On SIGTERM or
Ctrl-C the running experiment is stopped (its rollbacks run), every recorded fault is undone, and a
partial report is still written.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__, children, hostguard, kafka_client
from ..chaos import ledger
from ..chaos.lock import lock_for
from ..db_client import DbTlsError
from ..kafka_client import KafkaTlsError
from ..deadline import Deadline
from ..errors import GamedayError, UsageError
from ..load import runner as load_runner
from ..load.timeline import Timeline
from ..measure import backup_age
from ..recovery import targets_yaml
from ..report import model, render
from ..targets import Target, for_environment
from ..targets.environment import Environment
from . import edge
from .events import EventLog
from .judge import judge
from .scenario import REGION_LAYER, Progress, ScenarioRun, ScenarioRunner, pause
from .suite import Suite

SCENARIO_BUDGET_S = 300.0  # load is planned for this much per scenario; the run stops it when done

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


def load_options(env: Environment, profile: str, site_url: str, duration: float, out: Path,
                 ramp_s: float | None = None, *, publisher_auth: tuple[str, str] | None = None,
                 at_edge: bool = False) -> load_runner.RunOptions:
    """How a game day drives its load: one local Locust process, or (``load.workers`` in the
    environment) a master waiting for that many external workers; a Kubernetes environment, being
    allow-listed, may load its own site's host, and nothing else. ``publisher_auth`` (the target's
    :meth:`~gameday.targets.base.Target.publisher_auth`) signs the editors' publishes in; it reaches
    Locust through its environment only. ``at_edge``: ``site_url`` is the site's front door with its
    CDN, so the load drives the rate readers send there (the origin then sees the modelled share)."""
    workers = int(env.load.get("workers", 0))
    bind_host, _, bind_port = str(env.load.get("master_bind", "0.0.0.0:5557")).rpartition(":")
    allow = hostguard.site_hosts(env)
    return load_runner.RunOptions(profile=profile, host=site_url, duration_s=duration, out_dir=out,
                                  master=workers > 0, expect_workers=workers, master_bind_host=bind_host,
                                  master_bind_port=int(bind_port), allow_hosts=tuple(h for h in allow if h), ramp_s=ramp_s,
                                  extra_env=children.marked({}, env.name),  # gameday cleanup finds a leftover
                                  publisher_auth=publisher_auth, at_edge=at_edge)


def load_at_edge(env: Environment, front_door: str | None, origin: str | None) -> bool:
    """Whether a game day's load goes through the site's CDN, so that it drives the edge's modelled rate:
    the target's front door is not its origin (the twin's HAProxy front door before Varnish), or the
    environment says its ``site_url`` is behind the platform's CDN (``load.through_cdn``: Cloud CDN)."""
    if front_door is None:
        return False
    return front_door != origin or bool(env.load.get("through_cdn"))


def _on_sigterm(signum, frame):  # noqa: ANN001 - signal handler signature
    raise Interrupted("interrupted by SIGTERM")


class GameDay:
    """The whole day against one target: it alone takes and holds the lock, makes the run folder,
    undoes faults and writes the report; :class:`ScenarioRunner` runs each scenario under it."""

    def __init__(self, suite: Suite, env: Environment, reports_dir: Path, progress: Progress,
                 live: Live | None = None):
        self.env, self.progress, self.live = env, progress, live
        self.scenario_name: str | None = None
        self.phase = "preflight"
        self.target = for_environment(env)  # allow-list, production flag, credentials: before any file
        known_secrets(env, self.target)  # every output of this process is masked from here on (gameday.redact)
        self.suite = suite.for_environment(env.name)  # objectives: targets.yaml for this environment, then the suite's
        self.reports_dir = reports_dir
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.out: Path | None = None  # made once the lock is held (:meth:`make_run_folder`)
        self.events: EventLog | None = None
        self.lock = lock_for(env)
        self.holds_lock = False
        self.final_undo: ledger.Outcome | None = None
        self.started_at = time.time()
        self.done: list[ScenarioRun] = []
        self.scenarios: ScenarioRunner | None = None  # made once the lock is held and the load runs
        self.backups: list[backup_age.BackupAge] = []  # preflight's look at the last backup and snapshot

    # ---- phases -----------------------------------------------------------------------------
    def preflight(self) -> None:
        """Checks that touch nothing, then the lock; only a run holding the lock makes its folder,
        repairs faults a dead run left, or touches anything at all."""
        self.target.check_tools()  # the twin's servers installed (a cluster needs nothing local)
        self.target.site_url()  # raises NotRunning with the fix when the twin is down
        self.site_url = self.target.reader_url()  # two regions: readers at the global front
        # the load arrives where readers do: the front door with the CDN before the origin, when there is one
        # (issue 17, C8: the origin then sees the share the CDN does not answer); probes stay at the origin
        self.load_url = self.target.front_door_url()
        self.target.check_layers()  # a namespace or selector that finds nothing: one clear error, nothing touched
        self.check_active_region()
        replaced = self.lock.acquire(purpose=f"game day {self.run_id}")
        self.holds_lock = True
        self.make_run_folder()
        if replaced:
            self.progress(f"took over the lock of a dead run (pid {replaced.get('pid')})")
        self.undo_leftovers("undid a fault left by an earlier run")
        db_tls, kafka_tls = self.check_database_tls(), self.check_kafka_tls()
        self.check_backups()
        self.events.add("preflight", target=self.env.name, site=self.site_url, front_door=self.load_url,
                        suite=self.suite.name, backups=[b.as_dict() for b in self.backups], db_tls=db_tls,
                        kafka_tls=kafka_tls)

    def check_database_tls(self) -> dict[str, str] | None:
        """One connection to the site's database as the site's user, as every measurement of the run
        will make them (:meth:`Target.db_session_tls`): a progress line saying how it is encrypted
        and verified. A TLS problem (no TLS offered, a certificate that does not verify) stops the
        run here, with its fix, before any fault; a database that does not answer yet is a warning
        (the canaries' own setup says more)."""
        return self._check_tls("database", self.target.db_session_tls, DbTlsError)

    def check_kafka_tls(self) -> dict[str, str] | None:
        """The same for Kafka (:func:`gameday.kafka_client.check`: one TLS handshake with its first
        broker, as the canaries' producer will make it): a progress line; a certificate that does not
        verify stops the run here (KafkaTlsError); a broker not answering yet is a warning."""
        return self._check_tls("Kafka", lambda: kafka_client.check(self.target.kafka_bootstrap()), KafkaTlsError)

    def _check_tls(self, what: str, look: Callable[[], dict[str, str]],
                   refused: type[GamedayError]) -> dict[str, str] | None:
        """``look()`` once: its finding as a progress line, or a warning when it raises a GamedayError
        other than ``refused`` (which stops the run)."""
        try:
            found = look()
        except refused:
            raise
        except GamedayError as err:
            self.progress(f"WARNING: {err}")
            return None
        self.progress(f"{what} {found['address']}: {_encrypted(found)}")
        return found

    def check_active_region(self) -> None:
        """A suite without region drills runs against the active region only: a standby's database is
        read-only and its site follows another region, so the first canary write would fail. Refused
        before the lock, naming the active region's environment and the switchover that moves back.
        A target whose region set is not running (one twin on its own) is a single region: one plain
        progress line. When the front cannot say which region is active, the run goes on with a
        warning (each write then says why)."""
        block = self.env.regions or {}
        if not block or any(s.layer == REGION_LAYER for s in self.suite.scenarios):
            return
        from ..targets import regions as region_pairs
        try:
            pair = region_pairs.for_environment(self.env)
            active = pair.active()
        except region_pairs.RegionSetNotRunning:
            self.progress(f"{self.env.name} runs as one region (its region set is not started): "
                          "no standby to check")
            return
        except GamedayError as err:
            self.progress(f"WARNING: could not tell which region is active ({err}); running against {self.env.name}")
            return
        if active != block.get("name"):
            other = pair.target(active).env.name
            raise UsageError(
                f"environment {self.env.name} is region {block.get('name')}, now the standby of {active} (its "
                f"database read-only, its readers served by {active}): suite {self.suite.name} would write to a "
                "standby; nothing was touched",
                hint=f"run it against the active region (--env {other}), or move back first: gameday playbook "
                     f"region --env {self.env.name} --switchover --apply")

    def check_backups(self) -> None:
        """Issue 15 drill 6: the age of the last database backup and the last search snapshot
        against the age each layer allows (targets.yaml, this environment: its ``backup_age_s``, else
        its ``rpo_s``), and where the target keeps the site's media (WordPress uploads) the last media
        backup against the web layer's. A stale, missing or unknown backup is a warning in the progress output, the
        preflight event and the report; never a failure."""
        targets = targets_yaml.load()
        limit = {layer: targets.for_layer(layer, environment=self.suite.environment).backup_limit()
                 for layer in ("db", "search")}
        objective, max_age = limit["db"]
        self.backups = [backup_age.db_backup_age(self.target.last_db_backup, max_age_s=max_age, objective=objective)]
        objective, max_age = limit["search"]
        try:
            api = self.target.search_admin(timeout=5.0)
        except GamedayError as err:  # no search endpoint known: its snapshot age is unknown, not a failure
            self.backups.append(backup_age.BackupAge("search", backup_age.UNKNOWN, max_age, objective=objective,
                                                     reason=str(err)))
        else:
            self.backups.append(backup_age.search_snapshot_age(api, max_age_s=max_age, objective=objective))
        if self._keeps_media():  # a WordPress site's uploads: their newest backup, judged by the web layer's age
            objective, max_age = targets.for_layer("web", environment=self.suite.environment).backup_limit()
            self.backups.append(backup_age.media_backup_age(self.target.last_media_backup, max_age_s=max_age,
                                                            objective=objective))
        for b in self.backups:  # recorded in the preflight event
            if b.warning:
                self.progress(f"WARNING: {b.warning}")
            else:
                self.progress(f"last {b.what} {b.id} is {backup_age.age_text(b.age_s or 0)} old "
                              f"(at most {backup_age.age_text(b.max_age_s)}, targets.yaml {b.objective})")

    def _keeps_media(self) -> bool:
        """Whether the target keeps the site's media (WordPress uploads) where it can back them up."""
        try:
            return self.target.has_media()
        except GamedayError:
            return False

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

    @property
    def at_edge(self) -> bool:
        """Whether the load goes through a CDN (:func:`load_at_edge`)."""
        return load_at_edge(self.env, getattr(self, "load_url", None), getattr(self, "site_url", None))

    def warm_edge(self) -> None:
        """Before the load, the CDN's edge warmed as production's always is (the popular pages fetched once
        through the front door, the cdn playbook's own warm-up): a baseline read at a cold edge would
        send the origin every request at first. Nothing when the load does not go through a CDN."""
        if not self.at_edge:
            return
        if self.load_url == self.site_url:  # a platform's CDN (environment load.through_cdn): production's is warm
            self.progress(f"load through the CDN in front of {self.site_url} (environment load.through_cdn), "
                          "at the edge's modelled rate")
            return
        self.progress(f"load through the front door {self.load_url} (its CDN before the origin {self.site_url}): "
                      f"{edge.warm(self.env)}")

    def start_load(self) -> None:
        duration = self.suite.baseline_s + len(self.suite.scenarios) * SCENARIO_BUDGET_S
        self.load_run = load_runner.prepare(load_options(self.env, self.suite.profile, self.load_url, duration,
                                                         self.out / "load", ramp_s=self.suite.ramp_s,
                                                         publisher_auth=self.target.publisher_auth(),
                                                         at_edge=self.at_edge))
        self.load_stop = threading.Event()
        self.load_result: dict[str, Any] = {}

        def go() -> None:
            try:
                self.load_result["summary"] = load_runner.execute(self.load_run, progress=self._on_load,
                                                                  stop=self.load_stop)
            except GamedayError as err:
                self.load_result["error"] = str(err)

        self.load_flowing = threading.Event()
        self.load_first_t: float | None = None  # when Locust's first second of requests began (epoch s)
        self.load_thread = threading.Thread(target=go, name="load", daemon=True)
        self.load_thread.start()
        self.events.add("load.start", profile=self.suite.profile, planned_s=duration)

    def wait_for_full_load(self) -> float:
        """Block until Locust sends requests (its workers started and its shape began), then for what
        is left of the shape's ramp (none for ``smoke`` and ``day``): the baseline, and every
        scenario's steady state after it, are judged at the suite's full rate. Returns the seconds
        waited; raises GamedayError when the load ended or never started within the load's own
        start-up deadline. A baseline timed from Locust's launch ran at a tenth of the rate on a slow
        start, and the first scenario then met the ramp's queues instead."""
        started = time.monotonic()
        options = self.load_run.options
        deadline = Deadline(load_runner.STARTUP_GRACE_S + (options.workers_wait_s if options.master else 0.0)
                            + 2 * load_runner.PROGRESS_EVERY_S)
        while not self.load_flowing.wait(timeout=min(0.5, deadline.remaining()) or 0.05):
            if not self.load_thread.is_alive():
                raise GamedayError(f"the load ended before it sent a request: {self.load_result.get('error', 'no error given')}",
                                   hint=f"see {self.out / 'load' / 'locust-console.log'}")
            if deadline.expired():
                raise GamedayError(f"the load sent no request within {deadline.seconds:.0f}s of its start",
                                   hint=f"see {self.out / 'load' / 'locust-console.log'}")
        first = self.load_first_t if self.load_first_t is not None else time.time()
        pause(self.load_run.schedule.ramp_left(time.time() - first) + 1.0)  # rows are whole seconds
        return time.monotonic() - started

    def _on_load(self, sample: dict) -> None:
        """The load's last seconds (from the timeline), tagged with where the game day is."""
        if sample.get("target_rps") is not None:
            self.load_first_t = sample.get("first_t")
            self.load_flowing.set()
        if self.live is not None:
            self.live({"scenario": self.scenario_name, "phase": self.phase, **sample})

    def enter(self, phase: str, scenario: str | None = None) -> None:
        """Where the day is, for the live load line: ``enter("baseline")``, ``enter("experiment", "web-one-pod")``."""
        self.phase = phase
        if scenario is not None:
            self.scenario_name = scenario

    def scenario_runner(self) -> ScenarioRunner:
        """The runner of this day's scenarios: in its run folder, with its events, undoing through
        :meth:`undo_leftovers` (only ever called holding the lock)."""
        return ScenarioRunner(env=self.env, site_url=self.site_url, suite=self.suite, out=self.out,
                              run_id=self.run_id, run_log=self.run_log, events=self.events,
                              undo=self.undo_leftovers, progress=self.progress,
                              on_phase=lambda scenario, phase: self.enter(phase, scenario),
                              timeline=lambda: self.load_run.timeline_path if getattr(self, "load_run", None) else None)

    def stop_load(self) -> None:
        if getattr(self, "load_thread", None) is None:
            return
        self.load_stop.set()
        self.load_thread.join(timeout=60)
        self.events.add("load.stop", **{k: v for k, v in self.load_result.items() if k == "error"})

    def report(self, interrupted: bool) -> Result:
        from .. import redact
        secrets = known_secrets(self.env, self.target)
        red = redact.redactor(secrets)
        red.tree(self.out)  # what the children wrote (chaos journals and logs, load/, environment.yaml)
        timeline = None
        if getattr(self, "load_run", None) is not None and self.load_run.timeline_path.exists():
            timeline = Timeline.load(self.load_run.timeline_path)
        scenarios = [judge(run, timeline, self.suite.slo) for run in self.done]
        versions = {"gameday": __version__, **self.target.versions(),
                    "python": sys.version.split()[0]}
        load_info = {"profile": self.suite.profile, **self.load_result}
        if timeline is not None:
            load_info["achieved_vs_target"] = timeline.achieved_vs_target()
            if getattr(self, "at_edge", False):
                load_info["cdn"] = edge.figures(timeline, front_door=self.load_url, origin=self.site_url)
        lb = self.load_balancer_view()
        if lb is not None:
            load_info["load_balancer"] = lb
        report = red.data(model.build(run_id=self.run_id, started_at=self.started_at, ended_at=time.time(),
                                      target={"name": self.env.name, "kind": self.env.kind}, suite=self.suite.name,
                                      scenarios=scenarios, versions=versions, interrupted=interrupted,
                                      load=load_info, backups=self.backups))  # masked as data: files, --json and the export alike
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
            self.warm_edge()
            self.start_load()
            self.enter("ramp")
            waited = self.wait_for_full_load()
            self.events.add("load.full", waited_s=round(waited, 1))
            self.progress(f"load at its full rate after {waited:.0f}s (start-up and ramp); baseline load for "
                          f"{self.suite.baseline_s:.0f}s ({self.suite.profile} profile)")
            self.enter("baseline")
            pause(self.suite.baseline_s)
            self.scenarios = self.scenario_runner()
            for spec in self.suite.scenarios:
                self.done.append(self.scenarios.run(spec))
        except (Interrupted, KeyboardInterrupt):
            if self.out is None:
                raise  # interrupted before this run held the lock: nothing to undo or report
            interrupted = True
            self.progress("interrupted: stopping the experiment, undoing faults, writing a partial report")
            self.events.add("interrupted")
            if self.scenarios is not None:
                self.scenarios.stop_experiment()  # Chaos Toolkit turns SIGTERM into an interruption + rollbacks
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


def _encrypted(found: dict[str, str]) -> str:
    """How a preflight connection was made, in words: ``TLSv1.3, certificate verified (verify-ca)``."""
    if found["version"]:
        return f"{found['version']}, certificate verified ({found['mode']})"
    return "plain text (tls: disabled)"


def run(suite: Suite, env: Environment, *, reports_dir: Path, progress: Progress = lambda _m: None,
        live: Live | None = None) -> Result:
    """Run ``suite`` against ``env``; ``progress`` gets one line per step, ``live`` the load's state
    (rate, error ratio, p95, phase) every few seconds while the load runs."""
    return GameDay(suite, env, reports_dir, progress, live).run()
