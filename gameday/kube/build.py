"""Build the Kubernetes control plane from Go modules into the shared cache (opt-in install step).

``gameday sandbox install --kubernetes`` runs :data:`RECIPES` after the twin's own recipes:

- etcd from ``gomod/etcd`` (a wrapper whose main calls ``etcdmain.Main``) into
  ``$CACHE/kube/etcd-<ETCD_VERSION>/bin/etcd``;
- kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from ``gomod/k8s`` (a module that
  requires ``k8s.io/kubernetes`` and replaces each staging module with its published ``v0.Y.Z``) into
  ``$CACHE/kube/<K8S_VERSION>/bin``.

Go's module and build caches live under ``$CACHE/go`` so a rebuild (or another clone) is warm. Builds
run under ``nice -n 15``; a stamp file marks a finished build so a second install does nothing::

    binaries()["kube-apiserver"]   # Path to the cached binary
    missing()                      # [] once built
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from ..errors import NotInstalled
from ..sandbox.paths import cache_dir

K8S_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
GO_MIN = (1, 26)
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
GOMOD = Path(__file__).with_name("gomod")
BUILD_TIMEOUT = 3600  # a cold Kubernetes build on two busy cores takes tens of minutes


def k8s_bin_dir() -> Path:
    return cache_dir() / "kube" / K8S_VERSION / "bin"


def etcd_bin_dir() -> Path:
    return cache_dir() / "kube" / f"etcd-{ETCD_VERSION}" / "bin"


def binaries() -> dict[str, Path]:
    """Every control-plane binary by name, where the build puts it (it may not exist yet)."""
    out = {name: k8s_bin_dir() / name for name in K8S_COMMANDS}
    out["etcd"] = etcd_bin_dir() / "etcd"
    return out


def _stamp(bin_dir: Path) -> Path:
    return bin_dir / ".complete"


def missing() -> list[str]:
    """What `gameday sandbox install --kubernetes` would still build (empty when all is built)."""
    gaps = []
    if not _stamp(etcd_bin_dir()).exists():
        gaps.append(f"etcd {ETCD_VERSION}")
    if not _stamp(k8s_bin_dir()).exists():
        gaps.append(f"Kubernetes {K8S_VERSION} control plane")
    return gaps


def check() -> None:
    """Raise NotInstalled naming what is missing and the command that builds it."""
    gaps = missing()
    if gaps:
        raise NotInstalled("not built: " + "; ".join(gaps), hint="run `gameday sandbox install --kubernetes`")


def go_env() -> dict[str, str]:
    """The environment every build runs with: caches under the gameday cache, no toolchain switch."""
    root = cache_dir() / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(root / "mod"),
        "GOCACHE": str(root / "build"),
        "GOFLAGS": "-mod=readonly -buildvcs=false",
        "GOTOOLCHAIN": "local",
    }


def _go_version() -> tuple[int, int]:
    go = shutil.which("go")
    if not go:
        raise NotInstalled("go is not installed", hint="install Go 1.26 or newer (`gameday sandbox install` "
                                                       "installs Debian's golang-go where it is missing)")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    if not match:
        raise NotInstalled(f"cannot tell the Go version from {out.strip()!r}", hint="check `go env GOVERSION`")
    return int(match.group(1)), int(match.group(2))


def _go_build(module: Path, out_dir: Path, packages: list[str], ldflags: str, what: str, log: Path) -> None:
    version = _go_version()
    if version < GO_MIN:
        raise NotInstalled(f"{what}: needs Go {GO_MIN[0]}.{GO_MIN[1]}+, found {version[0]}.{version[1]}",
                           hint="install a newer Go (the module proxy serves toolchains: GOTOOLCHAIN=go1.26.8)")
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    argv = ["nice", "-n", "15", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", f"{staging}/", *packages]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ (cd {module} && {' '.join(argv)})\n".encode())
        out.flush()
        try:
            proc = subprocess.run(argv, cwd=module, env=go_env(), stdout=out, stderr=subprocess.STDOUT,
                                  timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired as err:
            raise NotInstalled(f"{what}: gave up after {BUILD_TIMEOUT // 60} minutes", log=str(log),
                               hint="rerun when the machine is less busy; finished packages stay cached") from err
    if proc.returncode != 0:
        raise NotInstalled(f"{what} failed (exit {proc.returncode})", log=str(log),
                           hint="read the end of the log; re-running is safe")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    _stamp(out_dir).touch()


def build_etcd(log: Path) -> None:
    """etcd from our wrapper module (go.etcd.io/etcd/server/v3 ETCD_VERSION)."""
    if _stamp(etcd_bin_dir()).exists():
        return
    # The module is gameday.local/kube/etcd, so the binary is named etcd.
    _go_build(GOMOD / "etcd", etcd_bin_dir(), ["."], "-s -w", f"etcd {ETCD_VERSION} build", log)


def _k8s_ldflags() -> str:
    major, minor, _patch = K8S_VERSION.lstrip("v").split(".")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={K8S_VERSION}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return " ".join(flags)


def build_kubernetes(log: Path) -> None:
    """kube-apiserver, kube-controller-manager, kube-scheduler and kubectl in one `go build`."""
    if _stamp(k8s_bin_dir()).exists():
        return
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in K8S_COMMANDS]
    _go_build(GOMOD / "k8s", k8s_bin_dir(), packages, _k8s_ldflags(), f"Kubernetes {K8S_VERSION} build", log)


RECIPES: list[tuple[str, Callable[[Path], None]]] = [
    (f"etcd {ETCD_VERSION} (go build from go.etcd.io/etcd/server/v3)", build_etcd),
    (f"Kubernetes {K8S_VERSION} control plane and kubectl (go build from k8s.io/kubernetes; "
     "a cold build takes tens of minutes)", build_kubernetes),
]
