"""A full twin with Kubernetes (``sandbox up --kubernetes``), the rehearsal environment file pointed at
it, and kubectl against it. Used by tests/integration/kube/conftest.py (one twin for the package)::

    twin = yield from kubernetes_twin("k8s-test", 35, what="web as 3 pods", web=web_tier())
    path = environment_for(twin, tmp_path_factory)
    pods = get(twin, "pods", "-n", "gameday")["items"]
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import yaml

from gameday.kube import build as kube_build
from gameday.kube import members as kube
from gameday.sandbox import lifecycle, topology
from gameday.sandbox.install import install_all
from gameday.sandbox.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
WEB_ENV = "GAMEDAY_SANDBOX_WEB"  # as the session twin's (tests/conftest.py) and `sandbox up --web`


def web_tier() -> str:
    """The web tier ``GAMEDAY_SANDBOX_WEB`` names, or the Kubernetes twin's default (the Python site)
    when it is unset; pytest's UsageError for an unknown one."""
    import pytest

    from gameday.sandbox.shape import WEB_TIERS
    web = os.environ.get(WEB_ENV) or WEB_TIERS[0]
    if web not in WEB_TIERS:
        raise pytest.UsageError(f"{WEB_ENV}={web!r}: expected one of {', '.join(WEB_TIERS)}")
    return web


def kubernetes_twin(name: str, net: int, *, what: str, timeout: float = 900, web: str | None = None) -> Iterator[Twin]:
    """Build (a no-op once built), wipe and bring up twin ``name`` with Kubernetes and the web tier
    ``web`` (default: the shape's default); yield it; wipe it."""
    install_all(kubernetes=True)
    twin = Twin.create(name, net=net)
    lifecycle.down(twin.paths, wipe=True)
    if web is not None and twin.shape.web != web:
        twin = dataclasses.replace(twin, shape=dataclasses.replace(twin.shape, web=web))
        twin.shape.save(twin.paths)
    started = time.monotonic()
    lifecycle.up(twin.paths, topology.build(twin, kubernetes=True),
                 prepare=lambda: topology.prepare(twin, kubernetes=True), timeout=timeout)
    print(f"\n[figure] twin with Kubernetes up ({what}, web tier {twin.shape.web}) in {time.monotonic() - started:.1f}s")
    yield twin
    lifecycle.down(twin.paths, wipe=True)


def environment_for(twin: Twin, tmp_path_factory) -> Path:
    """environments/rehearsal.yaml, pointed at ``twin``: its kubeconfig context ``gameday-<twin>``
    and its host names ``*.<twin>.gameday.test`` (what ``sandbox up --kubernetes`` sets up), its state
    directory in place of the default twin's (the snapshot repository's location). Nothing else
    changes: the file reaches the twin exactly as a GKE environment reaches GKE, production
    consent included; but for a twin whose web tier is WordPress, its content schema
    (``kubernetes.db.content: wordpress``, the file's is the Python site's ``articles-table``) and the
    publisher's credential its publishes need (``credentials.publisher``, the Secret the twin makes)."""
    text = (ROOT / "environments" / "rehearsal.yaml").read_text()
    text = text.replace(".default.gameday.test", f".{twin.name}.gameday.test")
    text = text.replace("/var/lib/gameday/default/", f"{twin.paths.home}/")  # its snapshot repository's location
    data = yaml.safe_load(text)
    env = data["configuration"]["gameday_environment"]
    env["name"] = f"rehearsal-{twin.name}"
    env["kubernetes"]["context"] = f"gameday-{twin.name}"
    if twin.shape.wordpress:
        env["kubernetes"]["db"]["content"] = "wordpress"
        env["credentials"]["publisher"] = {"secret": "gameday/wordpress-publisher", "key": "password",
                                           "username": "publisher"}
    path = tmp_path_factory.mktemp("env") / f"{env['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def kubectl(twin: Twin, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """kubectl with the twin's admin kubeconfig; an AssertionError naming the command when it fails
    (``check=False`` returns the failed process instead)."""
    proc = subprocess.run([str(kube_build.binaries()["kubectl"]), "--kubeconfig", str(kube.kubeconfig_path(twin)),
                           "--request-timeout=20s", *args], input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def get(twin: Twin, *args: str) -> dict:
    """``kubectl get <args> -o json``, parsed."""
    return json.loads(kubectl(twin, "get", *args, "-o", "json").stdout)


def _tail(path: Path, lines: int, *, skip: tuple[str, ...] = ()) -> str:
    if not path.is_file():
        return f"({path} does not exist)"
    kept = [line for line in path.read_text(errors="replace").splitlines() if not any(s in line for s in skip)]
    return "\n".join(kept[-lines:])


def diagnosis(twin: Twin) -> str:
    """What a failed test on the Kubernetes twin needs next to its assertion: every pod's phase,
    readiness and restarts, why each unready one is not ready (conditions, container states), the
    database's own error log and the node agent's last lines. Best effort: a part that cannot be read
    says why instead."""
    parts = []
    listing = kubectl(twin, "get", "pods", "-A", "-o", "wide", check=False)
    parts.append(listing.stdout or listing.stderr)
    try:
        pods = get(twin, "pods", "-A")["items"]
    except (AssertionError, ValueError) as err:
        pods = []
        parts.append(f"(pods not read: {err})")
    for pod in pods:
        status = pod.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        if ready or status.get("phase") == "Succeeded":
            continue
        parts.append(f"pod {pod['metadata']['namespace']}/{pod['metadata']['name']} not ready: "
                     f"conditions={json.dumps(status.get('conditions'))} "
                     f"containers={json.dumps(status.get('containerStatuses'))}")
    parts.append("--- db-1's error log (without per-connection lines):\n"
                 + _tail(twin.paths.data / "db-1" / "mysqld.err", 40, skip=("Aborted connection", "Got an error reading")))
    parts.append("--- node agent:\n" + _tail(twin.paths.member_log("node-agent-1"), 40))
    parts.append(degraded_lines(twin))
    return "\n".join(parts)


def degraded_lines(twin: Twin, lines: int = 15) -> str:
    """Each web pod's last lines saying why it answered degraded (the site logs a database or search
    failure at most once a second per kind, with its reason): what a reader's 503 was."""
    try:
        pods = get(twin, "pods", "-n", "gameday", "-l", "layer=web")["items"]
    except (AssertionError, ValueError, subprocess.TimeoutExpired) as err:
        return f"(web pods not read: {err})"
    parts = []
    for pod in pods:
        name = pod["metadata"]["name"]
        try:
            out = kubectl(twin, "logs", "-n", "gameday", name, check=False)
        except subprocess.TimeoutExpired:
            parts.append(f"--- {name}'s log: kubectl logs timed out")
            continue
        kept = [line for line in out.stdout.splitlines() if "unavailable" in line or "error on" in line]
        parts.append(f"--- {name}'s degraded answers (last {lines}):\n" + "\n".join(kept[-lines:]))
    return "\n".join(parts) or "(no web pod)"
