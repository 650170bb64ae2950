"""Rendering result objects for people (rich) or for scripts (versioned JSON on stdout)."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

import sys

# Scripts and cron read full lines: do not wrap at 80 columns when nobody is looking.
console = Console(width=None if sys.stdout.isatty() else 200)
console_err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout, nothing else."""
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def _age(ts: float | None) -> str:
    if not ts:
        return "-"
    secs = int(time.time() - ts)
    return f"{secs}s" if secs < 120 else f"{secs // 60}m"


def status_table(status: dict[str, Any]) -> Table:
    sup = status.get("supervisor", {})
    title = f"sandbox {status.get('name')}: supervisor " + (
        f"pid {sup.get('pid')}" if sup.get("running") else "[red]not running[/]")
    table = Table(title=title, title_justify="left")
    for col in ("member", "layer", "address", "pid", "state", "ready", "restarts", "up"):
        table.add_column(col, justify="right" if col in ("pid", "restarts", "up") else "left")
    for m in status.get("members", []):
        if not m.get("desired", True) and not m.get("pid"):
            continue  # a replica slot the workload is not scaled to
        ports = m.get("ports") or {}
        first_port = next(iter(ports.values()), None)
        address = f"{m['address']}:{first_port}" if m.get("address") and first_port else (m.get("address") or "-")
        ready = "[green]yes[/]" if m["ready"] or m["state"] == "succeeded" else (
            "-" if m["state"] in ("pending", "stopped") else "[yellow]no[/]")
        table.add_row(m["name"], m["layer"], address, str(m["pid"] or "-"), m["state"], ready,
                      str(m["restarts"]), _age(m.get("started_at")) if m.get("pid") else "-")
    return table
