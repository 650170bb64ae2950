"""The desired state of the twin, as plain data the supervisor reads from ``topology.json``.

A :class:`Workload` is like a Kubernetes Deployment (``kind="service"``) or Job (``kind="job"``):
``replicas`` of its ``members`` should run; a member that dies is restarted with back-off. Members are
declared up to ``max_replicas`` so that a workload can be scaled without re-rendering anything.

Readiness checks are dicts, so they survive JSON:

- ``{"type": "http", "url": "http://127.10.20.1:8000/readyz"}``: a 2xx answer within a second.
- ``{"type": "https", "url": "https://127.10.90.2:6443/readyz", "ca": "/path/ca.crt"}``: the same over
  TLS, verified against ``ca``.
- ``{"type": "tcp", "host": "127.10.40.1", "port": 9092}``: a TCP connection is accepted.
- ``{"type": "redis", "host": "127.10.66.1", "port": 6379, "env_file": ".../secrets/redis.env"}``: Redis
  answers AUTH (the password in that 0600 file) and PING.
- ``{"type": "alive"}``: the process has been running for ``min_seconds`` (default 2).
- ``{"type": "file", "path": ".../data/db-backup-ready"}``: the process touched that file since it
  started (a scheduled member: its first backup taken or decided, :mod:`gameday.sandbox.schedule`).
- jobs are ready once they exited 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MemberSpec:
    """One process: what to run, where it listens, how to tell it is ready."""

    name: str
    index: int
    address: str | None
    ports: dict[str, int]
    argv: list[str]
    readiness: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    env_files: list[str] = field(default_factory=list)  # KEY=VALUE files holding secrets
    cwd: str | None = None
    run_as: str | None = None  # a system user; the process is started through setpriv
    # app, node-id, ... and zone: zone-a/b/c, or regional (gameday.zones; the zone fault's selector)
    labels: dict[str, str] = field(default_factory=dict)
    stop_grace: float = 10.0
    # CPU priority relative to the twin's (the supervisor's nice): the member's session weighs as a pod's CPU
    # request would on GKE (each step about 1.25x; -5 about 3x a 0 member's share of the cores)
    cpu_nice: int = 0


@dataclass
class Workload:
    name: str
    layer: str
    kind: str  # "service" or "job"
    replicas: int
    members: list[MemberSpec]
    after: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def max_replicas(self) -> int:
        return len(self.members)


@dataclass
class Topology:
    """Everything the supervisor needs, in start order."""

    name: str
    sandbox_id: str
    workloads: list[Workload]
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    backoff_reset_after: float = 60.0

    def workload(self, name: str) -> Workload:
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "Topology":
        raw = json.loads(path.read_text())
        workloads = [
            Workload(**{**w, "members": [MemberSpec(**m) for m in w["members"]]})
            for w in raw.pop("workloads")
        ]
        return cls(workloads=workloads, **raw)
