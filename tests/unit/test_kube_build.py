"""The opt-in Kubernetes build step: what it reports missing, where binaries go, how it builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gameday.errors import ExitCode, NotInstalled
from gameday.kube import build


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GAMEDAY_CACHE", str(tmp_path))
    return tmp_path


def test_an_unbuilt_control_plane_is_named_with_the_command_that_builds_it(empty_cache):
    assert build.missing() == [f"etcd {build.ETCD_VERSION}", f"Kubernetes {build.K8S_VERSION} control plane"]
    with pytest.raises(NotInstalled) as err:
        build.check()
    assert err.value.exit_code == ExitCode.NOT_INSTALLED
    assert "gameday sandbox install --kubernetes" in str(err.value)
    assert build.binaries()["kube-apiserver"] == empty_cache / "kube" / build.K8S_VERSION / "bin" / "kube-apiserver"


def test_builds_use_the_gameday_cache_and_stamp_a_finished_build(empty_cache):
    env = build.go_env()
    assert env["GOMODCACHE"] == str(empty_cache / "go" / "mod")
    assert env["GOCACHE"] == str(empty_cache / "go" / "build")
    assert env["GOTOOLCHAIN"] == "local"
    for bin_dir in (build.etcd_bin_dir(), build.k8s_bin_dir()):
        bin_dir.mkdir(parents=True)
        (bin_dir / ".complete").touch()
    assert build.missing() == []
    build.build_kubernetes(empty_cache / "install.log")  # stamped: nothing to do, nothing logged
    assert not (empty_cache / "install.log").exists()


def test_the_k8s_module_replaces_every_staging_module_with_its_published_version():
    gomod = (build.GOMOD / "k8s" / "go.mod").read_text()
    minor = build.K8S_VERSION.removeprefix("v1.")
    assert re.search(rf"^\s*(require )?k8s\.io/kubernetes {re.escape(build.K8S_VERSION)}\b", gomod, re.M)
    replaces = [line.split() for line in gomod.splitlines() if "=>" in line]
    assert len(replaces) >= 30
    assert all(r[0] == r[2] and r[3] == f"v0.{minor}" for r in replaces)
    assert f"-X k8s.io/component-base/version.gitVersion={build.K8S_VERSION}" in build._k8s_ldflags()
    assert f"go.etcd.io/etcd/server/v3 {build.ETCD_VERSION}" in (build.GOMOD / "etcd" / "go.mod").read_text()
