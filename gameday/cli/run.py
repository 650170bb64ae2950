"""``gameday run``: a game day.

Until the game-day runner lands (chaos scenarios under load, playbooks, reports), this brings the
sandbox up, checks the site answers through the load balancer, and writes the twin's status to
``reports/<run-id>/sandbox-status.json``. It says so when it runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import requests

from ..errors import GamedayError
from ..sandbox import install as installer
from ..sandbox import lifecycle, topology
from ..sandbox.twin import Twin
from .output import console, console_err, status_table
from .sandbox import _progress


@click.command()
@click.option("--target", default="sandbox", show_default=True, type=click.Choice(["sandbox"]),
              help="Where to run (only the local twin so far).")
@click.option("--reports", "reports_dir", default="reports", show_default=True, type=click.Path(path_type=Path))
@click.option("--install/--no-install", default=True, show_default=True, help="Install what is missing first.")
def run(target: str, reports_dir: Path, install: bool) -> None:
    """Run a game day against TARGET and write a report (so far: sandbox bring-up and status only)."""
    console_err.print("[yellow]note:[/] the game-day runner is not built yet; this brings the sandbox up, "
                      "checks the site and records the twin's status.")
    if install:
        installer.install_all(lambda label: console_err.print(f"[cyan]install[/] {label}"))
    twin = Twin.create("default")
    result = lifecycle.up(twin.paths, topology.build(twin), prepare=lambda: topology.prepare(twin),
                          progress=_progress)
    try:
        home = requests.get(f"{twin.lb_url}/", timeout=5)
    except requests.RequestException as err:
        raise GamedayError(f"the site did not answer through the load balancer: {err}",
                           log=str(twin.paths.member_log("lb-1"))) from err
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = reports_dir / run_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "sandbox-status.json").write_text(json.dumps(result.status, indent=2))
    console.print(status_table(result.status))
    console_err.print(f"site {twin.lb_url}/ answered {home.status_code}; status written to {out / 'sandbox-status.json'}")
    if home.status_code != 200:
        raise GamedayError(f"the site answered {home.status_code} through the load balancer")
