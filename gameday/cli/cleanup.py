"""``gameday cleanup``: undo every fault a killed or interrupted run left behind, and free the target."""

from __future__ import annotations

import click

from .. import children
from ..chaos import ledger
from ..chaos.lock import TargetLocked, lock_for
from ..targets import consent, for_environment
from ..targets.environment import load
from .output import console_err, print_json


@click.command()
@click.option("--env", "--environment", "-e", "env_name", default="sandbox", show_default=True,
              help="Environment name (environments/<name>.yaml) or path of its file.")
@click.option("--json", "as_json", is_flag=True, help="Print what was undone and what failed as JSON.")
@click.option("--i-mean-production", "i_mean_production", is_flag=True,
              help="Required for an environment marked production: true (the consent that injected a fault undoes it).")
def cleanup(env_name: str, as_json: bool, i_mean_production: bool) -> None:
    """Undo faults a dead run left (toxics, stopped consumers and nodes, failed shards, a lost index),
    stop load generators and experiments it left running, and break its lock.

    \b
    Safe at any time. It takes the target's lock first (a file for the sandbox, a Lease in the
    cluster for a Kubernetes target), so while a live run holds the target it touches nothing and
    says who holds it: that run undoes its own faults when it ends. Every pending record is tried,
    newest first; each that could not be undone is named with its reason, and the exit code is 1
    while any remain (fix the cause and run it again). Exit 0 when nothing is left.
    """
    env = load(env_name)
    if i_mean_production:
        consent.export()  # the undo functions (and anything they start) see the same consent
    for_environment(env, i_mean_production=i_mean_production)  # allow-list and consent, before anything
    lock = lock_for(env)
    try:
        replaced = lock.acquire(purpose="gameday cleanup")
    except TargetLocked as err:
        raise TargetLocked(f"{err.message.replace('; nothing was touched', '')}; cleanup touched nothing",
                           hint="that run undoes its own faults when it ends; wait for it, or stop it "
                                "(kill the pid shown, on its host) and run `gameday cleanup` again") from None
    try:
        stopped = children.stop(children.leftovers(env.name))
        outcome = ledger.undo_all(env)
    finally:
        lock.release()
    if as_json:
        print_json({"schema": "gameday.cleanup/v1", "environment": env.name, "undone": outcome.undone,
                    "failed": outcome.failed, "stopped_processes": stopped,
                    "stale_lock_removed": replaced is not None})
    else:
        for proc in stopped:
            console_err.print(f"stopped a leftover process of a game day: pid {proc['pid']} ({proc['name']})",
                              highlight=False, markup=False)
        for item in outcome.undone:
            console_err.print(f"undid: {item['reason']}", highlight=False, markup=False)
        for item in outcome.failed:
            console_err.print(f"could NOT undo: {item['reason']} (record {item['id']}): {item['error']}",
                              highlight=False, markup=False)
        summary = f"{env.name}: {len(outcome.undone)} fault(s) undone"
        if outcome.failed:
            summary += f", {len(outcome.failed)} still pending (fix the cause above, then run cleanup again)"
        if replaced is not None:
            summary += f"; took over the lock of a dead run (pid {replaced.get('pid')})"
        console_err.print(summary, highlight=False, markup=False)
    if outcome.failed:
        raise click.exceptions.Exit(1)
