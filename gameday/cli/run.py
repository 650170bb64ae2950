"""``gameday run``: a whole game day against a target, judged and reported."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..runner import gameday as runner
from ..runner.suite import load as load_suite
from ..sandbox import install as installer
from ..sandbox import lifecycle, topology
from ..sandbox.twin import Twin
from ..targets import consent, for_environment
from ..errors import UsageError
from ..targets.environment import load as load_environment
from .output import console, console_err, print_json
from .sandbox import _progress


@click.command()
@click.option("--suite", default="default", show_default=True,
              help="Suite name (experiments/suites/<name>.yaml) or path.")
@click.option("--env", "-e", "env_name", default="sandbox", show_default=True,
              help="Environment name (environments/<name>.yaml) or path.")
@click.option("--reports", "reports_dir", default="reports", show_default=True, type=click.Path(path_type=Path),
              help="Where the run's folder and the history index go.")
@click.option("--install/--no-install", default=True, show_default=True,
              help="Install what the sandbox needs first (cached; a no-op when installed).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json on stdout.")
@click.option("--i-mean-production", "i_mean_production", is_flag=True,
              help="Required for an environment marked production: true.")
def run(suite: str, env_name: str, reports_dir: Path, install: bool, as_json: bool, i_mean_production: bool) -> None:
    """Run a game day: each scenario's fault under load, recovery measured against targets, a report.

    \b
    Against the sandbox it brings the twin up first; for a suite of region drills (--suite regions)
    both regions and the global front (the environment's regions block). The load (Locust) arrives
    where readers do: the site's front door, its CDN warmed first, at the edge's modelled rate (the
    origin sees the share the CDN does not answer; the report gives the hit ratio beside the model's);
    the canaries and probes look at the origin. Writes reports/<run-id>/:
    report.html (and report.pdf), summary.json, junit.xml, events.jsonl, the chaos journals and the
    load timeline; and reports/index.html with every past game day. Exit code 0 when every target was met, 1 when
    any was missed or the run was interrupted (a partial report is still written).
    """
    the_suite = load_suite(suite)
    env = load_environment(env_name)
    regions = _region_drills(the_suite, env)  # refused here, before anything starts, without a regions block
    if consent.given(flag=i_mean_production):
        consent.export()  # the chaos runs it starts, and every undo, inherit it
    target = for_environment(env, i_mean_production=i_mean_production)  # allow-list, consent, credentials: before anything
    if env.kind == "sandbox":
        if install:
            installer.install_all(lambda label: console_err.print(f"[cyan]install[/] {label}"))
        twin = Twin.create(env.sandbox, net=env.net)
        if regions:
            _regions_up(twin)
        else:
            up = lifecycle.up(twin.paths, topology.build(twin), prepare=lambda: topology.prepare(twin),
                              progress=_progress)
            if not up.already_running:
                console_err.print(f"sandbox {twin.name} up in {up.seconds:.0f}s")
    runner.known_secrets(env, target)  # registered with gameday.redact: masked in every output from here on
    console_err.print(f"game day: suite [bold]{the_suite.name}[/] ({len(the_suite.scenarios)} scenarios) "
                      f"against [bold]{env.name}[/]")
    live = LiveLine()
    try:
        result = runner.run(the_suite, env, reports_dir=reports_dir,
                            progress=lambda msg: console_err.print(f"  {msg}", highlight=False, markup=False), live=live)
    finally:
        live.stop()
    report = result.report
    if as_json:
        print_json(report)
    else:
        for s in report["scenarios"]:
            figures = ", ".join(f"{c['name']} {_fmt(c)}" for c in s["checks"])
            mark = "[green]met[/]" if s["passed"] else "[red]missed[/]"
            console.print(f"{mark} {s['title']}: {figures}", highlight=False)
        console.print(f"[bold]{report['verdict']}[/] score {report['score']:.0f}/100: {report['headline']}")
        console.print(f"report: {result.paths['html']}")
    for failed in result.undo_failed:  # a fault still in place after the run: never silent
        console_err.print(f"could NOT undo: {failed['reason']} ({failed['error']}); run `gameday cleanup --env "
                          f"{env.name}` once the cause is fixed", highlight=False, markup=False)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


def _region_drills(the_suite, env) -> bool:
    """True when the suite has region drills (a scenario of layer ``region``): they need the
    environment's regions block, refused here before anything starts when it has none. Other suites
    bring up the environment's one twin, as before."""
    drills = [sc.name for sc in the_suite.scenarios if sc.layer == "region"]
    if drills and not env.regions:
        raise UsageError(f"suite {the_suite.name} has region drills ({', '.join(drills)}) but environment "
                         f"{env.name} names no second region",
                         hint="use an environment with a regions: block (e.g. --env sandbox: r1, standby sandbox-r2)")
    return bool(drills)


def _regions_up(twin: Twin) -> None:
    """The twin's region set up before a game day of region drills: its two regions and the global
    front (:func:`gameday.sandbox.regions.up`, idempotent), whichever twin of the set ``twin`` is."""
    from ..sandbox import regions as region_set
    started = time.monotonic()
    result = region_set.up(region_set.Regions.containing(twin), progress=_progress,
                           announce=lambda line: console_err.print(f"[bold]{line}[/]", highlight=False))
    console_err.print(f"regions up in {time.monotonic() - started:.0f}s: active {result['active']} "
                      f"(per twin: {', '.join(f'{n} {s:.0f}s' for n, s in result['seconds'].items())})", highlight=False)


def live_text(sample: dict) -> str:
    """One line of live state: ``[web-full-outage · experiment] load 19.8 req/s (target 20.0), errors 41.0%, p95 310 ms``."""
    where = " · ".join(x for x in (sample.get("scenario"), sample.get("phase")) if x)
    target = f" (target {sample['target_rps']:.1f})" if sample.get("target_rps") else ""
    ratio = sample.get("error_ratio")
    errors = "errors -" if ratio is None else f"errors {ratio:.1%}"
    return f"[{where}] load {sample.get('rps', 0):g} req/s{target}, {errors}, p95 {sample.get('p95_ms') or 0:.0f} ms"


class LiveLine:
    """Live load state while a game day runs: a spinner line on a terminal; on a log (cron, a
    CronJob) a plain line every ``every_s`` seconds, or at once when the error ratio crosses 1%."""

    def __init__(self, every_s: float = 30.0):
        self.every_s = every_s
        self.status = console_err.status("starting") if console_err.is_terminal else None
        self.last_printed = 0.0
        self.was_failing = False
        if self.status is not None:
            self.status.start()

    def __call__(self, sample: dict) -> None:
        text = live_text(sample)
        if self.status is not None:
            self.status.update(text)
            return
        failing = (sample.get("error_ratio") or 0) >= 0.01
        now = time.monotonic()
        if now - self.last_printed >= self.every_s or failing != self.was_failing:
            self.last_printed, self.was_failing = now, failing
            console_err.print(f"  {text}", highlight=False, markup=False)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()


def _fmt(check: dict) -> str:
    from ..report.model import figure
    shown = figure(check["value"], check["unit"], check["target"] is not None)
    return shown if check["target"] is None else f"{shown} (target {figure(check['target'], check['unit'])})"
