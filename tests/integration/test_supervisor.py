"""The supervisor against real processes (small HTTP servers), on its own loopback network."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gameday.deadline import wait_until
from gameday.errors import GamedayError, UsageError
from gameday.sandbox import lifecycle, reaper
from gameday.sandbox.client import SandboxClient, supervisor_pid
from gameday.sandbox.spec import MemberSpec, Workload
from tests.conftest import http_member, small_topology

NET = 31
ROOT = Path(__file__).resolve().parents[2]


def test_up_starts_in_order_and_reports_every_member(small_paths):
    transitions = []
    result = lifecycle.up(small_paths, small_topology(small_paths, NET),
                          progress=lambda name, state, _v: transitions.append((name, state)), timeout=30)
    members = {m["name"]: m for m in result.status["members"]}
    assert all(members[n]["ready"] for n in ("svc-1", "svc-2", "front-1"))
    assert members["svc-3"]["pid"] is None and members["svc-3"]["desired"] is False
    # front comes after svc: it was only started once both svc replicas were ready
    order = [name for name, state in transitions if state == "ready"]
    assert order.index("front-1") > max(order.index("svc-1"), order.index("svc-2"))
    assert requests.get(f"http://127.{NET}.10.1:8000/", timeout=2).status_code == 200


def test_up_twice_is_idempotent(small_paths):
    first = lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    pids = {m["name"]: m["pid"] for m in first.status["members"]}
    second = lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    assert second.already_running
    assert {m["name"]: m["pid"] for m in second.status["members"]} == pids


def test_killed_member_is_restarted_with_backoff_and_counted(small_paths):
    lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    twin = SandboxClient(small_paths)
    old_pid = twin.member("svc-1")["pid"]
    twin.kill("svc-1")
    assert twin.member("svc-1")["ready"] is False
    back = twin.wait_ready("svc-1", timeout=20)
    assert back["pid"] != old_pid
    assert back["restarts"] == 1
    events = [h["event"] for h in back["history"]]
    assert events[-5:] == ["signalled", "exited", "backoff", "started", "ready"]
    exited = [h for h in back["history"] if h["event"] == "exited"][-1]
    assert exited["signal"] == "SIGKILL"
    # killed from outside the supervisor (as the kernel or a chaos tool would): also restarted
    os.kill(back["pid"], signal.SIGKILL)
    again = wait_until(lambda: (m := twin.member("svc-1"))["ready"] and m["pid"] != back["pid"] and m,
                       timeout=20, what="svc-1 to come back")
    assert again["restarts"] == 2
    backoffs = [h["seconds"] for h in again["history"] if h["event"] == "backoff"]
    assert backoffs == [0.5, 1.0]  # exponential: base 0.5 s, doubled after each unexpected exit


def test_stop_start_and_scale(small_paths):
    lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    twin = SandboxClient(small_paths)
    twin.stop("svc-2")
    stopped = twin.wait_stopped("svc-2", timeout=10)
    assert stopped["state"] == "stopped" and stopped["restarts"] == 0
    twin.start("svc-2")
    assert twin.wait_ready("svc-2", timeout=20)["ready"]
    twin.scale("svc", 3)
    assert twin.wait_ready("svc-3", timeout=20)["labels"]["layer"] == "web"
    twin.scale("svc", 1)
    twin.wait_stopped("svc-3", timeout=10)
    twin.wait_stopped("svc-2", timeout=10)
    assert [m["name"] for m in twin.members(layer="web") if m["pid"]] == ["svc-1"]
    with pytest.raises(UsageError, match="0..3 replicas"):
        twin.scale("svc", 9)


def test_down_after_supervisor_crash_leaves_no_process(small_paths):
    lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    member_pids = [m["pid"] for m in SandboxClient(small_paths).status()["members"] if m["pid"]]
    crashed = supervisor_pid(small_paths)
    os.kill(crashed, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: the crash is over once the process is gone
    wait_until(lambda: not reaper.is_running(crashed), timeout=10, what="the killed supervisor to exit")
    assert all(reaper.is_running(p) for p in member_pids)  # orphans keep running
    result = lifecycle.down(small_paths)
    assert sorted(result.leftovers_killed) == sorted(member_pids)
    assert not any(reaper.is_running(p) for p in member_pids)
    assert reaper.marked_processes(small_paths.sandbox_id) == []
    # and down again, with nothing running, is a no-op
    assert lifecycle.down(small_paths).was_running is False


def test_down_with_an_unreachable_supervisor_stops_it_and_every_member(small_paths):
    """The supervisor is alive but cannot be asked (its socket deleted, or it dies as we ask): down reaps."""
    lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    supervisor = supervisor_pid(small_paths)
    member_pids = [m["pid"] for m in SandboxClient(small_paths).status()["members"] if m["pid"]]
    small_paths.socket.unlink()
    result = lifecycle.down(small_paths)
    assert result.was_running
    assert sorted(result.leftovers_killed) == sorted([supervisor, *member_pids])
    assert reaper.marked_processes(small_paths.sandbox_id) == []


def test_up_after_supervisor_crash_cleans_orphans(small_paths):
    lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    crashed = supervisor_pid(small_paths)
    os.kill(crashed, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: the crash is over once the process is gone
    wait_until(lambda: not reaper.is_running(crashed), timeout=10, what="the killed supervisor to exit")
    result = lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    assert len(result.cleaned_up) == 3
    assert all(m["ready"] for m in result.status["members"] if m["desired"])


def test_port_in_use_is_refused_before_anything_starts(small_paths):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((f"127.{NET}.20.2", 8000))
        squatter.listen()
        with pytest.raises(UsageError, match=rf"127\.{NET}\.20\.2:8000 \(svc-2 http\) is already in use"):
            lifecycle.up(small_paths, small_topology(small_paths, NET), timeout=30)
    assert supervisor_pid(small_paths) is None
    assert reaper.marked_processes(small_paths.sandbox_id) == []


def test_member_that_will_not_start_fails_up_and_leaves_nothing(small_paths):
    topo = small_topology(small_paths, NET)
    broken = MemberSpec(name="broken-1", index=1, address=f"127.{NET}.90.1", ports={},
                        argv=[sys.executable, "-c", "import sys; print('cannot open data dir'); sys.exit(3)"],
                        readiness={"type": "alive"})
    topo.workloads.append(Workload(name="broken", layer="db", kind="service", replicas=1, members=[broken]))
    with pytest.raises(GamedayError) as err:
        lifecycle.up(small_paths, topo, timeout=60)
    assert "broken-1 keeps failing to start" in str(err.value)
    assert str(small_paths.member_log("broken-1")) in str(err.value)
    assert "cannot open data dir" in small_paths.member_log("broken-1").read_text()
    assert supervisor_pid(small_paths) is None
    assert reaper.marked_processes(small_paths.sandbox_id) == []


def test_a_failure_threshold_keeps_a_member_ready_until_that_many_checks_in_a_row_failed(small_paths, tmp_path):
    """Two real servers whose readiness is a file they serve: ``quick-1`` (failure_threshold 1, the
    default) and ``steady-1`` (failure_threshold 6, about 3 s of failed checks at the supervisor's 0.5 s).
    With both files gone, quick-1 is unready while steady-1 is still ready; steady-1 goes unready only
    later; one good check makes it ready again. A kill is unready at once, whatever the threshold."""
    def member(name: str, index: int, threshold: int | None) -> MemberSpec:
        root = tmp_path / name
        root.mkdir()
        (root / "ready").write_text("ok")
        spec = http_member(name, index, f"127.{NET}.40.{index}", cwd=str(root))
        if threshold is not None:
            spec.readiness["failure_threshold"] = threshold
        return spec
    topo = small_topology(small_paths, NET)
    quick, steady = member("quick-1", 1, None), member("steady-1", 2, 6)
    for spec in (quick, steady):
        spec.readiness["url"] += "ready"
    topo.workloads.append(Workload(name="probed", layer="db", kind="service", replicas=2, members=[quick, steady]))
    lifecycle.up(small_paths, topo, timeout=30)
    client = SandboxClient(small_paths)

    def ready() -> dict[str, bool]:
        return {m["name"]: m["ready"] for m in client.status()["members"] if m["name"] in ("quick-1", "steady-1")}
    assert ready() == {"quick-1": True, "steady-1": True}
    for name in ("quick-1", "steady-1"):
        (tmp_path / name / "ready").unlink()  # 404 from now on
    wait_until(lambda: not ready()["quick-1"], timeout=10, interval=0.1, what="quick-1 unready after one failed check")
    assert ready()["steady-1"], "steady-1 went unready with quick-1: its threshold was not counted"
    wait_until(lambda: not ready()["steady-1"], timeout=20, interval=0.1, what="steady-1 unready after 6 failed checks")
    history = {m["name"]: m["history"] for m in client.status()["members"]}
    unready_at = {n: next(h["at"] for h in reversed(history[n]) if h["event"] == "unready") for n in ("quick-1", "steady-1")}
    assert unready_at["steady-1"] - unready_at["quick-1"] >= 1.0, unready_at  # at least two more checks of 0.5 s
    (tmp_path / "steady-1" / "ready").write_text("ok")
    wait_until(lambda: ready()["steady-1"], timeout=10, interval=0.1, what="steady-1 ready after one good check")
    client.kill("steady-1", "KILL", by="test")
    assert not ready()["steady-1"]  # gone at once, whatever the threshold


def _autogroup_nice(pid: int) -> int | None:
    """The nice of the autogroup (session) process ``pid`` runs in: ``/autogroup-<n> nice <k>``; None when it
    runs in the root autogroup, whose file is empty (a session that never got one of its own, e.g. a
    container's first: CI's pytest runs there)."""
    fields = open(f"/proc/{pid}/autogroup").read().split()
    return int(fields[-1]) if fields else None


def test_a_niced_up_runs_every_member_at_that_priority(small_paths):
    """``nice -n 3 gameday sandbox up``: the supervisor and every member run in sessions of their own, and with
    the kernel's autogroups (on here) a session's CPU share follows its autogroup's nice, not its processes':
    each member's session is given the starter's nice, so a niced twin really yields the cores; a member whose
    spec asks for ``cpu_nice`` runs (process and session) that far from it."""
    assert open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() == "1", "this test needs autogroups on"
    niced = os.nice(0) + 3
    own = _autogroup_nice(os.getpid())
    code = ("import sys; from gameday.sandbox import lifecycle; from gameday.sandbox.paths import SandboxPaths; "
            "from tests.conftest import small_topology; "
            f"p = SandboxPaths(name={small_paths.name!r}, home=__import__('pathlib').Path({str(small_paths.home)!r})); "
            f"t = small_topology(p, {NET}); t.workload('svc').members[1].cpu_nice = -2; "
            "lifecycle.up(p, t, timeout=30)")
    subprocess.run(["nice", "-n", "3", sys.executable, "-c", code], check=True, timeout=60, cwd=ROOT)
    twin = SandboxClient(small_paths)
    pids = {m["name"]: m["pid"] for m in twin.members() if m["pid"]}
    assert set(pids) == {"svc-1", "svc-2", "front-1"}, pids
    want = {**dict.fromkeys(pids, niced), "svc-2": niced - 2}  # svc-2's spec: cpu_nice -2, its pod's bigger request
    assert {name: _autogroup_nice(pid) for name, pid in pids.items()} == want
    assert {name: os.getpriority(os.PRIO_PROCESS, pid) for name, pid in pids.items()} == want
    assert _autogroup_nice(supervisor_pid(small_paths)) == niced
    assert _autogroup_nice(os.getpid()) == own  # the test's own session is not touched
