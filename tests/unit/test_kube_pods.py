"""The node agent's pod runner against real host processes (no API server needed)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from gameday.deadline import wait_until
from gameday.kube import pods
from gameday.kube import addresses
from gameday.kube.pods import PodDirs, PodRunner, expand

POD_IP = "127.33.101.2"  # a loopback address of its own (net 33 is used by no twin)


def make_pod(containers: list[dict], restart_policy: str = "Always", grace: int = 5) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
        "spec": {"nodeName": "n1", "restartPolicy": restart_policy, "terminationGracePeriodSeconds": grace,
                 "containers": containers},
        "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]},
    }


def runner_for(pod: dict, tmp_path: Path) -> PodRunner:
    return PodRunner(pod, ip=POD_IP, host_ip="127.33.90.5", dirs=PodDirs(tmp_path / "work", tmp_path / "logs"),
                     base_env={"PATH": os.environ["PATH"], "GAMEDAY_KUBE_AGENT": "unit-test"},
                     env_source=lambda kind, ref: {"cm": "from-configmap"}.get(ref["name"]))


def drive(runner: PodRunner, until, timeout: float = 20, what: str = "the pod"):
    def tick():
        runner.step()
        status = runner.status()
        return status if until(status) else None
    return wait_until(tick, timeout=timeout, what=what, interval=0.1)


def group_alive(pgid: int) -> bool:
    """True while a process of that group is alive (zombies waiting for their reaper count as gone)."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(pods, "BACKOFF_BASE", 0.2)
    monkeypatch.setattr(pods, "BACKOFF_CAP", 0.5)


def test_expand_follows_kubernetes_rules():
    env = {"POD_IP": "127.0.0.5", "PORT": "80"}
    assert expand("--bind=$(POD_IP):$(PORT)", env) == "--bind=127.0.0.5:80"
    assert expand("$$(POD_IP) $(MISSING)", env) == "$(POD_IP) $(MISSING)"


def test_address_book_prefers_a_known_address_and_reuses_released_ones():
    book, hosts = addresses.AddressBook(), addresses.cidr_hosts("127.33.101.0/24")
    assert book.claim(hosts) == "127.33.101.2"
    assert book.claim(hosts, preferred="127.33.101.9") == "127.33.101.9"
    assert book.claim(hosts, preferred="127.33.101.9") == "127.33.101.3"  # taken: the lowest free one instead
    book.release("127.33.101.2")
    assert book.claim(hosts) == "127.33.101.2"
    assert book.claim(["127.33.101.3"]) is None


def test_pods_can_ask_for_the_sandbox_fixed_addresses():
    pod = make_pod([])
    pod["metadata"]["annotations"] = {addresses.ANNOTATION: "127.33.20.1-127.33.20.3, 127.33.20.9"}
    assert addresses.candidates(pod, ["127.33.101.2"]) == ["127.33.20.1", "127.33.20.2", "127.33.20.3",
                                                          "127.33.20.9"]
    pod["metadata"]["labels"][addresses.POD_INDEX_LABEL] = "1"  # a StatefulSet's second pod
    assert addresses.candidates(pod, ["127.33.101.2"]) == ["127.33.20.2"]
    pod["metadata"]["labels"][addresses.POD_INDEX_LABEL] = "4"
    with pytest.raises(ValueError, match="none for pod index 4"):
        addresses.candidates(pod, [])
    for bad in ("10.0.0.1", "127.33.20.9-127.33.20.1", "not-an-ip"):
        with pytest.raises(ValueError, match=addresses.ANNOTATION):
            addresses.parse(bad)


def test_init_containers_run_in_order_before_the_app(tmp_path):
    marker = tmp_path / "order"
    init = [{"name": f"init-{i}", "command": ["sh", "-c", f"echo init-{i} >> {marker}"]} for i in (1, 2)]
    app = {"name": "app", "command": ["sh", "-c", f"echo app >> {marker}; sleep 60"]}
    pod = make_pod([app])
    pod["spec"]["initContainers"] = init
    runner = runner_for(pod, tmp_path)
    try:
        first = runner.status()
        assert first["phase"] == "Pending"
        assert first["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
        status = drive(runner, lambda s: "running" in s["containerStatuses"][0]["state"], what="the app to run")
        assert {c["type"]: c["status"] for c in status["conditions"]}["Initialized"] == "True"
        assert [s["state"]["terminated"]["exitCode"] for s in status["initContainerStatuses"]] == [0, 0]
        wait_until(lambda: marker.exists() and marker.read_text().split() == ["init-1", "init-2", "app"],
                   timeout=10, what="the app's line after both init lines")
    finally:
        runner.terminate(grace=1)


def test_a_failing_init_container_fails_a_never_restarting_pod(tmp_path):
    pod = make_pod([{"name": "app", "command": ["sleep", "60"]}], restart_policy="Never")
    pod["spec"]["initContainers"] = [{"name": "init", "command": ["false"]}]
    runner = runner_for(pod, tmp_path)
    status = drive(runner, lambda s: s["phase"] == "Failed", what="the pod to fail")
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert runner.containers[0].proc is None


def test_http_server_becomes_ready_with_env_from_downward_api_and_configmap(tmp_path):
    container = {
        "name": "web", "image": "python",
        "command": [sys.executable, "-c"],
        "args": ["import os, http.server, socketserver\n"
                 "print('value', os.environ['FROM_CM'], os.environ['POD_NAME'], flush=True)\n"
                 "http.server.ThreadingHTTPServer((os.environ['POD_IP'], 8080),"
                 " http.server.SimpleHTTPRequestHandler).serve_forever()"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    runner = runner_for(make_pod([container]), tmp_path)
    try:
        status = drive(runner, lambda s: s["containerStatuses"][0]["ready"], what="the web container to be ready")
        assert status["phase"] == "Running" and status["podIP"] == POD_IP
        ready = {c["type"]: c["status"] for c in status["conditions"]}
        assert ready["Ready"] == "True" and ready["ContainersReady"] == "True" and ready["PodScheduled"] == "True"
        assert "running" in status["containerStatuses"][0]["state"]
        log_text = (tmp_path / "logs" / "web.log").read_text()
        assert "value from-configmap p" in log_text
    finally:
        runner.terminate(grace=2)
    assert runner.containers[0].proc is None


def test_crashing_container_is_restarted_with_counted_restarts_and_previous_log(tmp_path):
    container = {"name": "crash", "command": ["sh", "-c", "echo run; exit 3"]}
    runner = runner_for(make_pod([container]), tmp_path)
    try:
        status = drive(runner, lambda s: s["containerStatuses"][0]["restartCount"] >= 2, what="two restarts")
        last = status["containerStatuses"][0]["lastState"]["terminated"]
        assert last["exitCode"] == 3 and last["reason"] == "Error"
        assert (tmp_path / "logs" / "crash.previous.log").read_text().strip() == "run"
    finally:
        runner.terminate(grace=1)


def test_restart_policy_never_and_on_failure_end_the_pod(tmp_path):
    ok = runner_for(make_pod([{"name": "job", "command": ["true"]}], restart_policy="OnFailure"), tmp_path / "a")
    status = drive(ok, lambda s: s["phase"] != "Running" and s["phase"] != "Pending", what="the job to end")
    assert status["phase"] == "Succeeded"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    bad = runner_for(make_pod([{"name": "job", "command": ["false"]}], restart_policy="Never"), tmp_path / "b")
    status = drive(bad, lambda s: s["phase"] == "Failed", what="the failing job to end")
    assert status["containerStatuses"][0]["restartCount"] == 0


def test_failing_exec_liveness_probe_restarts_the_container(tmp_path):
    container = {"name": "sleepy", "command": ["sleep", "60"],
                 "livenessProbe": {"exec": {"command": ["test", "-e", str(tmp_path / "healthy")]},
                                   "periodSeconds": 1, "failureThreshold": 2}}
    runner = runner_for(make_pod([container], grace=1), tmp_path)
    try:
        status = drive(runner, lambda s: s["containerStatuses"][0]["restartCount"] >= 1, timeout=30,
                       what="the liveness probe to restart the container")
        assert status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] in (137, 143)
    finally:
        runner.terminate(grace=1)


def test_terminate_honours_the_grace_period_then_kills_the_group(tmp_path):
    # The shell ignores SIGTERM and has a child: both must be gone after grace + SIGKILL.
    container = {"name": "stubborn", "command": ["sh", "-c", "trap '' TERM; sleep 300 & wait"]}
    runner = runner_for(make_pod([container]), tmp_path)
    drive(runner, lambda s: "running" in s["containerStatuses"][0]["state"], what="the container to run")
    time.sleep(0.3)  # let the shell install its trap and start its child
    pgid = runner.containers[0].proc.pid
    started = time.monotonic()
    runner.terminate(grace=1.0)
    assert time.monotonic() - started >= 1.0  # it was given its grace period
    wait_until(lambda: not group_alive(pgid), timeout=5, what="the process group to be gone")
    assert "terminated" in runner.status()["containerStatuses"][0]["state"]


def test_run_as_user_and_group_from_the_security_context(tmp_path):
    pod = make_pod([{"name": "who", "command": ["sh", "-c", "echo $(id -u) $(id -g)"],
                     "securityContext": {"runAsUser": 65534}}], restart_policy="Never")
    pod["spec"]["securityContext"] = {"runAsGroup": 65533}
    runner = runner_for(pod, tmp_path)
    drive(runner, lambda s: s["phase"] == "Succeeded", what="the container to finish")
    expected = "65534 65533" if os.geteuid() == 0 else f"{os.geteuid()} {os.getegid()}"
    assert (tmp_path / "logs" / "who.log").read_text().strip() == expected


def test_an_exec_probe_past_its_timeout_fails_saying_so_and_leaves_no_process(tmp_path):
    from gameday.kube.probes import Probe
    marker = f"gameday-probe-{os.getpid()}-{time.monotonic_ns()}"
    probe = Probe("readiness", {"exec": {"command": [sys.executable, "-c", "import time; time.sleep(30)", marker]},
                                "timeoutSeconds": 1, "failureThreshold": 1}, started=0.0)
    t0 = time.monotonic()
    assert probe.run(time.monotonic(), "127.0.0.1", {}, dict(os.environ)) is False
    assert "timed out after 1s" in probe.message and time.monotonic() - t0 < 10
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
    ok = Probe("readiness", {"exec": {"command": ["true"]}}, started=0.0)
    assert ok.run(time.monotonic(), "127.0.0.1", {}, dict(os.environ)) is True
