"""``gameday playbook LAYER``: diagnose a layer, show the plan, and with ``--apply`` restore and verify it."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..chaos.lock import lock_for
from ..errors import GamedayError, UsageError
from ..recovery import FAILED, HEALTHY, NEEDS_RESTORE, RESTORED, available, load_playbook, run
from ..recovery import targets_yaml
from ..recovery.engine import PlaybookResult, StepResult
from ..targets import consent
from ..targets.environment import load as load_environment
from .output import console, console_err, print_json

EXIT_RESTORED = 10
EXIT_NEEDS_RESTORE = 11

EPILOG = """\b
Exit codes:
   0  healthy: nothing was wrong, nothing was done
  10  restored: something was wrong; the plan ran and the layer verified healthy (--apply)
  11  needs restore: something is wrong; the plan was printed, nothing was done (dry run)
   1  failed to restore: a step failed or passed its deadline, or the layer is still unhealthy
   2  bad input (a production target without --i-mean-production);  4  the target is not running
\b
Examples:
  gameday playbook kafka                 # what is wrong and what would be done
  gameday playbook kafka --apply         # do it, with progress per step
  gameday playbook site --apply --json   # the whole site, in order: db, kafka, search, indexer, web
  gameday playbook region --apply        # the active region lost: fail over to the standby
  gameday playbook region --switchover --apply   # a planned move (or the failback), RPO 0"""


class PlaybookFailed(GamedayError):
    pass


def _on_progress(event: str, step: StepResult) -> None:
    if event == "start":
        console_err.print(f"[cyan]...[/] {step.layer}/{step.name}: {step.description} (deadline {step.deadline_s:g}s)",
                          highlight=False)
        return
    mark = "[green]ok[/]" if step.status == "ok" else "[red]FAILED[/]"
    did = f" did: {step.did};" if step.did else ""
    console_err.print(f"{mark} {step.layer}/{step.name} in {step.seconds:.1f}s:{did} {step.detail}", highlight=False)


def _summary(result: PlaybookResult) -> Table:
    table = Table(title=f"playbook {result.playbook} on {result.environment}: {result.outcome}", title_justify="left")
    for col in ("layer", "step", "status", "seconds", "deadline", "detail"):
        table.add_column(col, justify="right" if col in ("seconds", "deadline") else "left")
    for s in result.steps:
        status = {"ok": "[green]ok[/]", "failed": "[red]failed[/]"}.get(s.status, "[dim]not run[/]" if result.apply
                                                                          else "[dim]planned[/]")
        table.add_row(s.layer, s.name, status, "-" if s.seconds is None else f"{s.seconds:.1f}",
                      f"{s.deadline_s:g}", s.detail or s.description)
    return table


def _print_diagnosis(result: PlaybookResult) -> None:
    if not result.findings:
        console.print(f"[green]healthy[/]: {result.playbook} on {result.environment} needs nothing "
                      f"(diagnosed in {result.diagnose_s:.1f}s); nothing was changed.", highlight=False)
        return
    console.print(f"[bold]diagnosis[/] ({result.playbook} on {result.environment}):", highlight=False)
    for f in result.findings:
        console.print(f"  - {f.layer}: {f.text}", highlight=False)
    if not result.apply:
        console.print("[bold]plan[/] (dry run: nothing was changed; --apply to act):")
        for i, s in enumerate(result.steps, 1):
            console.print(f"  {i}. {s.layer}/{s.name}: {s.description} (deadline {s.deadline_s:g}s)"
                          + (f": {s.detail}" if s.detail else ""), highlight=False)


@click.command(epilog=EPILOG)
@click.argument("layer", type=click.Choice(available()))
@click.option("--apply", "apply_", is_flag=True, help="Act: restore and verify (default: dry run, diagnosis and plan).")
@click.option("--env", "-e", "env_name", default="sandbox", show_default=True,
              help="Environment name (environments/<name>.yaml) or path of its file.")
@click.option("--scenario", default=None, help="Scenario whose targets apply (targets.yaml), e.g. kill-two-brokers.")
@click.option("--fault-at", type=float, default=None,
              help="Unix time of the fault, so RTO is measured from it (default: from the playbook's start).")
@click.option("--step-timeout", type=click.FloatRange(min=1), default=None,
              help="Cap every step's deadline at this many seconds (drills; a step past it fails).")
@click.option("--targets", "targets_file", type=click.Path(path_type=Path), default=None,
              help="Targets file (default: the repository's targets.yaml).")
@click.option("--rolling-restart", is_flag=True,
              help="web only: also replace every web replica one at a time (Kubernetes: rollout restart), "
                   "e.g. after a rotated secret; planned like any step, done with --apply.")
@click.option("--switchover", is_flag=True,
              help="region only: move to the standby region on purpose (stop writes, wait until it has every "
                   "write, promote it, switch the front, make the old region its standby): RPO 0. After a "
                   "failover this is the failback (the old region is rebuilt as the standby first).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (schema gameday.playbook/v1).")
@click.option("--i-mean-production", "i_mean_production", is_flag=True,
              help="Required for an environment marked production: true (the diagnosis and any undo too).")
def playbook(layer: str, apply_: bool, env_name: str, scenario: str | None, fault_at: float | None,
             step_timeout: float | None, targets_file: Path | None, rolling_restart: bool, switchover: bool,
             as_json: bool, i_mean_production: bool) -> None:
    """Diagnose LAYER (web, kafka, search, db or site), plan its restore and, with --apply, restore
    and verify it, timing every step against its deadline and the RTO target in targets.yaml.

    Usable on its own during an incident. Running it on a healthy layer changes nothing."""
    from ..recovery.context import Context

    if rolling_restart and layer != "web":
        raise UsageError(f"--rolling-restart is for the web playbook, not {layer}",
                         hint="gameday playbook web --rolling-restart [--apply]")
    if switchover and layer != "region":
        raise UsageError(f"--switchover is for the region playbook, not {layer}",
                         hint="gameday playbook region --switchover [--apply]")
    env = load_environment(env_name)
    targets = targets_yaml.load(targets_file)
    book = load_playbook(layer)
    target = targets.for_layer(layer, environment=env.name, scenario=scenario)
    if i_mean_production:
        consent.export()  # every target this process opens (the context, any undo) acts with it
    ctx = Context.for_environment(env)  # allow-list and consent: refused here, before anything
    ctx.target.check_layers()  # a namespace or selector that finds nothing: say so, before any diagnosis
    ctx.target.site_url()  # a twin that is not running: NotRunning (exit 4), not a diagnosis of everything down
    ctx.state.slo = targets.slo(env.name)
    ctx.state.rolling_restart = rolling_restart
    ctx.state.switchover = switchover
    lock = lock_for(env)
    if apply_:
        lock.acquire(purpose=f"playbook {layer}")
    try:
        result = run(book, ctx, apply=apply_, step_timeout=step_timeout, fault_at=fault_at,
                     rto_target_s=target.rto_s, progress=_on_progress if not as_json else lambda *_: None)
    finally:
        if apply_ and not lock.inherited():
            lock.release()
    doc = result.to_dict()
    doc["target"] = target.to_dict()
    if as_json:
        print_json(doc)
    else:
        _print_diagnosis(result)
        if result.apply and result.steps:
            console.print(_summary(result))
        if result.rto:
            rto = result.rto
            verdict = "[green]met[/]" if rto["met"] else "[red]missed[/]"
            console.print(f"RTO {rto['measured_s']:.1f}s from {rto['from']} (target {rto['target_s']:g}s): {verdict}",
                          highlight=False)
    if result.outcome == FAILED:
        raise PlaybookFailed(f"playbook {layer} failed to restore {env.name}: {result.error}",
                             hint=f"fix what the failed step names, then run `gameday playbook {layer} --apply` again")
    if result.outcome == RESTORED and result.rto and not result.rto["met"]:
        raise PlaybookFailed(f"playbook {layer} restored {env.name} in {result.rto['measured_s']:.0f}s, "
                             f"beyond its RTO target of {target.rto_s:g}s")
    code = {HEALTHY: 0, RESTORED: EXIT_RESTORED, NEEDS_RESTORE: EXIT_NEEDS_RESTORE}[result.outcome]
    if code:
        click.get_current_context().exit(code)  # not errors: main() returns this code
