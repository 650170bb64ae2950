"""Issue 15, drill 6 on the Kubernetes twin: the search cluster is snapshotted on a schedule there as a
platform does it on GKE (Deployment ``search-snapshot`` in namespace ``gameday``, the supervisor
member's loop as a pod: :mod:`gameday.kube.schedules`), and the Kubernetes target's preflight reads the
newest snapshot's age through the search API, the code that runs on GKE (no twin branch).

With the interval set to 5 s on the twin (the pod reads it within seconds) the pod takes a new
snapshot of ``content``, its log names it, and it is newer than the interval; put back to the default,
``search_snapshot_age`` on ``KubernetesTarget.search_admin()`` reads exactly that snapshot, with no
warning. On the package's twin (conftest.py)::

    flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/test_schedules.py
"""

from __future__ import annotations

import time

import pytest

from gameday.deadline import wait_until
from gameday.kube.schedules import SNAPSHOTS
from gameday.kube.workloads import NAMESPACE
from gameday.measure import backup_age
from gameday.recovery import targets_yaml
from gameday.sandbox import search_snapshot_schedule as sss
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.twin import SNAPSHOT_REPOSITORY
from gameday.targets import for_environment
from gameday.targets.environment import load
from tests.integration.kube.test_data_layers import pods, ready
from tests.support.kube_twin import get, kubectl

pytestmark = pytest.mark.kubernetes


def test_the_snapshot_pod_keeps_a_snapshot_newer_than_its_interval_and_preflight_reads_it(twin, env_file):
    started = time.monotonic()
    deployment = get(twin, "deployment", SNAPSHOTS, "-n", NAMESPACE)
    assert deployment["status"].get("readyReplicas") == 1, deployment["status"]
    assert [p for p in pods(twin, SNAPSHOTS) if ready(p)], "the schedule's pod is running"
    assert sss.NAME not in [m["name"] for m in SandboxClient(twin.paths).status()["members"]]  # a pod, not a member
    api = sss.admin(twin, timeout=30)
    # the pod's own (an earlier test's drill may have taken a newer one, e.g. lose-index's before-loss snapshot)
    before = sss.newest(sss.ours(api.snapshots(SNAPSHOT_REPOSITORY)))
    assert before is not None and before["scheduled"], before  # the pod's first, taken as it started

    settings = sss.load(twin)
    try:
        sss.configure(twin, interval_s=5)  # due at once: the newest is older than 5 s

        def taken():
            found = sss.newest(sss.ours(api.snapshots(SNAPSHOT_REPOSITORY)))
            return found if found and found["id"] != before["id"] else None
        snap = wait_until(taken, timeout=20, interval=0.3, what="a new snapshot from the search-snapshot pod")
    finally:
        sss.configure(twin, interval_s=settings.interval_s, keep=settings.keep)  # before its next one is due
    assert snap["scheduled"] and time.time() - snap["at"] < 5, snap
    log = kubectl(twin, "logs", "-n", NAMESPACE, f"deployment/{SNAPSHOTS}").stdout
    assert f"snapshot {snap['id']} of content" in log, log[-2000:]

    # preflight's reading on the Kubernetes target: the newest snapshot in any registered repository
    env = load(env_file)
    target = for_environment(env, i_mean_production=True)  # rehearsal.yaml is production: true (reads only here)
    objective, max_age_s = targets_yaml.load().for_layer("search", environment=env.name).backup_limit()
    age = backup_age.search_snapshot_age(target.search_admin(timeout=5), max_age_s=max_age_s, objective=objective)
    assert (age.status, age.id, age.at, age.warning) == (backup_age.OK, snap["id"], snap["at"], None), age
    assert age.where == f"repository {SNAPSHOT_REPOSITORY}" and age.age_s < 5, age
    print(f"\n[figure] snapshot {snap['id']} by pod {SNAPSHOTS}; preflight on the Kubernetes target: {age.status}, "
          f"{age.age_s} s old; test {time.monotonic() - started:.1f} s")
