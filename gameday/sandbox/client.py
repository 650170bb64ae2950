"""The machine-readable view of a running twin, and its controls.

Chaos actions, probes and playbooks use this::

    twin = SandboxClient.for_name("default")
    twin.status()["members"]            # name, layer, labels, address, pid, state, ready, restarts, history
    twin.members(layer="kafka")         # filtered views
    twin.kill("kafka-2")                # SIGKILL its process group, as a node would die
    twin.stop("web-1"); twin.start("web-1")
    twin.scale("web", 2)
    twin.wait_ready("kafka-2", timeout=60)

When the supervisor is not running, :meth:`status` falls back to the last state it wrote, marked
``supervisor.running = false``; every control raises :class:`NotRunning`.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import psutil

from ..deadline import wait_until
from ..errors import NotRunning, UsageError
from .paths import SandboxPaths

REQUEST_TIMEOUT = 10.0


def supervisor_pid(paths: SandboxPaths) -> int | None:
    """The live supervisor's PID, or None when it is not running."""
    try:
        pid = int(paths.supervisor_pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        process = psutil.Process(pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return None  # killed, not yet reaped by its parent
        cmdline = process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    return pid if "gameday.sandbox.supervisor" in cmdline else None


class SandboxClient:
    def __init__(self, paths: SandboxPaths):
        self.paths = paths

    @classmethod
    def for_name(cls, name: str = "default") -> "SandboxClient":
        return cls(SandboxPaths.for_name(name))

    # ---- transport ---------------------------------------------------------------------------
    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        if supervisor_pid(self.paths) is None:
            raise NotRunning(
                f"sandbox {self.paths.name!r} is not running",
                hint="start it with `gameday sandbox up`",
            )
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(REQUEST_TIMEOUT)
            try:
                sock.connect(str(self.paths.socket))
                sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError as err:
                raise NotRunning(
                    f"could not reach the supervisor of sandbox {self.paths.name!r}: {err}",
                    log=str(self.paths.supervisor_log),
                ) from err
        reply = json.loads(data)
        if not reply.get("ok"):
            raise UsageError(reply.get("error", "request refused"))
        return reply

    # ---- views -------------------------------------------------------------------------------
    def running(self) -> bool:
        return supervisor_pid(self.paths) is not None

    def status(self) -> dict[str, Any]:
        """The live view; the last written one (``supervisor.running=false``) when it is down."""
        live = self._live_status() if self.running() else None
        if live is not None:
            return live
        try:
            state = json.loads(self.paths.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {"schema": "gameday.sandbox.status/v1", "name": self.paths.name,
                    "supervisor": {"pid": None, "running": False}, "workloads": [], "members": []}
        state["supervisor"] = {**state.get("supervisor", {}), "running": False, "pid": None}
        for member in state.get("members", []):
            if member.get("pid") and not _alive(member["pid"]):
                member.update(pid=None, ready=False, state="gone")
        return state

    def _live_status(self) -> dict[str, Any] | None:
        """The supervisor's answer, or None if it stopped between the check and the request."""
        try:
            return self.request("status")["status"]
        except NotRunning:
            return None

    def members(self, *, layer: str | None = None, workload: str | None = None,
                **labels: str) -> list[dict[str, Any]]:
        """Members filtered by layer, workload and label values (``node_id="2"`` matches ``node-id``)."""
        found = []
        for m in self.status()["members"]:
            if layer and m["layer"] != layer:
                continue
            if workload and m["workload"] != workload:
                continue
            if any(m["labels"].get(k.replace("_", "-")) != str(v) for k, v in labels.items()):
                continue
            found.append(m)
        return found

    def member(self, name: str) -> dict[str, Any]:
        for m in self.status()["members"]:
            if m["name"] == name:
                return m
        raise UsageError(f"sandbox {self.paths.name!r} has no member {name!r}",
                         hint="`gameday sandbox status` lists them")

    # ---- controls ----------------------------------------------------------------------------
    def kill(self, member: str, signal: str = "KILL", by: str = "client") -> dict[str, Any]:
        return self.request("kill", member=member, signal=signal, by=by)

    def stop(self, member: str, by: str = "client") -> dict[str, Any]:
        return self.request("stop", member=member, by=by)

    def start(self, member: str, by: str = "client") -> dict[str, Any]:
        return self.request("start", member=member, by=by)

    def scale(self, workload: str, replicas: int) -> dict[str, Any]:
        return self.request("scale", workload=workload, replicas=replicas)

    def wait_ready(self, member: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Block until ``member`` is ready (and return its view) or raise DeadlineExceeded."""
        def ready() -> dict[str, Any] | None:
            m = self.member(member)
            return m if m["ready"] else None
        return wait_until(ready, timeout=timeout, what=f"{member} to become ready",
                          hint=f"see its log: {self.paths.member_log(member)}")

    def wait_stopped(self, member: str, *, timeout: float = 30.0) -> dict[str, Any]:
        def stopped() -> dict[str, Any] | None:
            m = self.member(member)
            return m if m["pid"] is None else None
        return wait_until(stopped, timeout=timeout, what=f"{member} to stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["SandboxClient", "supervisor_pid"]
