"""``gameday sandbox``: the local twin of the platform."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from ..deadline import Deadline
from ..errors import UsageError
from ..sandbox import install as installer
from ..sandbox import lifecycle, topology
from ..sandbox.client import SandboxClient
from ..sandbox.shape import WEB_TIERS
from ..sandbox.twin import env_net
from ..sandbox.twin import Twin
from .output import console, console_err, print_json, status_table

STATE_STYLE = {"ready": "green", "running": "cyan", "backoff": "yellow", "stopping": "yellow",
               "stopped": "dim", "pending": "dim", "succeeded": "green"}


@click.group()
@click.option("--name", default="default", envvar="GAMEDAY_SANDBOX", show_default=True,
              help="Which twin (several can run side by side on different networks).")
@click.pass_context
def sandbox(ctx: click.Context, name: str) -> None:
    """The local twin: Kafka x3, OpenSearch x3, MariaDB, web x3 behind HAProxy, indexer, toxiproxy.

    \b
    gameday sandbox install      # once per machine: Debian packages, Kafka, OpenSearch, toxiproxy
    gameday sandbox up           # start (idempotent), shows progress per member
    gameday sandbox status       # table; --json for scripts
    gameday sandbox logs web-1   # a member's log
    gameday sandbox down         # stop everything it started (--wipe also deletes its data)
    gameday sandbox up --regions 2   # a warm standby region (NAME-r2) and a global front (NAME-global)
    gameday sandbox up --web wordpress   # WordPress as the web tier (in progress; kept by the twin)
    """
    ctx.obj = Twin.create(name)  # a started twin on its own network (GAMEDAY_SANDBOX_NET: a new twin's)


@sandbox.command()
@click.option("--kubernetes", is_flag=True,
              help="Also build etcd and the Kubernetes control plane from Go modules (slow when cold).")
def install(kubernetes: bool) -> None:
    """Install what the twin runs (Debian packages, Maven Central jars, go install). Safe to rerun."""
    started = time.monotonic()
    log = installer.install_all(lambda label: console_err.print(f"[cyan]install[/] {label}"),
                                kubernetes=kubernetes)
    console_err.print(f"installed in {time.monotonic() - started:.0f}s (log: {log})")


def _progress(name: str, state: str, view: dict) -> None:
    style = STATE_STYLE.get(state, "white")
    extra = f" pid {view['pid']}" if view.get("pid") and state != "ready" else ""
    if view.get("restarts"):
        extra += f" (restarts {view['restarts']})"
    console_err.print(f"  {name:<14} [{style}]{state}[/]{extra}", highlight=False)


@sandbox.command()
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for every member to be ready.")
@click.option("--keep-on-failure", is_flag=True, help="Leave a twin that failed to start running, to debug it.")
@click.option("--json", "as_json", is_flag=True, help="Print the final status as JSON on stdout.")
@click.option("--kubernetes", is_flag=True,
              help="Also run a Kubernetes control plane and a node agent (build it first: "
                   "`gameday sandbox install --kubernetes`).")
@click.option("--regions", type=click.IntRange(1, 2), default=None,
              help="2: also a warm standby region (NAME-r2, the next network) replicating from this one "
                   "(database replica, MirrorMaker 2) and a global front (NAME-global) before both. "
                   "Default: what the twin was made with (one region).")
@click.option("--web", type=click.Choice(WEB_TIERS), default=None, envvar="GAMEDAY_SANDBOX_WEB",
              help="The web tier: 'python' (the sample site under gunicorn) or 'wordpress' (in progress, issue "
                   "17: WordPress on PHP-FPM + nginx as web-1..3, the Redis object cache cache-1, the WordPress "
                   "bootstrap job, the search index seeded from WordPress, the Java outbox relay relay-1 and its standby "
                   "relay-2; with "
                   "--regions 2 in both regions, the standby without its own install nor a running relay; "
                   "with --kubernetes web and the indexer as pods, the cache and the relay outside "
                   "the cluster). Kept in the twin's state: every later command, `gameday "
                   "run` and the target follow it. Changing it needs the twin down; back to python needs "
                   "`down --wipe`. Default: what the twin was made with (python for a new twin).")
@click.pass_obj
def up(twin: Twin, timeout: float, keep_on_failure: bool, as_json: bool, kubernetes: bool,
       regions: int | None, web: str | None) -> None:
    """Start the twin and wait until every member is ready. Idempotent.

    \b
    With --regions 2 (or on a twin made with it), three twins start, each its own failure domain:
      NAME         region r1, the full twin (active at first)
      NAME-r2      region r2, a warm standby: 1 web, 1 indexer, 1 search node, a database replica of
                   r1's, Kafka x3 fed by MirrorMaker 2 (topics r1.<topic>)
      NAME-global  the global front (HAProxy) that sends readers to the active region
    Drills: gameday playbook region --switchover / --failover (see the README).
    """
    asked = env_net()
    if asked is not None:  # a new twin's network: refused for a twin started on another (its addresses)
        twin.claimed_net(asked, "GAMEDAY_SANDBOX_NET",
                         f"unset GAMEDAY_SANDBOX_NET (the twin keeps its network), or `GAMEDAY_SANDBOX_NET= gameday "
                         f"sandbox --name {twin.name} down --wipe` first to make it again on another")
    installer.check()
    from ..sandbox import regions as region_set
    if regions == 2 or (regions is None and not kubernetes and _in_region_set(twin)):
        if kubernetes:
            raise UsageError("--regions 2 runs sandbox twins only", hint="drop --kubernetes (one region on Kubernetes)")
        pair = region_set.Regions.of(twin)
        for region_twin in pair.regions.values():  # one web tier in both regions (the standby's data is r1's)
            _with_web_tier(region_twin, web)
        _up_regions(pair.reload(), timeout, as_json)
        return
    twin = _with_web_tier(twin, web)
    if kubernetes:
        from ..kube import build as kube_build
        kube_build.check()
    console_err.print(f"sandbox [bold]{twin.name}[/] on 127.{twin.net}.x.y (state: {twin.paths.home})")
    result = lifecycle.up(
        twin.paths, topology.build(twin, kubernetes=kubernetes),
        prepare=lambda: topology.prepare(twin, kubernetes=kubernetes),
        timeout=timeout, progress=_progress, keep_on_failure=keep_on_failure,
    )
    if result.cleaned_up:
        console_err.print(f"cleaned up {len(result.cleaned_up)} processes left by a crashed supervisor")
    verb = "was already up" if result.already_running else f"up in {result.seconds:.0f}s"
    console_err.print(f"[green]sandbox {twin.name} {verb}[/]: site at {twin.lb_url}/")
    if kubernetes:
        from ..kube import build as kube_build
        from ..kube import members as kube
        from ..kube import kubeconfig_merge
        from ..sandbox import names
        context = kubeconfig_merge.context_name(twin.name)
        console_err.print(f"kubernetes at {kube.server_url(twin)}: context [bold]{context}[/] in "
                          f"{kubeconfig_merge.default_path()} (kubectl --context {context} get pods -n gameday; "
                          f"kubectl: {kube_build.binaries()['kubectl']})")
        console_err.print(f"names: *.{names.domain(twin)} in /etc/hosts (gameday sandbox --name {twin.name} hosts); "
                          f"the GKE-shaped rehearsal: gameday run --suite kubernetes --env rehearsal --i-mean-production"
                          + ("" if twin.name == "default" else " (rehearsal.yaml names the default twin)"))
    if as_json:
        print_json(result.status)
    else:
        console.print(status_table(result.status))


def _with_web_tier(twin: Twin, web: str | None) -> Twin:
    """``twin`` with the web tier ``web`` recorded in its shape (``shape.json``: every later command, the
    target and `gameday run` read it); ``twin`` itself when ``web`` is None or already its tier. UsageError
    while the twin runs another tier, or from WordPress back to python over kept data (WordPress's
    content view ``articles`` would stand where the Python site makes its table)."""
    if web is None or web == twin.shape.web:
        return twin
    if SandboxClient(twin.paths).running():
        raise UsageError(f"sandbox {twin.name} is running with the {twin.shape.web} web tier",
                         hint=f"take it down first (`gameday sandbox --name {twin.name} down`), then up --web {web}")
    if twin.shape.wordpress and twin.paths.data.exists() and any(twin.paths.data.iterdir()):
        raise UsageError(f"sandbox {twin.name} keeps WordPress's data: the Python site cannot start over it",
                         hint=f"`gameday sandbox --name {twin.name} down --wipe` first (deletes the twin's data)")
    changed = dataclasses.replace(twin, shape=dataclasses.replace(twin.shape, web=web))
    changed.shape.save(twin.paths)
    console_err.print(f"sandbox {twin.name}: web tier {web} (was {twin.shape.web})")
    return changed


def _in_region_set(twin: Twin) -> bool:
    from ..sandbox import regions as region_set
    try:
        return region_set.Regions.of(twin).configured()
    except UsageError:
        return False  # a region or front of another twin: up on its own


def _up_regions(regions, timeout: float, as_json: bool) -> None:
    from ..sandbox import regions as region_set
    started = time.monotonic()
    result = region_set.up(regions, timeout=timeout, progress=_progress,
                           announce=lambda line: console_err.print(f"[bold]{line}[/]"))
    regions = regions.reload()
    active = regions.twin(result["active"])
    console_err.print(f"[green]regions up in {time.monotonic() - started:.0f}s[/]: active {result['active']} "
                      f"({active.name}); readers at the front {regions.front.lb_url}/")
    statuses = {t.name: SandboxClient(t.paths).status() for t in regions.twins()}
    if as_json:
        print_json({"schema": "gameday.sandbox.regions/v1", **result, "status": statuses})
        return
    for data in statuses.values():
        console.print(status_table(data))


@sandbox.command()
@click.option("--wipe", is_flag=True, help="Also delete the twin's data, configs and logs.")
@click.option("--json", "as_json", is_flag=True, help="Print what was stopped as JSON.")
@click.pass_obj
def down(twin: Twin, wipe: bool, as_json: bool) -> None:
    """Stop every process the twin started, even after a supervisor crash; verify none is left.
    On a twin made with --regions 2, its standby region and global front go down too."""
    if _in_region_set(twin):
        from ..sandbox import regions as region_set
        regions = region_set.Regions.of(twin)
        results = region_set.down(regions, wipe=wipe)
        if as_json:
            print_json({"schema": "gameday.sandbox.down/v1", "twins": {t.name: r.__dict__ for t, r in results}})
            return
        for t, r in results:
            console_err.print(f"sandbox {t.name}: " + (f"stopped ({len(r.stopped_members)} members)"
                              if r.was_running else "was not running") + ("; data wiped" if wipe else ""))
        return
    result = lifecycle.down(twin.paths, wipe=wipe)
    if as_json:
        print_json({"schema": "gameday.sandbox.down/v1", **result.__dict__})
        return
    if not result.was_running:
        console_err.print(f"sandbox {twin.name} is not running: nothing to stop" + (" (data wiped)" if wipe else ""))
        return
    extra = f"; killed {len(result.leftovers_killed)} leftover processes" if result.leftovers_killed else ""
    console_err.print(f"sandbox {twin.name} stopped ({len(result.stopped_members)} members){extra}"
                      + ("; data wiped" if wipe else ""))


@sandbox.command()
@click.option("--write", "action", flag_value="write", help="Put the block into /etc/hosts (as root).")
@click.option("--remove", "action", flag_value="remove", help="Take the block out of /etc/hosts (as root).")
@click.option("--file", "hosts_file", default=str(Path("/etc/hosts")), show_default=True, hidden=True)
@click.pass_obj
def hosts(twin: Twin, action: str | None, hosts_file: str) -> None:
    """The twin's host names (site., search., kafka-N., db., toxiproxy.<twin>.gameday.test) as an
    /etc/hosts block: printed, or with --write / --remove edited in place. `up` writes it too."""
    from ..sandbox import names
    if action is None:
        click.echo(names.block(twin), nl=False)
        return
    path = Path(hosts_file)
    changed = names.write_hosts(twin, path) if action == "write" else names.remove_hosts(twin, path)
    what = "written to" if action == "write" else "removed from"
    console_err.print(f"twin {twin.name}: host names {what} {path}" + ("" if changed else " (already so)"))


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable status (schema gameday.sandbox.status/v1).")
@click.pass_obj
def status(twin: Twin, as_json: bool) -> None:
    """Members, layers, addresses, pids, states, readiness and restarts, then each site cache's hit
    ratio (the object cache's, the CDN's) and the backup schedules. On a twin made with --regions 2:
    every region's twin and the front, and which region is active."""
    if _in_region_set(twin):
        from ..sandbox import regions as region_set
        regions = region_set.Regions.of(twin)
        statuses = {t.name: SandboxClient(t.paths).status() for t in regions.twins()}
        if as_json:
            print_json({"schema": "gameday.sandbox.regions/v1", "active": regions.active(),
                        "regions": {r: t.name for r, t in regions.regions.items()}, "front": regions.front.name,
                        "status": statuses})
            return
        console_err.print(f"regions: active [bold]{regions.active()}[/] "
                          f"({regions.twin(regions.active()).name}); front {regions.front.lb_url}/")
        for data in statuses.values():
            console.print(status_table(data))
        return
    data = SandboxClient(twin.paths).status()
    from ..sandbox import site_caches
    if as_json:
        from ..sandbox.front_door import cdn_status
        caches = {"object_cache": site_caches.status(twin, data), "cdn": cdn_status(twin, data)}
        print_json({**data, **({"site_caches": caches} if any(caches.values()) else {})})
    else:
        console.print(status_table(data))
        for line in site_caches.summary_lines(twin, data):
            console.print(line)
        if any(m["name"] == "db-backup-1" for m in data.get("members", [])):
            from ..sandbox import db_backup_schedule
            console.print(db_backup_schedule.summary(twin))
        if any(m["name"] == "search-snapshot-1" for m in data.get("members", [])):
            from ..sandbox import search_snapshot_schedule
            console.print(search_snapshot_schedule.summary(twin))
        if any(m["name"] == "media-backup-1" for m in data.get("members", [])):
            from ..sandbox import media_backup_schedule
            console.print(media_backup_schedule.summary(twin))


@sandbox.command()
@click.argument("member")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--for", "follow_for", default=3600.0, show_default=True, help="Stop following after this many seconds.")
@click.pass_obj
def logs(twin: Twin, member: str, lines: int, follow: bool, follow_for: float) -> None:
    """Print a member's log (stdout and stderr of every start). MEMBER is e.g. kafka-2 or supervisor."""
    path = twin.paths.supervisor_log if member == "supervisor" else twin.paths.member_log(member)
    if not path.exists():
        known = sorted(p.stem for p in twin.paths.logs.glob("*.log")) if twin.paths.logs.exists() else []
        raise UsageError(f"no log for {member!r} in {twin.paths.logs}",
                         hint=f"members with logs: {', '.join(known) or 'none (is the twin up?)'}")
    _tail(path, lines, follow, follow_for)


def _tail(path: Path, lines: int, follow: bool, follow_for: float) -> None:
    with open(path, "rb") as fh:
        data = fh.read()
        for line in data.splitlines()[-lines:]:
            click.echo(line.decode(errors="replace"))
        deadline = Deadline(follow_for)
        while follow and not deadline.expired():
            chunk = fh.read()
            if chunk:
                click.echo(chunk.decode(errors="replace"), nl=False)
            else:
                time.sleep(0.3)


@sandbox.command()
@click.argument("member")
@click.option("--signal", "sig", default="KILL", show_default=True, help="Signal to send to its process group.")
@click.pass_obj
def kill(twin: Twin, member: str, sig: str) -> None:
    """Kill a member as a node would die; the supervisor restarts it with back-off."""
    reply = SandboxClient(twin.paths).kill(member, sig, by="cli")
    console_err.print(f"sent SIG{reply['signal'].removeprefix('SIG')} to {member} (pid {reply['pid']})")


@sandbox.command()
@click.argument("member")
@click.pass_obj
def stop(twin: Twin, member: str) -> None:
    """Stop a member and keep it stopped until `start`."""
    SandboxClient(twin.paths).stop(member, by="cli")
    console_err.print(f"stopping {member}; it stays down until `gameday sandbox start {member}`")


@sandbox.command()
@click.argument("member")
@click.pass_obj
def start(twin: Twin, member: str) -> None:
    """Start a member that was stopped."""
    SandboxClient(twin.paths).start(member, by="cli")
    console_err.print(f"starting {member}")


@sandbox.command()
@click.argument("workload")
@click.argument("replicas", type=int)
@click.pass_obj
def scale(twin: Twin, workload: str, replicas: int) -> None:
    """Set how many replicas of WORKLOAD (e.g. web) run."""
    reply = SandboxClient(twin.paths).scale(workload, replicas)
    console_err.print(f"{workload}: {reply['previous']} -> {reply['replicas']} replicas")
