"""``gameday load``: the traffic model and the load that measures every game day."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from ..errors import UsageError
from ..load import runner
from ..load.model import DEFAULT_TRAFFIC, TrafficModel, users_for
from ..load.profiles import MAX_DURATION_S, PROFILES, Schedule
from ..sandbox.client import SandboxClient
from ..sandbox.twin import PORTS, Twin
from ..targets.sandbox import twin_publisher_auth
from .output import console, console_err, print_json

PLAN_SCHEMA = "gameday.load.plan/v1"
PROCESSES_PER_CPU = 4  # Locust workers are single-threaded; more than a few per CPU only contend
MAX_PROCESSES = (os.cpu_count() or 1) * PROCESSES_PER_CPU
MAX_WORKERS = 1000  # external workers a master waits for (deploy/'s worker pods)


@click.group()
def load() -> None:
    """Model the SPS audience and drive it at a target with Locust (open model, per-second timeline).

    \b
    gameday load plan                          # 500,000 28-day actives -> peak concurrency -> origin req/s
    gameday load run --profile smoke           # 30 s at 5 req/s against the default sandbox
    gameday load run --profile peak --sandbox load --out reports/peak
    gameday load run --profile peak --through-cdn    # at the front door: the edge's rate, the origin its share
    locust -f loadtests/locustfile.py --host http://127.10.10.1:8080   # Locust's web UI, same journeys

    \b
    Profiles: smoke (a small constant rate), day (a working day compressed into the run),
    peak (the modelled busiest hour), surge (peak x surge factor in the middle third).
    The model's assumptions live in loadtests/traffic.yaml; edit them there.
    """


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.2f}".rstrip("0").rstrip(".")


@load.command()
@click.option("--traffic", type=click.Path(path_type=Path), default=None,
              help=f"Traffic model file [default: {DEFAULT_TRAFFIC.relative_to(DEFAULT_TRAFFIC.parents[1])}].")
@click.option("--json", "as_json", is_flag=True, help=f"Print the plan as JSON (schema {PLAN_SCHEMA}).")
def plan(traffic: Path | None, as_json: bool) -> None:
    """Print the traffic model's maths: actives -> sessions -> concurrency (Little's law) -> origin req/s."""
    model = TrafficModel.load(traffic)
    p = model.plan()
    profiles = {}
    for name, (duration, description) in PROFILES.items():
        sched = Schedule.for_profile(name, p, ramp_s=model.ramp_s)
        profiles[name] = {"description": description, "default_duration_s": duration,
                          "max_rps": round(sched.max_rps(), 3), "mean_rps": round(sched.mean_rps(), 3),
                          "max_users": users_for(sched.max_rps(), p.pacing_s)}
    if as_json:
        print_json({"schema": PLAN_SCHEMA, "traffic": model.source, "inputs": {
            k: v for k, v in model.as_dict().items() if k != "source"}, "derived": p.as_dict(),
            "journey_shares": {k: round(v, 4) for k, v in model.journey_shares().items()}, "profiles": profiles})
        return
    m = model
    table = Table(title=f"traffic model ({m.source})", title_justify="left")
    table.add_column("figure")
    table.add_column("how", style="dim")
    table.add_column("value", justify="right")
    rows = [
        ("28-day actives", "input", m.monthly_active_users),
        ("daily actives", f"x daily/monthly {m.daily_to_monthly_ratio:g}", p.daily_actives),
        ("sessions a day", f"x {m.sessions_per_daily_user:g} sessions per daily user", p.daily_sessions),
        ("session arrivals/s, busiest hour", f"x peak-hour share {m.peak_hour_share:g} / 3600 s",
         p.session_arrivals_per_s),
        ("peak concurrency (people)", f"Little's law: x {p.session_seconds:g} s per session", p.peak_concurrency),
        ("page views/s", f"arrivals x {m.pages_per_session:g} pages per session", p.page_views_per_s),
        ("requests/s at the edge", f"x {m.requests_per_page:g} requests per page", p.edge_rps),
        ("origin requests/s, peak", f"x (1 - CDN hit ratio {m.cdn_hit_ratio:g})", p.peak_origin_rps),
        ("surge concurrency", f"peak x surge factor {m.surge_factor:g}", p.surge_concurrency),
        ("origin requests/s, surge", f"peak x surge factor {m.surge_factor:g}", p.surge_origin_rps),
    ]
    for figure, how, value in rows:
        table.add_row(figure, how, _fmt(value))
    console.print(table)
    prof = Table(title=f"profiles (open model: users = requests/s x pacing {p.pacing_s:g} s)", title_justify="left")
    for col in ("profile", "target req/s (max)", "mean", "Locust users", "default s", "what"):
        prof.add_column(col, justify="left" if col in ("profile", "what") else "right")
    for name, info in profiles.items():
        prof.add_row(name, _fmt(info["max_rps"]), _fmt(info["mean_rps"]), str(info["max_users"]),
                     f"{info['default_duration_s']:.0f}", info["description"])
    console.print(prof)
    shares = ", ".join(f"{k} {v:.0%}" for k, v in m.journey_shares().items())
    console.print(f"journeys (share of origin requests): {shares}")


def _lb(status: dict) -> dict | None:
    """The load balancer's member in a twin's live status (its address is on the twin's own net)."""
    return next((m for m in status.get("members", []) if m.get("layer") == "lb" and m.get("address")), None)


def _sandbox_url(name: str) -> str:
    """The twin's load balancer: from its live status when it runs, else from its name and net."""
    client = SandboxClient(Twin.create(name).paths)
    lb = _lb(client.status()) if client.running() else None
    if lb is not None:
        return f"http://{lb['address']}:{(lb.get('ports') or {}).get('http', PORTS['lb'])}"
    return Twin.create(name).lb_url


def _front_door_url(name: str) -> str:
    """The twin's public front door (its CDN before the load balancer); refused when it runs no CDN."""
    client = SandboxClient(Twin.create(name).paths)
    if not client.running():
        raise UsageError(f"sandbox {name!r} is not running", hint=f"start it: gameday sandbox --name {name} up")
    from ..sandbox import front_door
    status = client.status()
    lb = _lb(status)
    port = ((lb or {}).get("ports") or {}).get("front_door")
    if not front_door.edges(status) or port is None:
        raise UsageError(f"sandbox {name!r} runs no CDN (a Kubernetes twin): no front door to load",
                         hint="drop --through-cdn to load its load balancer")
    return f"http://{lb['address']}:{port}"


def _print_progress(p: dict) -> None:
    target = f"/{p['target_rps']:.1f}" if p.get("target_rps") is not None else ""
    fail = f"[red]{p['failures']}[/]" if p["failures"] else "0"
    console_err.print(f"  {p['elapsed_s']:>4}s  users {p['users'] or 0:>5}  req/s {p['rps']:>6.1f}{target}  "
                      f"failures {fail}  p95 {p['p95_ms']:.0f} ms  generator cpu {p['cpu_percent']}%",
                      highlight=False)


@load.command()
@click.option("--profile", required=True, type=click.Choice(list(PROFILES), case_sensitive=False),
              help="smoke | day | peak | surge (see `gameday load plan`).")
@click.option("--host", default=None, help="Target base URL (loopback only) [default: the sandbox's load balancer].")
@click.option("--sandbox", "sandbox_name", default="default", envvar="GAMEDAY_SANDBOX", show_default=True,
              help="Which twin's load balancer to target when --host is not given.")
@click.option("--through-cdn", is_flag=True,
              help="Load the sandbox's public front door (its CDN before the load balancer, as readers and a game "
                   "day arrive) at the edge's modelled rate, so the origin sees the share the CDN does not answer; "
                   "the summary gives the hit ratio readers got. Not with --host.")
@click.option("--duration", type=float, default=None,  # the range is checked with the profile (runner.prepare)
              help=f"Seconds [default per profile: {', '.join(f'{k} {v[0]:.0f}' for k, v in PROFILES.items())}; "
                   f"cap {MAX_DURATION_S:.0f}].")
@click.option("--processes", type=click.IntRange(0, MAX_PROCESSES), default=0, show_default=True,
              help=f"Local Locust workers (a master plus N worker processes); 0 = one process; "
                   f"at most {MAX_PROCESSES} ({PROCESSES_PER_CPU} per CPU here).")
@click.option("--master", is_flag=True, help="Be a master and wait for external workers (`locust --worker`).")
@click.option("--expect-workers", type=click.IntRange(0, MAX_WORKERS), default=0,
              help=f"With --master: how many workers to wait for (at most {MAX_WORKERS}).")
@click.option("--master-bind", default="127.0.0.1:5557", show_default=True,
              help="With --master: HOST:PORT the workers connect to.")
@click.option("--traffic", type=click.Path(path_type=Path), default=None, help="Traffic model file.")
@click.option("--pacing", type=click.FloatRange(0.5, 120), default=None,
              help="Seconds between two requests of one user, and their timeout [default: traffic.yaml].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Run directory [default: reports/load-<UTC timestamp>].")
@click.option("--json", "as_json", is_flag=True, help=f"Print the summary as JSON (schema {runner.SUMMARY_SCHEMA}).")
def run(profile: str, host: str | None, sandbox_name: str, through_cdn: bool, duration: float | None, processes: int,
        master: bool, expect_workers: int, master_bind: str, traffic: Path | None, pacing: float | None,
        out_dir: Path | None, as_json: bool) -> None:
    """Drive a load profile at a loopback target and record a per-second timeline.

    \b
    Writes to the run directory: timeline.jsonl (per second and endpoint group: requests,
    failures, p50/p95/p99, req/s, wall-clock seconds), Locust's CSVs, JSON and HTML, and
    summary.json (achieved vs target req/s, generator CPU, warnings). Progress every 5 s on stderr.
    Warns when the generator fell behind (< 90% of the target) or its CPU passed 90%.

    \b
    Distributed: --processes N on this machine; or --master --expect-workers N with workers
    started elsewhere:  locust -f loadtests/locustfile.py --worker --master-host HOST
    """
    if through_cdn and host:
        raise UsageError("--through-cdn loads a sandbox's front door; --host names a target of its own",
                         hint="drop --host (and name the twin with --sandbox), or drop --through-cdn")
    bind_host, _, bind_port = master_bind.rpartition(":")
    if not bind_host or not bind_port.isdigit() or not 0 < int(bind_port) < 65536:
        raise UsageError(f"--master-bind {master_bind!r} is not HOST:PORT", hint="e.g. --master-bind 0.0.0.0:5557")
    base = host or (_front_door_url(sandbox_name) if through_cdn else _sandbox_url(sandbox_name))
    opts = runner.RunOptions(profile=profile.lower(), host=base, duration_s=duration, at_edge=through_cdn,
                             processes=processes, master=master, expect_workers=expect_workers,
                             master_bind_host=bind_host, master_bind_port=int(bind_port), traffic=traffic,
                             pacing_s=pacing, out_dir=out_dir,
                             publisher_auth=None if host else twin_publisher_auth(sandbox_name))  # the twin's own site only
    prepared = runner.prepare(opts)
    s = prepared.schedule
    console_err.print(f"load [bold]{s.profile}[/] -> {opts.host}: {s.duration_s:.0f}s, up to {s.max_rps():.1f} req/s "
                      f"({users_for(s.max_rps(), prepared.pacing_s)} users, pacing {prepared.pacing_s:g}s)"
                      + (f", {processes} worker processes" if processes else "")
                      + (f", master waiting for {expect_workers} workers on {master_bind}" if master else "")
                      + f"; writing {prepared.out_dir}/", highlight=False)
    summary = runner.execute(prepared, progress=_print_progress)
    for warning in summary["warnings"]:
        console_err.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if as_json:
        print_json(summary)
        return
    console.print(_result_table(summary))
    console_err.print(f"run directory: {prepared.out_dir}/ (timeline.jsonl, summary.json, locust.html)")


def _result_table(summary: dict) -> Table:
    a = summary["achieved"]
    ratio = f"{a['ratio']:.0%}" if a.get("ratio") is not None else "-"
    table = Table(title=f"{summary['profile']} -> {summary['host']}: sent {a.get('achieved_rps')} of "
                        f"{a.get('target_rps')} req/s target ({ratio})", title_justify="left")
    cdn = any(g.get("cdn_hit_ratio") is not None for g in summary["groups"].values())
    for col in ("group", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                *(["CDN hits"] if cdn else [])):
        table.add_column(col, justify="left" if col == "group" else "right")
    for group, g in summary["groups"].items():
        hits = [] if not cdn else ["-" if g.get("cdn_hit_ratio") is None else f"{g['cdn_hit_ratio']:.0%}"]
        table.add_row(group, str(g["requests"]), str(g["failures"]), f"{g['rps']:.1f}",
                      *(f"{g[k]:.0f}" if g[k] is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                      *hits)
    return table
