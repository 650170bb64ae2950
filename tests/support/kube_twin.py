"""A full twin with Kubernetes (``sandbox up --kubernetes``) for one integration module, and the
sandbox-k8s environment file pointed at it. Used by the test_kube_* modules' fixtures::

    twin = yield from kubernetes_twin("k8s-test", 35, what="web as 3 pods")
    path = environment_for(twin, tmp_path_factory)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import yaml

from gameday.sandbox import lifecycle, topology
from gameday.sandbox.install import install_all
from gameday.sandbox.twin import Twin

ROOT = Path(__file__).resolve().parents[2]


def kubernetes_twin(name: str, net: int, *, what: str, timeout: float = 900) -> Iterator[Twin]:
    """Build (a no-op once built), wipe and bring up twin ``name`` with Kubernetes; yield it; wipe it."""
    install_all(kubernetes=True)
    twin = Twin.create(name, net=net)
    lifecycle.down(twin.paths, wipe=True)
    started = time.monotonic()
    lifecycle.up(twin.paths, topology.build(twin, kubernetes=True),
                 prepare=lambda: topology.prepare(twin, kubernetes=True), timeout=timeout)
    print(f"\n[figure] twin with Kubernetes up ({what}) in {time.monotonic() - started:.1f}s")
    yield twin
    lifecycle.down(twin.paths, wipe=True)


def environment_for(twin: Twin, tmp_path_factory) -> Path:
    """environments/sandbox-k8s.yaml, pointed at ``twin`` (its name and loopback network)."""
    data = yaml.safe_load((ROOT / "environments" / "sandbox-k8s.yaml").read_text())
    env = data["configuration"]["gameday_environment"]
    env_name = f"sandbox-{twin.name}"
    env.update(name=env_name, sandbox=twin.name, net=twin.net)
    path = tmp_path_factory.mktemp("env") / f"{env_name}.yaml"
    path.write_text(yaml.safe_dump(data).replace("127.10.", f"127.{twin.net}."))
    return path
