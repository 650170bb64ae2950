"""HAProxy's backend servers fed from a Service's EndpointSlices, through HAProxy's runtime API.

HAProxy's config lists a fixed set of server slots per backend (``web-1`` .. ``web-6``, see
:mod:`gameday.sandbox.members.lb`). The feeder gives each ready endpoint a slot (``set server
web/web-2 addr 127.10.101.3 port 8000`` then ``state ready``) and puts unused slots in maintenance.
An endpoint keeps its slot while it lasts, so other servers' health and connections are untouched.
HAProxy's own health checks still run against each slot's address. A restarted HAProxy (runtime
state lost) is put right on the next pass, within a second::

    plan(slots, endpoints)            # runtime API commands that make slots match endpoints (pure)
    Feeder(api, "gameday", "web", Runtime(sock), backend="web").run(stop)
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from .endpointslices import SERVICE_NAME
from .watching import API_ERRORS, Trigger, raw

log = logging.getLogger("gameday.kube.haproxy_backends")

RESYNC = 1.0
ADMIN_MAINT = 0x01 | 0x04  # forced maintenance (runtime API) | maintenance from the config ("disabled")


@dataclass(frozen=True)
class Slot:
    """One server line of a backend, as ``show servers state`` reports it."""

    name: str
    address: str
    port: int
    maint: bool
    up: bool


def parse_servers_state(text: str, backend: str) -> list[Slot]:
    """``show servers state <backend>`` -> slots in config order."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = next((line for line in lines if line.startswith("# be_id")), None)
    if header is None:
        raise ValueError(f"unexpected answer to show servers state: {text[:200]!r}")
    names = header.lstrip("# ").split()
    slots = []
    for line in lines:
        if line.startswith("#") or line.strip() == "1":
            continue
        row = dict(zip(names, line.split(), strict=False))
        if row.get("be_name") != backend:
            continue
        slots.append(Slot(name=row["srv_name"], address=row["srv_addr"], port=int(row.get("srv_port", 0)),
                          maint=bool(int(row["srv_admin_state"]) & ADMIN_MAINT),
                          up=row["srv_op_state"] == "2"))
    return slots


def ready_endpoints(slices: list[dict[str, Any]], port_name: str | None = None) -> list[tuple[str, int]]:
    """``(address, port)`` of every ready endpoint of a Service's slices, sorted, without repeats."""
    out = set()
    for s in slices:
        ports = s.get("ports") or []
        port = next((p for p in ports if port_name is None or p.get("name") == port_name), None)
        if port is None or port.get("port") is None:
            continue
        for endpoint in s.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready", True):
                for address in endpoint.get("addresses") or []:
                    out.add((address, int(port["port"])))
    return sorted(out)


def plan(backend: str, slots: list[Slot], endpoints: list[tuple[str, int]]) -> list[str]:
    """Runtime API commands that put every endpoint in a serving slot and every other slot in
    maintenance; an endpoint already in a slot keeps it. Extra endpoints beyond the slots are left
    out (logged by the caller)."""
    commands: list[str] = []
    wanted = set(endpoints)
    placed: set[tuple[str, int]] = set()
    free: list[Slot] = []
    for slot in slots:
        where = (slot.address, slot.port)
        if where in wanted and where not in placed:
            placed.add(where)
            if slot.maint:
                commands.append(f"set server {backend}/{slot.name} state ready")
        else:
            free.append(slot)
    for address, port in (e for e in endpoints if e not in placed):
        if not free:
            break
        slot = free.pop(0)
        commands += [f"set server {backend}/{slot.name} addr {address} port {port}",
                     f"set server {backend}/{slot.name} state ready"]
        placed.add((address, port))
    commands += [f"set server {backend}/{slot.name} state maint" for slot in free if not slot.maint]
    return commands


class Runtime:
    """HAProxy's runtime API on its admin socket (one connection per command batch)."""

    def __init__(self, path: str, timeout: float = 3.0):
        self.path, self.timeout = path, timeout

    def send(self, commands: list[str]) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(("; ".join(commands) + "\n").encode())
            chunks = []
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:  # HAProxy closes the connection after its answer
                data = sock.recv(65536)
                if not data:
                    return b"".join(chunks).decode(errors="replace")
                chunks.append(data)
        raise OSError(f"HAProxy's runtime API at {self.path} did not finish answering within {self.timeout:g}s")

    def slots(self, backend: str) -> list[Slot]:
        return parse_servers_state(self.send([f"show servers state {backend}"]), backend)


class Feeder:
    """Keeps one HAProxy backend in step with one Service's EndpointSlices."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str, runtime: Runtime, *, backend: str):
        self.api, self.namespace, self.service = api, namespace, service
        self.runtime, self.backend = runtime, backend
        self.discovery = client.DiscoveryV1Api(api)
        self.selector = f"{SERVICE_NAME}={service}"
        self._warned = 0

    def endpoints(self) -> list[tuple[str, int]]:
        slices = raw(self.discovery.list_namespaced_endpoint_slice, self.namespace,
                     label_selector=self.selector).get("items") or []
        return ready_endpoints(slices)

    def sync(self) -> list[str]:
        """One pass: the commands sent (none when HAProxy already matches)."""
        endpoints = self.endpoints()
        slots = self.runtime.slots(self.backend)
        if len(endpoints) > len(slots) and self._warned != len(endpoints):
            self._warned = len(endpoints)
            log.warning("%d ready endpoints of %s but only %d server slots in backend %s: %d left out",
                        len(endpoints), self.service, len(slots), self.backend, len(endpoints) - len(slots))
        commands = plan(self.backend, slots, endpoints)
        if commands:
            answer = self.runtime.send(commands).strip()
            log.info("backend %s -> %s: %s%s", self.backend,
                     ", ".join(f"{a}:{p}" for a, p in endpoints) or "no endpoints", "; ".join(commands),
                     f" (haproxy: {answer})" if answer else "")
        return commands

    def run(self, stop: threading.Event) -> None:
        trigger = Trigger(stop)
        trigger.watch(self.discovery.list_namespaced_endpoint_slice, self.namespace, label_selector=self.selector)
        while not stop.is_set():
            try:
                self.sync()
            except API_ERRORS as err:  # HAProxy restarting, API server away: next pass
                log.warning("syncing backend %s failed (%s: %s)", self.backend, type(err).__name__, err)
            trigger.wait(RESYNC)
