"""Driving Locust as a subprocess: command line, environment, deadline, CPU watch, summary.

Locust is never imported here (importing it patches the process with gevent)::

    run = prepare(RunOptions(profile="smoke", host="http://127.50.10.1:8080"))   # checks first
    summary = execute(run, progress=print)                                         # a dict, also summary.json

:func:`prepare` refuses bad input before any load is sent: unknown profile, a host the one host
guard refuses (:mod:`gameday.hostguard`: loopback or the environment's site only), bad traffic
model, impossible duration or process options, unreachable target. :func:`execute`
starts ``python -m locust`` in its own process group, watches its CPU with psutil, kills it at a
hard deadline, and writes ``summary.json`` beside the timeline and Locust's own CSV/JSON/HTML.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil
import requests

from .. import children
from .. import hostguard, redact
from ..deadline import Deadline
from ..errors import DeadlineExceeded, GamedayError, NotRunning, UsageError
from ..project import root as project_root
from ..targets.credentials import basic_token, register_basic
from .model import Plan, TrafficModel, users_for
from .profiles import MAX_DURATION_S, PROFILES, Schedule, check_profile
from .timeline import ALL, Timeline

__all__ = ["RunOptions", "PreparedRun", "prepare", "execute", "check_host", "SUMMARY_SCHEMA", "DEFAULT_LOCUSTFILE"]

SUMMARY_SCHEMA = "gameday.load.summary/v1"
DEFAULT_LOCUSTFILE = project_root() / "loadtests" / "locustfile.py"
FELL_BEHIND_RATIO = 0.90
CPU_LIMIT = 90.0
STARTUP_GRACE_S = 30.0
STOP_GRACE_S = 20.0
PROGRESS_EVERY_S = 5.0
REACH_TIMEOUT_S = 5.0
# The editors' credentials reach Locust through its environment only (never its argv, never a file):
# loadtests/locustfile.py reads them at import and takes the password out of its own environment.
# External workers (--master) read the same variables from theirs.
PUBLISHER_USER_ENV = "GAMEDAY_PUBLISHER_USER"
PUBLISHER_PASSWORD_ENV = "GAMEDAY_PUBLISHER_PASSWORD"


@dataclass
class RunOptions:
    profile: str
    host: str
    duration_s: float | None = None
    processes: int = 0  # 0: one process; N: Locust's --processes N (a master and N local workers)
    master: bool = False  # a master waiting for external workers (--master --expect-workers N)
    expect_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_bind_port: int = 5557
    workers_wait_s: float = 120.0
    out_dir: Path | None = None
    traffic: Path | None = None
    locustfile: Path = DEFAULT_LOCUSTFILE
    pacing_s: float | None = None
    ramp_s: float | None = None  # seconds to the peak rate; None: the traffic model's generator.ramp_s
    extra_env: dict[str, str] = field(default_factory=dict)
    allow_hosts: tuple[str, ...] = ()  # non-loopback hosts this run may load (an allow-listed environment's site)
    publisher_auth: tuple[str, str] | None = field(default=None, repr=False)  # the editors' (user, password), if asked
    at_edge: bool = False  # host is the site's front door with its CDN: drive the edge's rate (Schedule.for_profile)


@dataclass
class PreparedRun:
    options: RunOptions
    model: TrafficModel
    plan: Plan
    schedule: Schedule
    pacing_s: float
    out_dir: Path
    command: list[str]
    env: dict[str, str] = field(repr=False)  # may hold the publisher's password: never printed
    host: str = ""  # the base URL the host guard returned: what Locust is given

    @property
    def timeline_path(self) -> Path:
        return self.out_dir / "timeline.jsonl"

    @property
    def hard_deadline_s(self) -> float:
        wait = self.options.workers_wait_s if self.options.master else 0.0
        return self.schedule.duration_s + STARTUP_GRACE_S + wait + self.pacing_s + STOP_GRACE_S


# ---- checks ----------------------------------------------------------------------------------
def check_host(url: str, allow: tuple[str, ...] = ()) -> str:
    """The base URL Locust may load, from the one host guard (:func:`gameday.hostguard.check_url`):
    loopback, or a host named in ``allow`` (an allow-listed environment's site); UsageError otherwise."""
    return hostguard.check_url(url, allow)


def check_reachable(url: str) -> None:
    """Any HTTP answer from ``url/`` will do; no answer is an error before any load is sent."""
    try:
        requests.get(f"{url}/", timeout=REACH_TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as err:
        raise NotRunning(f"target {url} did not answer: {type(err).__name__}",
                         hint="is the sandbox up? `gameday sandbox status` (or --sandbox NAME / --host URL)") from None


def prepare(opts: RunOptions, *, check_target: bool = True) -> PreparedRun:
    """Validate everything and build the command; nothing is sent to the target except one GET /."""
    check_profile(opts.profile)
    host = check_host(opts.host, opts.allow_hosts)
    if opts.duration_s is not None and not 0 < opts.duration_s <= MAX_DURATION_S:
        raise UsageError(f"--duration {opts.duration_s:g} is out of range",
                         hint=f"give 1..{MAX_DURATION_S:.0f} seconds (default for {opts.profile}: "
                              f"{PROFILES[opts.profile][0]:.0f})")
    if opts.processes < 0:
        raise UsageError(f"--processes {opts.processes} must be 0 (one process) or more")
    if opts.master and opts.processes:
        raise UsageError("--master and --processes cannot be combined",
                         hint="--processes N starts local workers itself; --master waits for external ones")
    if opts.master and opts.expect_workers < 1:
        raise UsageError("--master needs --expect-workers N (N >= 1)")
    if opts.expect_workers and not opts.master:
        raise UsageError("--expect-workers only makes sense with --master")
    if not opts.locustfile.exists():
        raise UsageError(f"locustfile {opts.locustfile} not found")
    model = TrafficModel.load(opts.traffic)
    pacing = opts.pacing_s if opts.pacing_s is not None else model.pacing_s
    if not 0.5 <= pacing <= 120:
        raise UsageError(f"pacing {pacing:g}s is out of range", hint="give 0.5..120 seconds")
    plan = model.plan()
    schedule = Schedule.for_profile(opts.profile, plan, duration_s=opts.duration_s,
                                    ramp_s=model.ramp_s if opts.ramp_s is None else opts.ramp_s, at_edge=opts.at_edge)
    if check_target:
        check_reachable(host)
    out = opts.out_dir or Path("reports") / time.strftime("load-%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    if (out / "summary.json").exists() or (out / "timeline.jsonl").exists():
        raise UsageError(f"{out} already holds a load run", hint="pass another --out directory")
    command = _command(opts, host, out)
    env = {**redact.clean_environ(os.environ), **schedule.env(), "GAMEDAY_TIMELINE": str(out / "timeline.jsonl"),
           "GAMEDAY_TRAFFIC": str(Path(model.source).resolve()), "GAMEDAY_LOAD_PACING": repr(pacing),
           "PYTHONUNBUFFERED": "1", **opts.extra_env}
    env = {k: v for k, v in env.items() if k not in (PUBLISHER_USER_ENV, PUBLISHER_PASSWORD_ENV)}
    if opts.publisher_auth:
        user, password = opts.publisher_auth
        register_basic(user, password)  # masked in this process's output and in the run's files (execute)
        env.update({PUBLISHER_USER_ENV: user, PUBLISHER_PASSWORD_ENV: password})
    return PreparedRun(options=opts, model=model, plan=plan, schedule=schedule, pacing_s=pacing, out_dir=out,
                       command=command, env=env, host=host)


def _command(opts: RunOptions, host: str, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "locust", "-f", str(opts.locustfile), "--headless", "--host", host,
           "--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html"),
           "--json-file", str(out / "locust"), "--logfile", str(out / "locust.log"), "--only-summary",
           "--exit-code-on-error", "0"]
    if opts.processes:
        cmd += ["--processes", str(opts.processes)]
    if opts.master:
        cmd += ["--master", "--expect-workers", str(opts.expect_workers),
                "--expect-workers-max-wait", f"{opts.workers_wait_s:g}",
                "--master-bind-host", opts.master_bind_host, "--master-bind-port", str(opts.master_bind_port)]
    return cmd


# ---- running ---------------------------------------------------------------------------------
class _CpuWatch:
    """CPU of the Locust process tree (master and workers), sampled once a second with psutil."""

    def __init__(self, pid: int):
        self.root = pid
        self.procs: dict[int, psutil.Process] = {}
        self.samples: dict[int, list[float]] = {}

    def sample(self) -> dict[int, float]:
        try:
            root = psutil.Process(self.root)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {}
        now: dict[int, float] = {}
        for proc in tree:
            try:
                if proc.pid not in self.procs:  # the first call only primes psutil's counter
                    self.procs[proc.pid] = proc
                    self.samples[proc.pid] = []
                    proc.cpu_percent(None)
                    continue
                value = self.procs[proc.pid].cpu_percent(None)
            except psutil.NoSuchProcess:
                continue
            self.samples[proc.pid].append(value)
            now[proc.pid] = value
        return now

    def report(self) -> dict:
        per_process = {}
        over = False
        for pid, values in self.samples.items():
            if not values:
                continue
            window = [sum(values[i:i + 5]) / len(values[i:i + 5]) for i in range(max(1, len(values) - 4))]
            peak5 = max(window)
            over = over or peak5 > CPU_LIMIT
            per_process[str(pid)] = {"mean_percent": round(sum(values) / len(values), 1),
                                     "max_5s_percent": round(peak5, 1)}
        return {"processes": per_process, "over_limit": over,
                "max_5s_percent": max((p["max_5s_percent"] for p in per_process.values()), default=None)}


class _Tail:
    """New complete lines of the timeline since the last read."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.rows: list[dict] = []

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        new = [json.loads(line) for line in data[:cut].splitlines() if line.strip()]
        new = [r for r in new if r.get("group") == ALL]
        self.rows.extend(new)
        return new


def execute(run: PreparedRun, progress: Callable[[dict], None] | None = None,
            stop: threading.Event | None = None) -> dict:
    """Run Locust to completion (or its hard deadline) and return the summary (also summary.json).

    A game day runs the load in a thread for as long as its scenarios take: setting ``stop`` ends
    the run early and normally (status ``stopped``; Locust still writes its stats).
    """
    console_log = run.out_dir / "locust-console.log"
    started = time.time()
    deadline = Deadline(run.hard_deadline_s)
    tail = _Tail(run.timeline_path)
    with open(console_log, "wb") as console:
        proc = subprocess.Popen(run.command, env=run.env, stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=children.die_with_parent)  # never outlives its runner
        children.keep_nice(proc.pid)
        cpu = _CpuWatch(proc.pid)
        status = "ok"
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        try:
            while proc.poll() is None:
                if stop is not None and stop.is_set():
                    status = "stopped"
                    _stop(proc)
                    break
                if deadline.expired():
                    status = "killed"
                    _stop(proc)
                    break
                cpu.sample()
                if progress and time.monotonic() >= next_progress:
                    next_progress += PROGRESS_EVERY_S
                    tail.read()
                    progress(_progress_line(tail.rows, started, cpu))
                try:
                    proc.wait(timeout=min(1.0, deadline.remaining()) or 0.1)
                except subprocess.TimeoutExpired:
                    pass  # still running: sample again
        except KeyboardInterrupt:
            _stop(proc)  # Locust writes its stats on SIGTERM; the summary below records what ran
            _write_summary(run, summarise(run, started=started, ended=time.time(), exit_code=proc.returncode,
                                          status="interrupted", cpu=cpu.report(), console_log=console_log))
            _mask_files(run)
            raise
    summary = summarise(run, started=started, ended=time.time(), exit_code=proc.returncode, status=status,
                        cpu=cpu.report(), console_log=console_log)
    _write_summary(run, summary)
    _mask_files(run)
    if status == "killed":
        raise DeadlineExceeded(f"Locust was still running {run.hard_deadline_s:.0f}s after the start and was killed",
                               log=str(console_log), hint=f"partial results are in {run.out_dir}")
    if proc.returncode != 0 and status != "stopped":
        raise GamedayError(f"Locust exited with code {proc.returncode}", log=str(console_log),
                           hint=f"the summary is in {run.out_dir / 'summary.json'}")
    return summary


def _write_summary(run: PreparedRun, summary: dict) -> None:
    redact.redactor().write_json(run.out_dir / "summary.json", summary, indent=2)


def _mask_files(run: PreparedRun) -> None:
    """Locust held the publisher's password: mask it in whatever Locust wrote (its log, CSVs, HTML),
    should any of it have printed the value."""
    if run.options.publisher_auth:
        redact.redactor(extra=[run.options.publisher_auth[1], basic_token(*run.options.publisher_auth)]).tree(run.out_dir)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the Locust process group (it writes its stats), then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _progress_line(rows: list[dict], started: float, cpu: _CpuWatch) -> dict:
    last = rows[-5:]
    seconds = len(last) or 1
    cpu_now = max((v[-1] for v in cpu.samples.values() if v), default=0.0)
    requests_ = sum(r["requests"] for r in last)
    failures = sum(r["failures"] for r in last)
    return {"elapsed_s": round(time.time() - started), "first_t": rows[0]["t"] if rows else None,
            "users": last[-1].get("users") if last else 0,
            "rps": round(requests_ / seconds, 1),
            "target_rps": last[-1].get("target_rps") if last else None,
            "failures": failures, "error_ratio": round(failures / requests_, 4) if requests_ else None,
            "p95_ms": max((r["p95_ms"] or 0 for r in last), default=0),
            "cpu_percent": round(cpu_now)}


# ---- results ---------------------------------------------------------------------------------
def summarise(run: PreparedRun, *, started: float, ended: float, exit_code: int | None, status: str,
              cpu: dict, console_log: Path) -> dict:
    warnings: list[str] = []
    files = {"timeline": run.timeline_path, "locust_stats_csv": run.out_dir / "locust_stats.csv",
             "locust_history_csv": run.out_dir / "locust_stats_history.csv",
             "locust_failures_csv": run.out_dir / "locust_failures.csv", "locust_json": run.out_dir / "locust.json",
             "locust_html": run.out_dir / "locust.html", "locust_log": run.out_dir / "locust.log",
             "console_log": console_log}
    timeline = Timeline.load(run.timeline_path) if run.timeline_path.exists() else None
    achieved = timeline.achieved_vs_target() if timeline else {}
    groups = timeline.summary() if timeline else {}
    if timeline is None:
        warnings.append("no timeline was written: see the Locust log")
    ratio = achieved.get("ratio")
    fell_behind = ratio is not None and ratio < FELL_BEHIND_RATIO
    if fell_behind:
        warnings.append(f"the generator fell behind: it sent {ratio:.0%} of the target rate "
                        f"({achieved['achieved_rps']} of {achieved['target_rps']} requests/s); "
                        "latency and availability figures may flatter the target")
    locust_cpu_warning = _locust_cpu_warning(run.out_dir / "locust.log")
    if cpu.get("over_limit") or locust_cpu_warning:
        warnings.append(f"generator CPU passed {CPU_LIMIT:.0f}% (max 5 s mean {cpu.get('max_5s_percent')}%"
                        + (", and Locust warned" if locust_cpu_warning else "")
                        + "): its timings are suspect; use --processes N or more workers")
    if status == "killed":
        warnings.append("Locust did not stop by itself and was killed at the hard deadline")
    if status == "interrupted":
        warnings.append("the run was interrupted before the end of its profile")
    return {
        "schema": SUMMARY_SCHEMA,
        "status": "ok" if status == "ok" and exit_code == 0 else (status if status != "ok" else "failed"),
        "profile": run.schedule.profile,
        "host": run.host or check_host(run.options.host, run.options.allow_hosts),
        "started_at": round(started, 3),
        "ended_at": round(ended, 3),
        "wall_s": round(ended - started, 1),
        "mode": {"processes": run.options.processes, "master": run.options.master,
                 "expect_workers": run.options.expect_workers},
        "target": {"duration_s": run.schedule.duration_s, "max_rps": round(run.schedule.max_rps(), 3),
                   "mean_rps": round(run.schedule.mean_rps(), 3), "pacing_s": run.pacing_s,
                   "max_users": users_for(run.schedule.max_rps(), run.pacing_s)},
        "achieved": achieved,
        "at_edge": run.options.at_edge,  # through the site's CDN, at the edge's rate (groups' cdn_hit_ratio)
        "fell_behind": fell_behind,
        "groups": groups,
        "generator": {**cpu, "locust_cpu_warning": locust_cpu_warning},
        "warnings": warnings,
        "locust": {"exit_code": exit_code, "command": run.command},
        "files": {k: str(v) for k, v in files.items() if v.exists()},
    }


def _locust_cpu_warning(log: Path) -> bool:
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return False
    return "CPU usage above" in text or "CPU usage was too high" in text or "CPU usage threshold" in text
