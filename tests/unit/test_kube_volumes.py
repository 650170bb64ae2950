"""The node agent's volumes, images, envFrom and provisioner: pure functions, and a pod whose container
reads its volumes through its own mount namespace (root only, no API server: a fake cluster)."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gameday.deadline import wait_until
from gameday.kube import images, provisioner
from gameday.kube.pods import PodDirs, PodRunner
from gameday.kube.volumes import (PodVolumes, VolumeError, downward_value, project_items, shared_run_as_user,
                                  token_due)

POD_IP = "127.33.101.3"


class FakeCluster:
    def __init__(self):
        self.secrets = {"creds": {"GAMEDAY_DB_PASSWORD": b"s3cret", "bad-name!": b"x"}}
        self.config_maps = {"kube-root-ca.crt": {"ca.crt": b"CA PEM"}, "settings": {"mode": b"fast"}}
        self.tokens: list[tuple] = []

    def secret(self, namespace, name):
        return self.secrets.get(name)

    def config_map(self, namespace, name):
        return self.config_maps.get(name)

    def token(self, namespace, service_account, *, audiences, expiration_s, pod_name, pod_uid):
        self.tokens.append((namespace, service_account, audiences, expiration_s, pod_name, pod_uid))
        return f"token-{len(self.tokens)}", time.time() + expiration_s

    def claim_path(self, namespace, claim):
        raise VolumeError(f"persistentvolumeclaim {claim!r} is not bound yet")


def api_access_volume() -> dict:
    """What the ServiceAccount admission plugin adds to a pod (kube-api-access-*)."""
    return {"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}}]}}


def make_pod(containers: list[dict], volumes: list[dict], security: dict | None = None) -> dict:
    return {"metadata": {"name": "job-abc", "namespace": "gameday", "uid": "uid-7", "labels": {"a": "b"}},
            "spec": {"nodeName": "n1", "restartPolicy": "Never", "serviceAccountName": "gameday",
                     "securityContext": security or {}, "containers": containers, "volumes": volumes},
            "status": {}}


# ---- pure functions ------------------------------------------------------------------------------------

def test_image_repository_names_ignore_registry_tag_and_digest():
    assert images.repository_name("europe-west2-docker.pkg.dev/sps-staging/tools/gameday:0.1.0") == "gameday"
    assert images.repository_name("localhost:5000/gameday@sha256:abc") == "gameday"
    assert images.repository_name("gameday") == "gameday"
    assert images.repository_name("host-process") == "host-process"


def test_masks_cover_the_first_unsearchable_directory_and_keep_the_way_through():
    modes = {"/": (0o755, 0, 0), "/root": (0o700, 0, 0), "/root/.pyenv": (0o755, 0, 0),
             "/root/.pyenv/v": (0o755, 0, 0), "/work": (0o755, 0, 0), "/work/.venv": (0o755, 0, 0),
             "/grp": (0o750, 0, 10001), "/grp/x": (0o755, 0, 0), "/deep": (0o700, 0, 0), "/deep/x": (0o700, 0, 0),
             "/deep/x/y": (0o755, 0, 0)}

    def fake_stat(path):
        mode, uid, gid = modes[path]
        return os.stat_result((stat.S_IFDIR | mode, 0, 0, 0, uid, gid, 0, 0, 0, 0))
    assert images.masks(["/work/.venv", "/root/.pyenv/v"], uid=10001, gids=[10001], stat_fn=fake_stat) == \
        [("/root", ["/root/.pyenv"])]
    assert images.masks(["/grp/x"], uid=10001, gids=[10001], stat_fn=fake_stat) == []  # group may search
    assert images.masks(["/root/.pyenv/v"], uid=0, gids=[0], stat_fn=fake_stat) == []
    with pytest.raises(ValueError, match="/deep/x is not searchable"):
        images.masks(["/deep/x/y"], uid=10001, gids=[10001], stat_fn=fake_stat)


def test_image_map_reaches_the_venv_and_its_interpreter(tmp_path):
    (tmp_path / "prefix" / "bin").mkdir(parents=True)
    (tmp_path / "prefix" / "bin" / "python3.11").touch()
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").symlink_to(tmp_path / "prefix" / "bin" / "python3.11")
    image = images.parse(f"gameday={tmp_path / 'venv' / 'bin'}")
    assert image.name == "gameday" and image.reach == (str(tmp_path / "venv"), str(tmp_path / "prefix"))
    with pytest.raises(ValueError):
        images.parse("gameday=relative/bin")


def test_items_downward_values_and_the_shared_user():
    data = {"a": b"1", "b": b"2"}
    assert project_items(data, None, 0o644, what="x") == {"a": (b"1", 0o644), "b": (b"2", 0o644)}
    assert project_items(data, [{"key": "b", "path": "sub/b.txt", "mode": 0o400}], 0o644, what="x") == \
        {"sub/b.txt": (b"2", 0o400)}
    with pytest.raises(VolumeError, match="no key 'c'"):
        project_items(data, [{"key": "c", "path": "c"}], 0o644, what="x")
    with pytest.raises(VolumeError, match="must be relative"):
        project_items(data, [{"key": "a", "path": "../a"}], 0o644, what="x")
    pod = make_pod([{"name": "c"}], [])
    assert downward_value(pod, "metadata.namespace") == "gameday"
    assert downward_value(pod, "metadata.labels") == 'a="b"'
    assert downward_value(pod, "metadata.labels['a']") == "b"
    assert shared_run_as_user(make_pod([{"name": "c"}], [], {"runAsUser": 10001})) == 10001
    assert shared_run_as_user(make_pod([{"name": "c"}, {"name": "d", "securityContext": {"runAsUser": 5}}], [],
                                       {"runAsUser": 10001})) is None
    assert not token_due(1000.0, 1000.0 + 3600, 1000.0 + 2000) and token_due(1000.0, 1000.0 + 3600, 1000.0 + 2900)
    assert token_due(0.0, 365 * 86400.0, 86400.0)  # a year-long token is renewed daily


def test_the_provisioner_takes_only_its_pending_claims_and_binds_a_local_volume():
    claim = {"metadata": {"name": "gameday-reports", "namespace": "gameday", "uid": "c-1",
                          "annotations": {"volume.kubernetes.io/storage-provisioner": provisioner.PROVISIONER}},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
                      "storageClassName": provisioner.STORAGE_CLASS},
             "status": {"phase": "Pending"}}
    assert provisioner.wants_volume(claim)
    other = {**claim, "metadata": {**claim["metadata"], "annotations": {
        "volume.kubernetes.io/storage-provisioner": "pd.csi.storage.gke.io"}}}
    assert not provisioner.wants_volume(other)
    assert not provisioner.wants_volume({**claim, "spec": {**claim["spec"], "volumeName": "pv-x"}})
    pv = provisioner.volume_for(claim, Path("/data/pv/x"), ["n2", "n1"])
    assert pv["metadata"]["name"] == "pvc-c-1" and pv["spec"]["local"] == {"path": "/data/pv/x"}
    assert pv["spec"]["claimRef"]["uid"] == "c-1" and pv["spec"]["capacity"] == {"storage": "5Gi"}
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["n1", "n2"]
    assert provisioner.storage_class()["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


# ---- volumes on disk -------------------------------------------------------------------------------------

def test_projected_api_access_volume_secret_and_empty_dir_on_disk(tmp_path):
    cluster = FakeCluster()
    pod = make_pod([{"name": "c", "securityContext": {"runAsUser": 10001}}],
                   [api_access_volume(), {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                    {"name": "scratch", "emptyDir": {}}, {"name": "missing", "secret": {"secretName": "nope",
                                                                                        "optional": True}}],
                   {"fsGroup": 10001})
    vols = PodVolumes(pod, root=tmp_path / "v", cluster=cluster)
    vols.setup()
    api = tmp_path / "v" / "projected" / "kube-api-access-x"
    assert (api / "ca.crt").read_bytes() == b"CA PEM" and (api / "namespace").read_text() == "gameday"
    token = api / "token"
    assert token.read_text() == "token-1" and stat.S_IMODE(token.stat().st_mode) == 0o600
    assert cluster.tokens == [("gameday", "gameday", None, 3607, "job-abc", "uid-7")]  # bound to the pod
    if os.geteuid() == 0:
        assert token.stat().st_uid == 10001 and (tmp_path / "v" / "secret" / "creds" / "GAMEDAY_DB_PASSWORD").stat().st_gid == 10001
    assert stat.S_IMODE((tmp_path / "v" / "secret" / "creds" / "GAMEDAY_DB_PASSWORD").stat().st_mode) == 0o440
    scratch = tmp_path / "v" / "empty-dir" / "scratch"
    assert stat.S_IMODE(scratch.stat().st_mode) & 0o777 == 0o777 and scratch.stat().st_mode & stat.S_ISGID
    assert stat.S_IMODE((tmp_path / "v").stat().st_mode) == 0o700  # no host user reaches a pod's secrets
    mounts = vols.mounts({"name": "c", "volumeMounts": [
        {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
        {"name": "scratch", "mountPath": "/scratch", "subPath": "one"}, {"name": "creds", "mountPath": "/c"}]}, {})
    assert [(m.target, m.read_only) for m in mounts] == [("/var/run/secrets/kubernetes.io/serviceaccount", True),
                                                         ("/scratch", False), ("/c", True)]
    assert mounts[1].source == str(scratch / "one") and (scratch / "one").is_dir()
    assert vols.refresh(now=time.time() + 3600) == 1 and token.read_text() == "token-2"
    vols.teardown()
    assert not (tmp_path / "v").exists()


def test_a_missing_secret_or_an_unbound_claim_is_a_volume_error(tmp_path):
    cluster = FakeCluster()
    with pytest.raises(VolumeError, match="secret gameday/nope not found"):
        PodVolumes(make_pod([], [{"name": "s", "secret": {"secretName": "nope"}}]), root=tmp_path / "a",
                   cluster=cluster).setup()
    with pytest.raises(VolumeError, match="not bound"):
        PodVolumes(make_pod([], [{"name": "r", "persistentVolumeClaim": {"claimName": "reports"}}]),
                   root=tmp_path / "b", cluster=cluster).setup()


# ---- a pod through its own mount namespace ---------------------------------------------------------------

def runner_for(pod: dict, tmp_path: Path, cluster: FakeCluster, image_map: dict | None = None) -> PodRunner:
    dirs = PodDirs(tmp_path / "work", tmp_path / "logs", tmp_path / "volumes")
    return PodRunner(pod, ip=POD_IP, host_ip="127.33.90.5", dirs=dirs,
                     base_env={"PATH": "/usr/bin:/bin", "GAMEDAY_KUBE_AGENT": "unit-test",
                               "KUBERNETES_SERVICE_HOST": "127.33.90.2", "KUBERNETES_SERVICE_PORT": "6443"},
                     env_source=lambda kind, ref: None, cluster=cluster, images=image_map)


def finish(runner: PodRunner, timeout: float = 20) -> dict:
    def tick():
        runner.step()
        status = runner.status()
        return status if status["phase"] in ("Succeeded", "Failed") else None
    return wait_until(tick, timeout=timeout, what="the pod to finish", interval=0.1)


@pytest.fixture
def searchable_tmp():
    """A directory the container's user may search (pytest's own tmp root is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="gameday-unit-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
def test_a_container_reads_its_token_and_env_from_as_its_user_in_its_own_mount_namespace(searchable_tmp):
    tmp_path = searchable_tmp
    target = tmp_path / "sa"
    bin_dir = Path(sys.executable).parent
    script = (f'id -u; id -G; cat {target}/token; echo; cat {target}/namespace; echo; echo "$GAMEDAY_DB_PASSWORD";'
              f'echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; command -v python;'
              f'touch {target}/x 2>/dev/null || echo read-only; grep NoNewPrivs /proc/self/status')
    container = {"name": "c", "image": "example.org/tools/gameday:1", "command": ["sh", "-c", script],
                 "envFrom": [{"secretRef": {"name": "creds"}}],
                 "securityContext": {"allowPrivilegeEscalation": False},
                 "volumeMounts": [{"name": "kube-api-access-x", "mountPath": str(target), "readOnly": True}]}
    pod = make_pod([container], [api_access_volume()], {"runAsUser": 10001, "fsGroup": 10001, "runAsNonRoot": True})
    runner = runner_for(pod, tmp_path, FakeCluster(), {"gameday": images.parse(f"gameday={bin_dir}")})
    status = finish(runner)
    log = (tmp_path / "logs" / "c.log").read_text().split("\n")
    assert status["phase"] == "Succeeded", log
    assert log[:9] == ["10001", "10001", "token-1", "gameday", "s3cret", "127.33.90.2:6443",
                       str(bin_dir / "python"), "read-only", "NoNewPrivs:\t1"]
    assert not target.joinpath("token").exists()  # mounted in the container's namespace only
    runner.step()
    assert not (tmp_path / "volumes").exists()  # the finished pod's volumes are gone


def test_run_as_non_root_without_a_user_and_a_missing_env_from_wait_with_a_reason(tmp_path):
    pod = make_pod([{"name": "c", "command": ["true"]}], [], {"runAsNonRoot": True})
    runner = runner_for(pod, tmp_path, FakeCluster())
    runner.step()
    state = runner.status()["containerStatuses"][0]["state"]["waiting"]
    assert state["reason"] == "CreateContainerConfigError" and "runAsNonRoot" in state["message"]
    pod = make_pod([{"name": "c", "command": ["true"], "envFrom": [{"secretRef": {"name": "absent"}}]}], [])
    runner = runner_for(pod, tmp_path / "2", FakeCluster())
    runner.step()
    state = runner.status()["containerStatuses"][0]["state"]["waiting"]
    assert state == {"reason": "CreateContainerConfigError", "message": 'secret "absent" not found'}


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
def test_an_exec_probe_sees_the_containers_volumes(searchable_tmp):
    target = searchable_tmp / "sa"
    container = {"name": "c", "command": ["sleep", "30"],
                 "readinessProbe": {"exec": {"command": ["test", "-s", f"{target}/token"]}, "periodSeconds": 1},
                 "volumeMounts": [{"name": "kube-api-access-x", "mountPath": str(target), "readOnly": True}]}
    pod = make_pod([container], [api_access_volume()])
    pod["spec"]["restartPolicy"] = "Always"
    runner = runner_for(pod, searchable_tmp, FakeCluster())
    try:
        wait_until(lambda: (runner.step(), runner.status()["containerStatuses"][0]["ready"])[1], timeout=20,
                   interval=0.2, what="the exec readiness probe to pass")
    finally:
        runner.terminate(1)
