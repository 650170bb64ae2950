"""The sandbox's Kubernetes: etcd, the API server, controller-manager, scheduler and our node agent,
run by the supervisor on their own loopback network (127.30.x.y), nothing else of the twin.

These tests need the control plane built (`gameday sandbox install --kubernetes`, slow when cold;
`make test` does it). They carry the ``kubernetes`` marker; on their own::

    .venv/bin/pytest -m kubernetes tests/integration/test_control_plane.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gameday.deadline import wait_until
from gameday.kube import build as kube_build
from gameday.kube import members as kube
from gameday.sandbox import lifecycle, reaper
from gameday.sandbox.paths import cache_dir
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin
from tests.support.kube_twin import get, kubectl

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[2]
NET = 30
NAME = "kube-test"
NAMESPACE = "kube-test"


@pytest.fixture(scope="module")
def kube_twin():
    for _label, recipe in kube_build.RECIPES:  # no-op once built
        recipe(cache_dir() / "install.log")
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, workloads=kube.workloads(twin, nodes=2),
                        backoff_base=0.5, backoff_cap=5.0)

    def prepare():
        twin.paths.ensure()
        kube.prepare(twin)

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=300)
    yield twin
    lifecycle.down(twin.paths, wipe=True)


def deployment(replicas: int) -> dict:
    container = {
        "name": "web", "image": "host-process",
        "command": [sys.executable, "-m", "http.server"],
        "args": ["--bind", "$(POD_IP)", "8000"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 2, "initialDelaySeconds": 2},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [container], "terminationGracePeriodSeconds": 5,
                                       "topologySpreadConstraints": [{
                                           "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {"matchLabels": {"app": "web"}}}]}}},
    }


def ready_pods(twin: Twin) -> list[dict]:
    items = get(twin, "pods", "-n", NAMESPACE, "-l", "app=web")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]


def pid_of(pod: dict) -> int:
    container_id = pod["status"]["containerStatuses"][0]["containerID"]
    assert container_id.startswith("process://"), container_id
    return int(container_id.removeprefix("process://"))


def test_kubectl_reaches_the_api_server_and_both_nodes_are_ready(kube_twin):
    namespaces = {n["metadata"]["name"] for n in get(kube_twin, "namespaces")["items"]}
    assert {"default", "kube-system", "kube-node-lease"} <= namespaces
    nodes = get(kube_twin, "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [f"{NAME}-node-1", f"{NAME}-node-2"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["spec"]["podCIDR"].startswith(f"127.{NET}.10")
    leases = {lease["metadata"]["name"]: lease for lease in get(kube_twin, "leases", "-n", "kube-node-lease")["items"]}
    assert set(leases) == {f"{NAME}-node-1", f"{NAME}-node-2"}
    first = leases[f"{NAME}-node-1"]["spec"]["renewTime"]
    wait_until(lambda: get(kube_twin, "lease", "-n", "kube-node-lease", f"{NAME}-node-1")["spec"]["renewTime"]
               != first, timeout=30, what="the node agent to renew its lease", interval=1)


def test_deployment_runs_as_processes_and_a_deleted_pod_is_replaced(kube_twin):
    kubectl(kube_twin, "create", "namespace", NAMESPACE)
    wait_until(lambda: kubectl(kube_twin, "get", "serviceaccount", "default", "-n", NAMESPACE,
                               check=False).returncode == 0,
               timeout=60, what="the namespace's default service account", interval=0.5)
    kubectl(kube_twin, "apply", "-f", "-", stdin=json.dumps(deployment(replicas=2)))
    pods = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(ready_pods(kube_twin)),
                      timeout=120, what="two ready web pods", interval=1)

    # Each pod is a real HTTP server on its own loopback address, one per node.
    assert len({p["spec"]["nodeName"] for p in pods}) == 2
    for pod in pods:
        ip = pod["status"]["podIP"]
        assert ip.startswith(f"127.{NET}.10")
        assert requests.get(f"http://{ip}:8000/", timeout=5).status_code == 200
        # The sandbox's reaper finds pod processes like any other member's.
        assert pid_of(pod) in reaper.marked_processes(kube_twin.paths.sandbox_id)

    victim = pods[0]
    old_pid = pid_of(victim)
    kubectl(kube_twin, "delete", "pod", "-n", NAMESPACE, victim["metadata"]["name"], "--wait=false")

    def replaced():
        now = ready_pods(kube_twin)
        names = {p["metadata"]["name"] for p in now}
        return now if len(now) == 2 and victim["metadata"]["name"] not in names else None

    now = wait_until(replaced, timeout=120, what="the ReplicaSet to replace the deleted pod", interval=1)
    wait_until(lambda: not reaper.is_running(old_pid), timeout=30, what="the old pod's process to end")
    gone = kubectl(kube_twin, "get", "pod", "-n", NAMESPACE, victim["metadata"]["name"], check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    fresh = next(p for p in now if p["metadata"]["name"] != pods[1]["metadata"]["name"])
    assert requests.get(f"http://{fresh['status']['podIP']}:8000/", timeout=5).status_code == 200

    # kubectl logs goes API server -> node agent's kubelet port -> the container's log file.
    logs = wait_until(lambda: (lambda out: out if "GET / HTTP" in out else None)(
        kubectl(kube_twin, "logs", "-n", NAMESPACE, fresh["metadata"]["name"], "--tail=5").stdout),
        timeout=30, what="the probes' requests in the pod's log", interval=1)
    assert len(logs.strip().splitlines()) <= 5


def test_a_crashing_pod_counts_restarts_and_shows_its_previous_log(kube_twin):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher", "namespace": "default"},
           "spec": {"restartPolicy": "Always", "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "host-process",
                                    "command": ["sh", "-c", "echo attempt; exit 7"]}]}}
    kubectl(kube_twin, "apply", "-f", "-", stdin=json.dumps(pod))

    def restarted():
        status = get(kube_twin, "pod", "crasher").get("status", {})
        statuses = status.get("containerStatuses") or [{}]
        return statuses[0] if statuses[0].get("restartCount", 0) >= 2 else None

    status = wait_until(restarted, timeout=90, what="two restarts of the crashing container", interval=1)
    assert status["lastState"]["terminated"]["exitCode"] == 7
    previous = kubectl(kube_twin, "logs", "crasher", "--previous")
    assert previous.stdout.strip() == "attempt"
    kubectl(kube_twin, "delete", "pod", "crasher", "--timeout=60s")  # waits until the agent removed it
    assert kubectl(kube_twin, "get", "pod", "crasher", check=False).returncode != 0


def test_statefulset_pods_keep_their_listed_addresses_across_replacement(kube_twin):
    listed = f"127.{NET}.40.1-127.{NET}.40.2"  # like the twin's fixed Kafka addresses
    container = {"name": "kv", "image": "host-process", "command": [sys.executable, "-m", "http.server"],
                 "args": ["--bind", "$(POD_IP)", "9092"],
                 "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                 "readinessProbe": {"tcpSocket": {"port": 9092}, "periodSeconds": 1}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "kv", "namespace": "default"},
           "spec": {"replicas": 2, "serviceName": "kv", "selector": {"matchLabels": {"app": "kv"}},
                    "template": {"metadata": {"labels": {"app": "kv"},
                                              "annotations": {"sandbox.gameday.io/addresses": listed}},
                                 "spec": {"containers": [container], "terminationGracePeriodSeconds": 2}}}}
    kubectl(kube_twin, "apply", "-f", "-", stdin=json.dumps(sts))

    def addresses_by_pod():
        items = get(kube_twin, "pods", "-l", "app=kv")["items"]
        ready = {p["metadata"]["name"]: p["status"].get("podIP") for p in items
                 if not p["metadata"].get("deletionTimestamp")
                 and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])}
        return ready if len(ready) == 2 else None

    first = wait_until(addresses_by_pod, timeout=120, what="both StatefulSet pods ready", interval=1)
    assert first == {"kv-0": f"127.{NET}.40.1", "kv-1": f"127.{NET}.40.2"}
    old_uid = get(kube_twin, "pod", "kv-1")["metadata"]["uid"]
    kubectl(kube_twin, "delete", "pod", "kv-1", "--wait=false")
    again = wait_until(lambda: (lambda a: a if a and get(kube_twin, "pod", "kv-1")["metadata"]["uid"] != old_uid
                                else None)(addresses_by_pod()),
                       timeout=120, what="kv-1 to come back", interval=1)
    assert again == first
    assert requests.get(f"http://127.{NET}.40.2:9092/", timeout=5).status_code == 200


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_deploy_manifests_pass_the_api_servers_validation(kube_twin, overlay):
    """deploy/'s rendered objects, checked by a real kube-apiserver (server-side dry run: schema,
    defaults and admission, nothing created). The namespaces they live in exist first."""
    from gameday.sandbox import install
    install.install_kustomize(cache_dir() / "install.log")  # no-op once built
    rendered = subprocess.run([str(install.kustomize_binary()), "build", f"deploy/overlays/{overlay}"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert rendered.returncode == 0, rendered.stderr
    namespaces = {"gameday", "wordpress", "kafka", "search"}
    for ns in sorted(namespaces):
        if kubectl(kube_twin, "get", "namespace", ns, check=False).returncode != 0:
            kubectl(kube_twin, "create", "namespace", ns)
    out = kubectl(kube_twin, "apply", "--dry-run=server", "-o", "name", "-f", "-", stdin=rendered.stdout)
    applied = out.stdout.split()
    assert any(name.startswith("cronjob.batch/") for name in applied), applied
    assert sum(name.startswith("role.rbac.authorization.k8s.io/") for name in applied) == 4, applied  # + gameday-state
    assert sum(name.startswith("networkpolicy.networking.k8s.io/") for name in applied) == 2, applied
    assert any(name.startswith("deployment.apps/") for name in applied), applied
