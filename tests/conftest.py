"""Shared fixtures. Integration fixtures start real servers; nothing here is mocked."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.spec import MemberSpec, Topology, Workload


def http_member(name: str, index: int, address: str, port: int = 8000, **extra) -> MemberSpec:
    """A tiny real HTTP server as a member, for supervisor tests."""
    return MemberSpec(
        name=name, index=index, address=address, ports={"http": port},
        argv=[sys.executable, "-m", "http.server", "--bind", address, str(port)],
        readiness={"type": "http", "url": f"http://{address}:{port}/"},
        stop_grace=3.0, **extra,
    )


def small_topology(paths: SandboxPaths, net: int, replicas: int = 2) -> Topology:
    """Two workloads of real HTTP servers: `svc` (replicas) and `front` (after svc)."""
    svc = Workload(name="svc", layer="web", kind="service", replicas=replicas,
                   members=[http_member(f"svc-{i}", i, f"127.{net}.20.{i}") for i in range(1, 4)],
                   labels={"layer": "web"})
    front = Workload(name="front", layer="lb", kind="service", replicas=1, after=["svc"],
                     members=[http_member("front-1", 1, f"127.{net}.10.1")], labels={"layer": "lb"})
    return Topology(name=paths.name, sandbox_id=paths.sandbox_id, workloads=[svc, front],
                    backoff_base=0.5, backoff_cap=2.0)


@pytest.fixture
def small_paths(tmp_path: Path) -> SandboxPaths:
    paths = SandboxPaths(name=f"small-{os.getpid()}", home=tmp_path / "twin")
    yield paths
    from gameday.sandbox import lifecycle
    lifecycle.down(paths)


TEST_NET = 20  # the full twin under test: 127.20.x.y, away from a developer's default twin (127.10.x.y)


@pytest.fixture(scope="session")
def twin():
    """The real twin, brought up once per test session (clean data) and taken down at the end."""
    from gameday.sandbox import lifecycle, topology
    from gameday.sandbox.install import install_all
    from gameday.sandbox.twin import Twin

    install_all()  # no-op when installed; makes a bare `pytest` work on a fresh machine too
    t = Twin.create("test", net=TEST_NET)
    lifecycle.down(t.paths, wipe=True)
    lifecycle.up(t.paths, topology.build(t), prepare=lambda: topology.prepare(t), timeout=300)
    yield t
    lifecycle.down(t.paths, wipe=True)


@pytest.fixture(scope="session")
def twin_client(twin):
    from gameday.sandbox.client import SandboxClient
    return SandboxClient(twin.paths)
