"""A full twin with Kubernetes (``sandbox up --kubernetes``) for one integration module, and the
rehearsal environment file pointed at it. Used by the test_kube_* modules' fixtures::

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
    """environments/rehearsal.yaml, pointed at ``twin``: its kubeconfig context ``gameday-<twin>``
    and its host names ``*.<twin>.gameday.test`` (what ``sandbox up --kubernetes`` sets up). Nothing
    else changes: the file reaches the twin exactly as a GKE environment reaches GKE, production
    consent included."""
    text = (ROOT / "environments" / "rehearsal.yaml").read_text()
    text = text.replace(".default.gameday.test", f".{twin.name}.gameday.test")
    data = yaml.safe_load(text)
    env = data["configuration"]["gameday_environment"]
    env["name"] = f"rehearsal-{twin.name}"
    env["kubernetes"]["context"] = f"gameday-{twin.name}"
    path = tmp_path_factory.mktemp("env") / f"{env['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
