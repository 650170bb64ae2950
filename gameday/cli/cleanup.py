"""``gameday cleanup``: undo every fault a killed or interrupted run left behind, and free the target."""

from __future__ import annotations

import click

from ..chaos import ledger
from ..chaos.lock import TargetLock
from ..targets.environment import load
from .output import console_err, print_json


@click.command()
@click.option("--environment", "-e", "env_name", default="sandbox", show_default=True,
              help="Environment name (environments/<name>.yaml) or path of its file.")
@click.option("--json", "as_json", is_flag=True, help="Print what was undone as JSON.")
def cleanup(env_name: str, as_json: bool) -> None:
    """Undo faults recorded on disk (toxics, stopped consumers, failed shards, a lost index) and break
    a lock whose holder died. Safe to run at any time; a no-op when nothing is pending."""
    env = load(env_name)
    lock = TargetLock(env.name)
    holder = lock.holder()
    if holder and not lock.break_stale():
        console_err.print(f"[yellow]warning:[/] a live run (pid {holder['pid']}) holds {env.name}; "
                          "undoing its faults anyway as asked")
    undone = ledger.run_pending(env.name)
    if as_json:
        print_json({"schema": "gameday.cleanup/v1", "environment": env.name, "undone": undone,
                    "stale_lock_removed": bool(holder) and lock.holder() is None})
        return
    for item in undone:
        console_err.print(f"undid: {item['reason']}")
    console_err.print(f"{env.name}: {len(undone)} fault(s) undone" + ("; stale lock removed" if holder and lock.holder() is None else ""))
