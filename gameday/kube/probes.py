"""Container probes as the kubelet runs them: httpGet, tcpSocket and exec, with their thresholds.

A :class:`Probe` is fed the container's probe spec (the API's camelCase dict) and asked
``due(now)`` / ``run(...)`` by the pod runner; ``result`` is True (passing), False (failing) or
None (not decided yet)::

    probe = Probe("readiness", spec["readinessProbe"], started=time.monotonic())
    if probe.due(time.monotonic()):
        probe.run(pod_ip, ports_by_name, env)
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import subprocess
from typing import Any

from .. import children

log = logging.getLogger("gameday.kube.probes")


class Probe:
    """One probe of one container instance (a restarted container gets fresh probes)."""

    def __init__(self, kind: str, spec: dict[str, Any], started: float):
        self.kind = kind
        self.spec = spec
        self.period = float(spec.get("periodSeconds") or 10)
        self.timeout = float(spec.get("timeoutSeconds") or 1)
        self.success_threshold = int(spec.get("successThreshold") or 1)
        self.failure_threshold = int(spec.get("failureThreshold") or 3)
        self.next_at = started + float(spec.get("initialDelaySeconds") or 0)
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None
        self.message = ""
        self.enter: list[str] = []  # an exec probe's prefix into the container's mount namespace (nsenter)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def run(self, now: float, host: str, ports: dict[str, int], env: dict[str, str]) -> bool | None:
        """Probe once, update the counters and ``result``; returns ``result``."""
        self.next_at = now + self.period
        ok, self.message = self._attempt(host, ports, env)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold:
                self.result = False
        return self.result

    def _port(self, value: Any, ports: dict[str, int]) -> int:
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
        if value in ports:
            return ports[value]
        raise ValueError(f"the container has no port named {value!r}")

    def _attempt(self, host: str, ports: dict[str, int], env: dict[str, str]) -> tuple[bool, str]:
        try:
            if "httpGet" in self.spec and self.spec["httpGet"]:
                return self._http(self.spec["httpGet"], host, ports)
            if "tcpSocket" in self.spec and self.spec["tcpSocket"]:
                spec = self.spec["tcpSocket"]
                with socket.create_connection((spec.get("host") or host, self._port(spec["port"], ports)),
                                              timeout=self.timeout):
                    return True, ""
            if "exec" in self.spec and self.spec["exec"]:
                return self._exec(self.spec["exec"].get("command") or [], env)
        except (OSError, ValueError, http.client.HTTPException) as err:
            return False, f"{self.kind} probe failed: {err}"
        return False, f"{self.kind} probe: only httpGet, tcpSocket and exec are supported here"

    def _http(self, spec: dict[str, Any], host: str, ports: dict[str, int]) -> tuple[bool, str]:
        target = spec.get("host") or host
        port = self._port(spec["port"], ports)
        if (spec.get("scheme") or "HTTP").upper() == "HTTPS":
            context = ssl._create_unverified_context()  # the kubelet does not verify probe certificates either
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(target, port, timeout=self.timeout,
                                                                           context=context)
        else:
            conn = http.client.HTTPConnection(target, port, timeout=self.timeout)
        headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
        headers.setdefault("User-Agent", "kube-probe/gameday")
        try:
            conn.request("GET", spec.get("path") or "/", headers=headers)
            status = conn.getresponse().status
        finally:
            conn.close()
        if 200 <= status < 400:
            return True, ""
        return False, f"{self.kind} probe failed: HTTP probe failed with statuscode: {status}"

    def _exec(self, command: list[str], env: dict[str, str]) -> tuple[bool, str]:
        if not command:
            return False, f"{self.kind} probe: exec has no command"
        proc = subprocess.Popen([*self.enter, *command], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        children.keep_nice(proc.pid)  # its own session: at the node agent's CPU priority, as its containers
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)
            return False, f"{self.kind} probe: command timed out after {self.timeout:g}s"
        if proc.returncode == 0:
            return True, ""
        out = (stdout + stderr).decode(errors="replace").strip()[-200:]
        return False, f"{self.kind} probe failed: exit {proc.returncode} {out}".strip()
