"""What a playbook needs from the platform beyond the chaos :class:`~gameday.targets.base.Target`:
members that were stopped on purpose (held) or scaled away, the replica counts the platform is
meant to run, and the controls to bring them back.

``Target.nodes`` lists desired nodes only, so a held member (``gameday sandbox stop``) is invisible
there; a playbook must see exactly those. On Kubernetes the same view comes from Deployments /
StatefulSets (spec vs ready replicas) and the controls are scale, the target's stop/start and pod
delete: :mod:`gameday.recovery.kubernetes_platform`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..sandbox.client import SandboxClient
from ..targets.base import Target


@dataclass(frozen=True)
class Member:
    name: str
    workload: str
    layer: str
    index: int
    state: str  # running | stopped | backoff | pending | stopping | succeeded | gone
    ready: bool
    running: bool
    held: bool  # stopped on purpose: nothing brings it back until started
    wanted: bool  # within the workload's baseline replica count
    up_s: float | None  # seconds since its process started
    restarts: int
    address: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LayerView:
    layer: str
    replicas: dict[str, int]  # workload -> replicas it runs now
    baseline: dict[str, int]  # workload -> replicas it should run
    members: tuple[Member, ...]  # the members the baseline wants, in order

    @property
    def scaled_down(self) -> dict[str, tuple[int, int]]:
        return {w: (self.replicas.get(w, 0), n) for w, n in self.baseline.items() if self.replicas.get(w, 0) < n}

    @property
    def held(self) -> list[Member]:
        return [m for m in self.members if m.held]

    def not_ready(self) -> list[Member]:
        return [m for m in self.members if m.running and not m.ready and not m.held]

    def stuck(self, grace_s: float) -> list[Member]:
        """Running for longer than ``grace_s`` and still not ready."""
        return [m for m in self.not_ready() if m.up_s is not None and m.up_s > grace_s]

    def restarting(self) -> list[Member]:
        """Crashed members the platform is restarting (with back-off) by itself."""
        return [m for m in self.members if not m.running and not m.held and m.index <= self.replicas.get(m.workload, 0)]


class SandboxPlatform:
    """Members of a local twin, through its supervisor."""

    def __init__(self, target: Target):
        self.target = target
        self.env = target.env
        self.client = SandboxClient.for_name(self.env.sandbox)
        self._baseline: dict[str, int] | None = None

    def baseline(self) -> dict[str, int]:
        """Replica counts the twin is built with (its topology), per workload."""
        if self._baseline is None:
            from ..sandbox import topology
            from ..sandbox.twin import Twin
            self._baseline = {w.name: w.replicas for w in topology.build(Twin.create(self.env.sandbox)).workloads}
        return self._baseline

    def view(self, layer: str) -> LayerView:
        status = self.target._status()  # raises NotRunning with a hint when the twin is down
        replicas = {w["name"]: int(w["replicas"]) for w in status["workloads"] if w["layer"] == layer}
        baseline = {w: n for w, n in self.baseline().items() if w in replicas}
        now = time.time()
        members = []
        for m in status["members"]:
            if m["layer"] != layer or m["kind"] == "job" or m["index"] > baseline.get(m["workload"], 0):
                continue
            running = m["pid"] is not None
            # Stopped on purpose (or being stopped): not desired although within the replica count.
            held = not m["desired"] and m["index"] <= replicas.get(m["workload"], 0) and m["state"] != "succeeded"
            members.append(Member(
                name=m["name"], workload=m["workload"], layer=layer, index=m["index"], state=m["state"],
                ready=bool(m["ready"]), running=running, held=held, wanted=True,
                up_s=None if not (running and m.get("started_at")) else now - m["started_at"],
                restarts=int(m["restarts"]), address=m.get("address")))
        return LayerView(layer=layer, replicas=replicas, baseline=baseline, members=tuple(members))

    def endpoints(self, layer: str, port: str) -> list[str]:
        """``host:port`` of every member the baseline wants, running or not. (``Target``'s endpoints
        leave out members stopped on purpose: the database's address vanishes while it is held.)"""
        status = self.target._status()
        baseline = self.baseline()
        return [f"{m['address']}:{m['ports'][port]}" for m in status["members"]
                if m["layer"] == layer and m["address"] and port in m["ports"]
                and m["index"] <= baseline.get(m["workload"], 0)]

    # ---- controls --------------------------------------------------------------------------
    def scale(self, workload: str, replicas: int) -> None:
        self.client.scale(workload, replicas)

    def start(self, member: str) -> None:
        self.client.start(member, by="playbook")

    def stop(self, member: str) -> None:
        self.client.stop(member, by="playbook")

    def replace(self, member: str) -> None:
        """Kill it; the platform starts a fresh one (as deleting a stuck pod does)."""
        self.client.kill(member, "KILL", by="playbook")

    def restart(self, layer: str, timeout: float) -> list[str]:
        """Rolling restart: one running member at a time, gracefully (the target's own)."""
        return self.target.restart(layer, timeout=timeout)



def platform_for(target: Target) -> SandboxPlatform:
    if target.env.kind == "sandbox":
        return SandboxPlatform(target)
    if target.env.kind == "kubernetes":
        from .kubernetes_platform import KubernetesPlatform
        return KubernetesPlatform(target)  # same interface (duck-typed)
    raise UsageError(f"environment {target.name!r}: playbooks cannot act on {target.env.kind!r} targets yet",
                     hint="only the sandbox is implemented; the Kubernetes path is not built")
