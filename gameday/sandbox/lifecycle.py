"""Bring a twin up and take it down.

``up`` is idempotent: on a running twin it only waits for readiness. It refuses to start over
foreign processes on the twin's ports, cleans up after a crashed supervisor, and never leaves a
half-started twin behind (on failure it takes everything down again unless ``keep_on_failure``)::

    twin = Twin.create("default")
    status = up(twin.paths, topology.build(twin), prepare=lambda: topology.prepare(twin))
    down(twin.paths)                # down(twin.paths, wipe=True) also removes the twin's /etc/hosts
                                    # block and its context in the user's kubeconfig
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import children
from ..deadline import Deadline, wait_until
from ..errors import DeadlineExceeded, GamedayError, NotRunning, UsageError
from . import reaper
from .client import SandboxClient, supervisor_pid
from .paths import SandboxPaths
from .spec import Topology

CRASH_LOOP_RESTARTS = 3


@dataclass
class UpResult:
    status: dict[str, Any]
    already_running: bool = False
    cleaned_up: list[int] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class DownResult:
    was_running: bool
    stopped_members: list[str]
    leftovers_killed: list[int]
    wiped: bool = False


Progress = Callable[[str, str, dict[str, Any]], None]


def _no_progress(_member: str, _state: str, _view: dict[str, Any]) -> None:
    return None


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def check_ports(topology: Topology) -> None:
    """Raise UsageError naming the first member whose address:port another process holds."""
    for workload in topology.workloads:
        for m in workload.members:
            if not m.address:
                continue
            for label, port in m.ports.items():
                if _port_in_use(m.address, port):
                    raise UsageError(
                        f"{m.address}:{port} ({m.name} {label}) is already in use by another process",
                        hint="stop that process (`ss -ltnp` shows it), or run this twin on another "
                             "network with GAMEDAY_SANDBOX_NET=<n>",
                    )


def _start_supervisor(paths: SandboxPaths, topology: Topology) -> int:
    topology.save(paths.topology_file)
    env = {**os.environ, "GAMEDAY_SANDBOX_ID": topology.sandbox_id}
    with open(paths.supervisor_log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gameday.sandbox.supervisor", "--home", str(paths.home), "--name", paths.name],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
    children.keep_nice(proc.pid)

    def started() -> bool:
        if proc.poll() is not None:
            raise GamedayError(f"the sandbox supervisor exited at start (code {proc.returncode})",
                               log=str(paths.supervisor_log))
        return paths.socket.exists() and supervisor_pid(paths) == proc.pid

    wait_until(started, timeout=20, what="the sandbox supervisor to start")
    return proc.pid


def _desired(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Members to wait for: within their workload's replicas and not held stopped on purpose."""
    replicas = {w["name"]: w["replicas"] for w in status["workloads"]}
    return [m for m in status["members"] if m["index"] <= replicas[m["workload"]] and m.get("desired", True)]


def _settled(m: dict[str, Any]) -> bool:
    return m["state"] == "succeeded" if m["kind"] == "job" else bool(m["ready"])


def wait_until_ready(paths: SandboxPaths, *, timeout: float, progress: Progress = _no_progress) -> dict[str, Any]:
    """Follow the twin until every desired member is ready (jobs: succeeded), reporting changes.

    Fails fast on a member stuck in a crash loop, naming it and its log.
    """
    client = SandboxClient(paths)
    deadline = Deadline(timeout)
    seen: dict[str, str] = {}

    def observe() -> dict[str, Any]:
        status = client.status()
        for m in status["members"]:
            label = "ready" if _settled(m) else m["state"]
            if seen.get(m["name"]) != label and (m["pid"] or m["state"] != "pending" or m["name"] in seen):
                seen[m["name"]] = label
                progress(m["name"], label, m)
        return status

    status = observe()
    # A crash loop is restarts while we wait, not a lifetime count (chaos kills members on purpose).
    baseline = {m["name"]: m["restarts"] for m in status["members"]}
    while not all(_settled(m) for m in _desired(status)):
        for m in _desired(status):
            if m["restarts"] - baseline.get(m["name"], 0) >= CRASH_LOOP_RESTARTS and not _settled(m):
                exit_info = m.get("last_exit") or {}
                raise GamedayError(
                    f"{m['name']} keeps failing to start ({m['restarts']} restarts, last exit "
                    f"{exit_info.get('code', '?')})",
                    log=m["log"], hint=f"read its log (`gameday sandbox logs {m['name']}`)",
                )
        if deadline.expired():
            waiting = [m for m in _desired(status) if not _settled(m)]
            names = ", ".join(f"{m['name']} ({m['state']}, log {m['log']})" for m in waiting)
            raise DeadlineExceeded(f"the twin was not ready after {timeout:.0f}s; still waiting for: {names}")
        time.sleep(min(0.5, deadline.remaining()) or 0.1)
        if not client.running():
            raise GamedayError("the sandbox supervisor stopped while the twin was starting",
                               log=str(paths.supervisor_log))
        status = observe()
    return status


def up(
    paths: SandboxPaths,
    topology: Topology,
    *,
    prepare: Callable[[], None] | None = None,
    timeout: float = 300.0,
    progress: Progress = _no_progress,
    keep_on_failure: bool = False,
) -> UpResult:
    """Start the twin (or find it running) and wait until every member is ready."""
    started = time.monotonic()
    client = SandboxClient(paths)
    if client.running():
        status = wait_until_ready(paths, timeout=timeout, progress=progress)
        return UpResult(status=status, already_running=True, seconds=time.monotonic() - started)
    paths.ensure()
    cleaned = reaper.reap(paths.sandbox_id, grace=10) if reaper.marked_processes(paths.sandbox_id) else []
    check_ports(topology)
    try:
        if prepare:
            prepare()
        _start_supervisor(paths, topology)
        status = wait_until_ready(paths, timeout=timeout, progress=progress)
    except (GamedayError, KeyboardInterrupt):
        if not keep_on_failure:
            down(paths)
        raise
    return UpResult(status=status, cleaned_up=cleaned, seconds=time.monotonic() - started)


def down(paths: SandboxPaths, *, wipe: bool = False, timeout: float = 60.0) -> DownResult:
    """Stop every process of the twin (with or without its supervisor) and verify none is left."""
    client = SandboxClient(paths)
    pid = supervisor_pid(paths)
    stopped: list[str] = []
    if pid is not None:
        try:
            stopped = [m["name"] for m in client.status()["members"] if m["pid"]]
            client.request("shutdown")
        except NotRunning:
            pass  # the supervisor died between our look and our ask (a crash being delivered): reap below
        else:
            deadline = Deadline(timeout)
            while reaper.is_running(pid) and not deadline.expired():
                time.sleep(0.2)
        # Whatever the supervisor did not stop in time, the reaper below stops by force.
    leftovers = reaper.reap(paths.sandbox_id, grace=5)
    remaining = reaper.marked_processes(paths.sandbox_id)
    if remaining:
        raise GamedayError(f"{len(remaining)} processes of sandbox {paths.name!r} survived SIGKILL: {remaining}",
                           hint="they may be stuck in the kernel (state D); check `ps -o pid,stat,cmd -p ...`")
    for stale in (paths.socket, paths.supervisor_pid_file):
        stale.unlink(missing_ok=True)
    if wipe and paths.home.exists():
        from . import log_disk
        log_disk.unmount_all(paths.home)  # a broker's small disk (the disk-full drill) is mounted inside
        shutil.rmtree(paths.home)
    if wipe:  # what prepare put outside the twin's home: its /etc/hosts block, kubeconfig context, WordPress config link
        from ..kube import kubeconfig_merge
        from . import names
        from .members import wordpress
        names.remove_block(paths.name)
        kubeconfig_merge.remove(paths.name)
        wordpress.remove(paths)
    return DownResult(was_running=pid is not None or bool(leftovers), stopped_members=stopped,
                      leftovers_killed=leftovers, wiped=wipe)
