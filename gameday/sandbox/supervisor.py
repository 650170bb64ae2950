"""The sandbox supervisor: keeps the twin's members running, like a kubelet for host processes.

Run as a daemon by ``gameday sandbox up`` (``python -m gameday.sandbox.supervisor --home DIR``). It
reads ``topology.json``, starts each workload once the workloads it comes ``after`` are ready,
restarts members that die with capped exponential back-off (counting restarts), checks readiness,
writes ``run/state.json`` and answers JSON requests on ``run/supervisor.sock``
(see :mod:`gameday.sandbox.client`).

Every member runs in its own session (so a kill takes its whole process group, as a node dies) and
carries ``GAMEDAY_SANDBOX_ID`` in its environment, so :mod:`gameday.sandbox.reaper` can find it even
if this process crashes.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import children
from . import readiness
from .paths import SandboxPaths
from .spec import MemberSpec, Topology, Workload

log = logging.getLogger("gameday.supervisor")

TICK = 0.2
READINESS_INTERVAL = 0.5
HISTORY_LIMIT = 200
SHUTDOWN_EXTRA = 5.0


def _now() -> float:
    return time.time()


def _threshold(spec: MemberSpec) -> int:
    """The member's readiness failure threshold (:func:`gameday.sandbox.readiness.failure_threshold`),
    read once; a bad value is logged and 1 used."""
    try:
        return readiness.failure_threshold(spec.readiness)
    except ValueError as err:
        log.warning("readiness of %s: %s; 1 is used", spec.name, err)
        return 1


class Member:
    """Runtime state of one member; only touched under the supervisor's lock."""

    def __init__(self, spec: MemberSpec, workload: Workload):
        self.spec = spec
        self.workload = workload
        self.proc: subprocess.Popen | None = None
        self.state = "pending"
        self.ready = False
        self.restarts = 0
        self.failures = 0  # consecutive unexpected exits, drives the back-off
        self.started_mono = 0.0
        self.started_at: float | None = None
        self.ready_since: float | None = None
        self.failed_checks = 0  # readiness checks failed in a row, against ready_threshold
        self.ready_threshold = _threshold(spec)
        self.next_start = 0.0
        self.held = False  # stopped on request; not restarted until started again
        self.term_deadline: float | None = None
        self.ever_started = False
        self.succeeded = False
        self.last_exit: dict[str, Any] | None = None
        self.history: collections.deque = collections.deque(maxlen=HISTORY_LIMIT)

    def event(self, kind: str, **fields: Any) -> None:
        self.history.append({"event": kind, "at": _now(), **fields})

    def view(self, paths: SandboxPaths, desired: bool) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "workload": self.workload.name,
            "layer": self.workload.layer,
            "kind": self.workload.kind,
            "index": self.spec.index,
            "labels": {**self.workload.labels, **self.spec.labels},
            "address": self.spec.address,
            "ports": self.spec.ports,
            "pid": self.proc.pid if self.proc else None,
            "state": self.state,
            "desired": desired,
            "ready": self.ready,
            "restarts": self.restarts,
            "started_at": self.started_at,
            "ready_since": self.ready_since,
            "last_exit": self.last_exit,
            "log": str(paths.member_log(self.spec.name)),
            "history": list(self.history),
        }


class Supervisor:
    def __init__(self, paths: SandboxPaths, topology: Topology):
        self.paths = paths
        self.topology = topology
        self.lock = threading.RLock()
        self.replicas = {w.name: w.replicas for w in topology.workloads}
        self.members = [Member(m, w) for w in topology.workloads for m in w.members]
        self.by_name = {m.spec.name: m for m in self.members}
        self.shutting_down = False
        self.shutdown_deadline: float | None = None
        self.done = threading.Event()
        self.started_at = _now()
        self._dirty = True
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ready")

    # ---- desired state -------------------------------------------------------------------------
    def _desired(self, m: Member) -> bool:
        if self.shutting_down or m.held or m.succeeded:
            return False
        return m.spec.index <= self.replicas[m.workload.name]

    def _workload_ready(self, name: str) -> bool:
        members = [m for m in self.members if m.workload.name == name]
        wanted = [m for m in members if m.spec.index <= self.replicas[name] and not m.held]
        return all(m.succeeded if m.workload.kind == "job" else m.ready for m in wanted)

    def _deps_ok(self, m: Member) -> bool:
        return all(self._workload_ready(dep) for dep in m.workload.after)

    # ---- process control -----------------------------------------------------------------------
    def _env(self, spec: MemberSpec) -> dict[str, str]:
        env = dict(os.environ)
        env.update(spec.env)
        for env_file in spec.env_files:
            for line in Path(env_file).read_text().splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip()
        env["GAMEDAY_SANDBOX_ID"] = self.topology.sandbox_id
        env["GAMEDAY_MEMBER"] = spec.name
        return env

    def _spawn(self, m: Member) -> None:
        spec = m.spec
        argv = list(spec.argv)
        if spec.run_as and os.geteuid() == 0:
            argv = ["setpriv", f"--reuid={spec.run_as}", f"--regid={spec.run_as}", "--init-groups", "--"] + argv
        argv = children.niced_argv(argv, spec.cpu_nice)  # before setpriv: lowering a nice needs root
        log_path = self.paths.member_log(spec.name)
        with open(log_path, "ab", buffering=0) as out:
            out.write(f"\n=== gameday: starting {spec.name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode())
            try:
                m.proc = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=spec.cwd, env=self._env(spec), start_new_session=True, close_fds=True,
                )
            except OSError as err:
                out.write(f"=== gameday: could not start {argv[0]}: {err}\n".encode())
                m.proc = None
                self._after_exit(m, {"code": 127, "error": str(err)})
                return
        # its own session: at the supervisor's CPU priority (plus the member's cpu_nice), not a session's default
        children.keep_nice(m.proc.pid, children.relative_nice(spec.cpu_nice))
        if m.ever_started:
            m.restarts += 1
        m.ever_started = True
        m.started_mono = time.monotonic()
        m.started_at = _now()
        m.state = "running"
        m.ready = False
        m.ready_since = None
        m.failed_checks = 0
        m.term_deadline = None
        m.event("started", pid=m.proc.pid, restarts=m.restarts)
        log.info("started %s pid %s", spec.name, m.proc.pid)

    def _signal(self, m: Member, sig: int) -> bool:
        if not m.proc:
            return False
        try:
            os.killpg(m.proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def _terminate(self, m: Member) -> None:
        if m.proc and m.term_deadline is None:
            m.term_deadline = time.monotonic() + m.spec.stop_grace
            m.state = "stopping"
            m.event("stopping", pid=m.proc.pid)
            self._signal(m, signal.SIGTERM)

    def _after_exit(self, m: Member, exit_info: dict[str, Any]) -> None:
        ran_for = time.monotonic() - m.started_mono if m.ever_started else 0.0
        m.last_exit = {**exit_info, "at": _now(), "ran_for": round(ran_for, 3)}
        m.ready = False
        m.ready_since = None
        m.term_deadline = None
        m.event("exited", **exit_info)
        if m.workload.kind == "job" and exit_info.get("code") == 0:
            m.succeeded = True
            m.state = "succeeded"
            return
        if not self._desired(m):
            m.state = "stopped"
            return
        if ran_for >= self.topology.backoff_reset_after:
            m.failures = 0
        delay = min(self.topology.backoff_cap, self.topology.backoff_base * (2 ** m.failures))
        m.failures += 1
        m.next_start = time.monotonic() + delay
        m.state = "backoff"
        m.event("backoff", seconds=delay)
        log.info("%s exited (%s); restarting in %.1fs", m.spec.name, exit_info, delay)

    def _reap(self, m: Member) -> None:
        code = m.proc.poll() if m.proc else None
        if code is None:
            return
        pid = m.proc.pid
        m.proc = None
        info: dict[str, Any] = {"pid": pid, "code": code}
        if code < 0:
            info["signal"] = signal.Signals(-code).name
        self._after_exit(m, info)

    def tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            for m in self.members:
                before = (m.state, m.ready, m.proc.pid if m.proc else None)
                self._reap(m)
                if m.proc and m.term_deadline is not None and now >= m.term_deadline:
                    m.event("kill-after-grace", pid=m.proc.pid)
                    self._signal(m, signal.SIGKILL)
                    m.term_deadline = now + 5.0
                desired = self._desired(m)
                if m.proc and not desired:
                    self._terminate(m)
                elif not m.proc and desired and now >= m.next_start:
                    if m.ever_started or self._deps_ok(m):
                        self._spawn(m)
                elif not m.proc and not desired and m.state in ("pending", "backoff"):
                    m.state = "stopped" if m.ever_started or self.shutting_down else "pending"
                if (m.state, m.ready, m.proc.pid if m.proc else None) != before:
                    self._dirty = True

    # ---- readiness -----------------------------------------------------------------------------
    def check_readiness(self) -> None:
        with self.lock:
            targets = [
                (m, m.proc.pid, time.monotonic() - m.started_mono)
                for m in self.members
                if m.proc and m.workload.kind == "service" and m.term_deadline is None
            ]
        futures = [(m, pid, self._pool.submit(readiness.check, m.spec.readiness, age)) for m, pid, age in targets]
        for m, pid, fut in futures:
            try:
                ok = fut.result(timeout=5)
            except (TimeoutError, OSError, ValueError) as err:
                log.warning("readiness check of %s failed: %s", m.spec.name, err)
                ok = False
            with self.lock:
                if not m.proc or m.proc.pid != pid:
                    continue
                m.failed_checks = 0 if ok else m.failed_checks + 1
                if ok == m.ready or (m.ready and m.failed_checks < m.ready_threshold):
                    continue  # a ready member stays ready until enough checks in a row failed
                m.ready = ok
                m.ready_since = _now() if ok else None
                m.event("ready" if ok else "unready", pid=pid)
                self._dirty = True

    # ---- views and requests --------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "schema": "gameday.sandbox.status/v1",
                "name": self.topology.name,
                "sandbox_id": self.topology.sandbox_id,
                "supervisor": {"pid": os.getpid(), "running": True, "started_at": self.started_at,
                               "shutting_down": self.shutting_down},
                "workloads": [
                    {"name": w.name, "layer": w.layer, "kind": w.kind, "replicas": self.replicas[w.name],
                     "max_replicas": w.max_replicas, "after": w.after}
                    for w in self.topology.workloads
                ],
                "members": [m.view(self.paths, self._desired(m) or m.succeeded) for m in self.members],
            }

    def write_state(self) -> None:
        with self.lock:
            if not self._dirty:
                return
            self._dirty = False
            data = self.view()
        tmp = self.paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.paths.state_file)

    def _member(self, name: str) -> Member:
        if name not in self.by_name:
            raise LookupError(f"no member named {name!r}; members: {', '.join(self.by_name)}")
        return self.by_name[name]

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        with self.lock:
            self._dirty = True
            if op == "status":
                return {"ok": True, "status": self.view()}
            if op == "kill":
                m = self._member(request["member"])
                sig = signal.Signals[f"SIG{request.get('signal', 'KILL').upper().removeprefix('SIG')}"]
                pid = m.proc.pid if m.proc else None
                if not self._signal(m, sig):
                    return {"ok": False, "error": f"{m.spec.name} is not running (state {m.state})"}
                m.event("signalled", signal=sig.name, pid=pid, by=request.get("by", "client"))
                if sig == signal.SIGKILL:  # it is gone now, whatever the next readiness check says
                    m.ready, m.ready_since = False, None
                return {"ok": True, "member": m.spec.name, "pid": pid, "signal": sig.name}
            if op == "stop":
                m = self._member(request["member"])
                m.held = True
                self._terminate(m)
                m.event("held", by=request.get("by", "client"))
                return {"ok": True, "member": m.spec.name}
            if op == "start":
                m = self._member(request["member"])
                m.held = False
                m.succeeded = False
                m.failures = 0
                m.next_start = 0.0
                m.event("released", by=request.get("by", "client"))
                return {"ok": True, "member": m.spec.name}
            if op == "scale":
                name, replicas = request["workload"], int(request["replicas"])
                workload = self.topology.workload(name)
                if not 0 <= replicas <= workload.max_replicas:
                    return {"ok": False, "error": f"{name} can have 0..{workload.max_replicas} replicas, not {replicas}"}
                previous, self.replicas[name] = self.replicas[name], replicas
                return {"ok": True, "workload": name, "replicas": replicas, "previous": previous}
            if op == "shutdown":
                self.begin_shutdown()
                return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def begin_shutdown(self) -> None:
        with self.lock:
            if self.shutting_down:
                return
            self.shutting_down = True
            grace = max((m.spec.stop_grace for m in self.members), default=0)
            self.shutdown_deadline = time.monotonic() + grace + SHUTDOWN_EXTRA
            log.info("shutting down")

    # ---- main loop ----------------------------------------------------------------------------
    def run(self) -> int:
        last_ready = 0.0
        ready_thread: threading.Thread | None = None
        while not self.done.is_set():
            try:
                self.tick()
                now = time.monotonic()
                if (ready_thread is None or not ready_thread.is_alive()) and now - last_ready >= READINESS_INTERVAL:
                    last_ready = now
                    ready_thread = threading.Thread(target=self.check_readiness, daemon=True)
                    ready_thread.start()
                self.write_state()
            except Exception:  # noqa: BLE001 - a supervisor must outlive its own bugs; logged in full
                log.error("supervisor loop error:\n%s", traceback.format_exc())
            if self.shutting_down:
                with self.lock:
                    alive = [m for m in self.members if m.proc]
                    if not alive:
                        self.done.set()
                    elif self.shutdown_deadline is not None and time.monotonic() >= self.shutdown_deadline:
                        for m in alive:
                            self._signal(m, signal.SIGKILL)
                        self.shutdown_deadline = time.monotonic() + SHUTDOWN_EXTRA
            self.done.wait(TICK)
        self._dirty = True
        self.write_state()
        return 0


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(1_000_000)
        try:
            reply = self.server.supervisor.handle(json.loads(line))  # type: ignore[attr-defined]
        except (ValueError, KeyError, LookupError) as err:
            reply = {"ok": False, "error": str(err).strip("'\"")}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    paths = SandboxPaths(name=args.name, home=args.home)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    topology = Topology.load(paths.topology_file)
    sup = Supervisor(paths, topology)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sup.begin_shutdown())
    if paths.socket.exists():
        paths.socket.unlink()
    server = _Server(str(paths.socket), _Handler)
    server.supervisor = sup  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    paths.supervisor_pid_file.write_text(str(os.getpid()))
    log.info("supervisor for sandbox %s up, pid %s", args.name, os.getpid())
    try:
        return sup.run()
    finally:
        server.shutdown()
        server.server_close()
        for path in (paths.socket, paths.supervisor_pid_file):
            path.unlink(missing_ok=True)
        log.info("supervisor stopped")


if __name__ == "__main__":
    sys.exit(main())
