"""``gameday coverage``: which failure of which component we have proven we recover from, and when.

    gameday coverage [--inventory FILE] [--reports DIR] [--stale-days N] [--json] [--html FILE]
    gameday coverage inventory --sandbox [--write]      # the twin's platform.yaml, generated
    gameday coverage check [--inventory FILE]           # consistency only (exit 2 on a problem)
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from ..coverage import claims, consistency, inventory, matrix, page
from ..coverage import sandbox as sandbox_inventory
from ..errors import UsageError
from .output import console, console_err, print_json

STYLE = {"ok": "green", "stale": "yellow", "failed": "bold red", "untested": "red", "no-experiment": "dim red"}


def _load_checked(name: str | None) -> inventory.Inventory:
    inv = inventory.load(name)
    consistency.check(inv, claims.scan(inventory.ROOT), inventory.ROOT)
    return inv


def _table(data: dict) -> Table:
    table = Table(title=f"recovery coverage: {data['inventory']['platform']} "
                        f"(stale after {data['stale_days']:g} days)", title_justify="left")
    for col in ("component", "failure mode", "exp.", "playbook", "last game day", "result", "RTO", "RPO", "age",
                "status"):
        table.add_column(col, justify="right" if col in ("RTO", "RPO", "age") else "left")
    previous = None
    for c in data["cells"]:
        last = c["last"]
        result = "-" if last is None else ("[green]met[/]" if last["passed"] else "[red]missed[/]")
        rto = "-" if not last or last["rto_s"] is None else f"{last['rto_s']:.1f}s"
        if last and last["rto_target_s"] is not None:
            rto += f" / {last['rto_target_s']:g}s"
        rpo = "-" if not last or last["rpo_records"] is None else f"{last['rpo_records']:g}"
        style = STYLE[c["status"]]
        table.add_row(c["component"] if c["component"] != previous else "", c["failure_mode"],
                      "yes" if c["has_experiment"] else "[red]no[/]", "yes" if c["has_playbook"] else "[red]no[/]",
                      f"{last['run_id']} ({last['scenario']})" if last else "never", result, rto, rpo,
                      f"{last['age_days']:g}d" if last else "-", f"[{style}]{page.WORDS[c['status']]}[/]")
        previous = c["component"]
    return table


@click.group(invoke_without_command=True)
@click.option("--inventory", "inventory_name", default=None, metavar="FILE",
              help="Inventory file or a name in inventory/ (default: platform.yaml, the sandbox's).")
@click.option("--reports", "reports_dir", default="reports", show_default=True, type=click.Path(path_type=Path),
              help="Game-day reports to read (<dir>/*/summary.json).")
@click.option("--stale-days", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Evidence older than this many days is stale.")
@click.option("--json", "as_json", is_flag=True, help="Print the gameday.coverage/v1 JSON on stdout.")
@click.option("--html", "html_path", default=None, type=click.Path(path_type=Path), metavar="FILE",
              help="Also write the HTML page (with the dependency diagram) here.")
@click.pass_context
def coverage(ctx: click.Context, inventory_name: str | None, reports_dir: Path, stale_days: float, as_json: bool,
             html_path: Path | None) -> None:
    """Component x failure mode: experiment, playbook, last game day, result, RTO/RPO, age of the evidence.

    \b
    Untested and stale cells stand out. Exit 2 when an experiment or playbook names a component or
    failure mode the inventory lacks, or the inventory links a file that does not exist.
    """
    if ctx.invoked_subcommand:
        return
    inv = _load_checked(inventory_name)
    data = matrix.build(inv, claims.scan(inventory.ROOT), reports_dir, stale_days=stale_days)
    if html_path is not None:
        written = page.write(data, html_path)
        console_err.print(f"coverage page: {written}")
    if as_json:
        print_json(data)
        return
    console.print(_table(data))
    console.print(page.headline(data), highlight=False)


@coverage.command("inventory")
@click.option("--sandbox", "from_twin", is_flag=True, help="Generate the sandbox twin's inventory from its topology.")
@click.option("--name", default="default", show_default=True, help="Which twin (with --sandbox).")
@click.option("--net", type=click.IntRange(1, 254), default=None,
              help="The twin's network (127.<net>.x.y); default $GAMEDAY_SANDBOX_NET or 10.")
@click.option("--write", is_flag=True, help="Write platform.yaml (with --sandbox) instead of printing it.")
@click.option("--inventory", "inventory_name", default=None, metavar="FILE", help="Without --sandbox: the file to show.")
def inventory_cmd(from_twin: bool, name: str, net: int | None, write: bool, inventory_name: str | None) -> None:
    """Print (or with --sandbox --write, regenerate) a platform inventory, validated."""
    if not from_twin:
        if write:
            raise UsageError("--write needs --sandbox", hint="only the sandbox's inventory is generated; "
                                                             "edit inventory/*.yaml by hand")
        inv = _load_checked(inventory_name)
        click.echo(inventory.dump(inv.to_dict()), nl=False)
        return
    from ..sandbox.twin import Twin
    found = claims.scan(inventory.ROOT)
    net = net if net is not None else int(os.environ.get("GAMEDAY_SANDBOX_NET", 10))
    data = sandbox_inventory.generate(Twin.create(name, net=net), found)
    consistency.check(inventory.parse(data, inventory.SANDBOX_INVENTORY), found, inventory.ROOT)
    text = sandbox_inventory.render(data)
    if write:
        inventory.SANDBOX_INVENTORY.write_text(text)
        console_err.print(f"wrote {inventory.SANDBOX_INVENTORY}")
    else:
        click.echo(text, nl=False)


@coverage.command("check")
@click.option("--inventory", "inventory_name", default=None, metavar="FILE",
              help="Inventory file or a name in inventory/ (default: platform.yaml).")
def check_cmd(inventory_name: str | None) -> None:
    """Check the inventory against the experiments and playbooks (exit 2 naming each problem)."""
    inv = _load_checked(inventory_name)
    console.print(f"{inv.path}: {len(inv.components)} components, {len(inv.cells())} failure modes, consistent "
                  "with experiments/ and recovery_playbooks/", highlight=False)
