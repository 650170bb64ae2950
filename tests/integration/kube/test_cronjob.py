"""deploy/'s CronJob in a cluster: rendered from deploy/overlays/staging, applied to the Kubernetes twin
with only what a cluster operator adapts, it runs a game day from inside the cluster as its
ServiceAccount (in_cluster: true: the projected token the node agent mounts, KUBERNETES_SERVICE_HOST),
as uid 10001, and writes its report to the reports volume (a claim the twin's provisioner binds).

What the operator adapts, and nothing else:
- the environment: a ConfigMap ``gameday-config`` with the rehearsal environment for in-cluster use
  (``in_cluster: true``, no context; ``credentials.db`` from the ``gameday-credentials`` Secret's
  variable, and on a WordPress twin ``credentials.publisher`` too (the site's publisher, whose
  Application Password the canaries and the load's editors publish with), the search password and CA
  from ECK's Secret names that deploy/'s search Role grants) and a
  one-scenario suite, mounted at /etc/gameday; the CronJob's ``--env`` / ``--suite`` args name them
  and carry ``--i-mean-production`` (the rehearsal is ``production: true``; deploy/overlays/production
  gives its consent the same way, in the args);
- the Secret ``gameday-credentials`` (made outside git, as deploy/'s CronJob expects);
- the Roles: the twin runs every layer in namespace ``gameday``, so deploy/'s web, kafka and search
  Roles are bound there instead of wordpress/kafka/search;
- the Locust workers scaled to 0 (the environment has no ``load.workers``: the game day's own Locust
  drives the load).

The game day is one scenario of the ``kubernetes`` suite (the database's pod): its experiment, a
``chaos run`` child of the runner in the pod, must replace exactly the pod it names, at its listed
address, and the run folder holds no secret.

On the package's twin (conftest.py); what it applies is deleted after it, so the CronJob never fires
into the other modules' tests::

    flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/test_cronjob.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from gameday.deadline import wait_until
from gameday.kube import members as kube
from gameday.sandbox import install
from gameday.sandbox.twin import Twin
from tests.conftest import warm_up
from tests.integration.kube.test_data_layers import outputs, pods, settled, uids
from tests.support.kube_twin import degraded_lines, environment_for, get, kubectl

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[3]
NS = "gameday"
CONFIG_DIR = "/etc/gameday"
SA_USER = f"system:serviceaccount:{NS}:gameday"
JOB_TIMEOUT_S = 360
PUBLISHER_ENV = "GAMEDAY_PUBLISHER_PASSWORD"  # in gameday-credentials on a WordPress twin (deploy/base/locust.yaml's name)


@pytest.fixture
def operator_applied(twin, tmp_path_factory):
    """deploy/overlays/staging as the operator adapts it, applied; deleted with the Jobs it ran afterwards,
    all but the namespace (the twin's own pods run in it)."""
    objects = operator_objects(twin, tmp_path_factory)
    kubectl(twin, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    yield
    kubectl(twin, "delete", "jobs", "--all", "-n", NS, "--wait=true", "--timeout=60s")
    mine = [o for o in objects if o["kind"] != "Namespace"]
    kubectl(twin, "delete", "-f", "-", "--ignore-not-found", "--wait=true", "--timeout=60s", stdin=yaml.safe_dump_all(mine))


def in_cluster_environment(twin: Twin, tmp_path_factory) -> str:
    """The rehearsal environment as the CronJob's pod reads it: in_cluster, no context, credentials the
    ServiceAccount may read (ECK's secret names) or the pod's variables (gameday-credentials)."""
    data = yaml.safe_load(environment_for(twin, tmp_path_factory).read_text())
    env = data["configuration"]["gameday_environment"]
    env["kubernetes"].pop("context")
    env["kubernetes"]["in_cluster"] = True
    env["trust"] = [{"secret": f"{NS}/sps-search-es-http-certs-public", "key": "ca.crt"}]
    env["credentials"] = {"search": {"secret": f"{NS}/sps-search-es-elastic-user", "key": "elastic",
                                     "username": "elastic"},
                          "db": {"env": "GAMEDAY_DB_PASSWORD", "username": "sps"}}
    if twin.shape.wordpress:  # publishes need it (401 without: the canaries' and the load's editors')
        env["credentials"]["publisher"] = {"env": PUBLISHER_ENV, "username": "publisher"}
    return yaml.safe_dump(data)


# One of the kubernetes suite's six scenarios (the database, a StatefulSet pod with a listed address and
# its data): the runner's Kubernetes path whole, from inside the cluster, within make test's time (a
# second scenario in the pod cost about 45 s of it). The others are covered on this target by plain chaos
# run (web pod, rolling restart and network in test_web_pods, search node and the Kafka partition leader
# in test_data_layers) and by the indexer stopped through the target and restored by its playbook.
SCENARIOS = ("database-crash",)


def cluster_suite() -> str:
    suite = yaml.safe_load((ROOT / "experiments" / "suites" / "kubernetes.yaml").read_text())
    suite.update(baseline_s=3, cooldown_s=3)  # after the ramp (the runner waits for the full rate)
    # The smoke rate (5 req/s), not the suite's peak (20): this test proves the in-cluster path, and the
    # Kubernetes twin shares 2 cores with every layer's pods and the quick lane; at peak rate in CI the
    # site's p95 passed 2 s for one 4 s window after the fault (search requests 2-5 s while the cores were
    # short), failing the after-fault steady state for want of CPU, not of recovery. Peak load on the
    # in-cluster runner is the `kubernetes` suite's own business (README: gameday run --suite kubernetes).
    suite["load"].update(profile="smoke", ramp_s=2)
    suite["scenarios"] = [s for s in suite["scenarios"] if s["name"] in SCENARIOS]
    return yaml.safe_dump(suite)


def operator_objects(twin: Twin, tmp_path_factory) -> list[dict]:
    """deploy/overlays/staging, rendered, with what the operator adapts (see the module's docstring)."""
    rendered = subprocess.run([str(install.kustomize_binary()), "build", str(ROOT / "deploy" / "overlays" / "staging")],
                              capture_output=True, text=True, timeout=120, check=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    for doc in docs:
        kind, meta = doc["kind"], doc["metadata"]
        if kind in ("Role", "RoleBinding"):
            meta["namespace"] = NS
        elif kind == "Deployment" and meta["name"] == "gameday-locust-worker":
            doc["spec"]["replicas"] = 0
        elif kind == "CronJob":
            pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            container = pod["containers"][0]
            container["args"] = ["run", "--suite", f"{CONFIG_DIR}/suite.yaml", "--env", f"{CONFIG_DIR}/rehearsal.yaml",
                                 "--no-install", "--reports", "/reports", "--i-mean-production"]
            container["volumeMounts"].append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
            pod["volumes"].append({"name": "config", "configMap": {"name": "gameday-config"}})
    def secret(source: str, name: str, key_map: dict[str, str] | None = None) -> dict:
        data = get(twin, "secret", source, "-n", NS)["data"]
        if key_map:
            data = {new: data[old] for new, old in key_map.items()}
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": NS}, "data": data}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gameday-config", "namespace": NS},
              "data": {"rehearsal.yaml": in_cluster_environment(twin, tmp_path_factory),
                       "suite.yaml": cluster_suite()}}
    credentials = secret("sandbox-db", "gameday-credentials", {"GAMEDAY_DB_PASSWORD": "GAMEDAY_DB_PASSWORD"})
    if twin.shape.wordpress:  # the publisher's Application Password (the twin's Secret wordpress-publisher)
        credentials["data"][PUBLISHER_ENV] = get(twin, "secret", "wordpress-publisher", "-n", NS)["data"]["password"]
    return docs + [config,
                   credentials,
                   secret("search-es-elastic-user", "sps-search-es-elastic-user"),
                   secret("twin-ca", "sps-search-es-http-certs-public")]


def job_finished(twin: Twin, name: str) -> dict | None:
    job = get(twin, "job", name, "-n", NS)
    done = {c["type"] for c in (job.get("status") or {}).get("conditions") or [] if c["status"] == "True"}
    return job if done & {"Complete", "Failed"} else None


def job_pod(twin: Twin, job: str) -> dict:
    pods = get(twin, "pods", "-n", NS, "-l", f"job-name={job}")["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def pod_log(twin: Twin, pod: str) -> str:
    return kubectl(twin, "logs", "-n", NS, pod, check=False).stdout[-4000:]


def audited(twin: Twin, pod: str) -> list[dict]:
    """The API server's audit events of requests made with ``pod``'s bound ServiceAccount token."""
    events = []
    for line in kube.audit_log_path(twin).read_text().splitlines():
        event = json.loads(line)
        user = event.get("user") or {}
        if pod in (user.get("extra") or {}).get("authentication.kubernetes.io/pod-name", []):
            events.append(event)
    return events


def check_run(twin: Twin, job: str, reports: Path, started: float) -> tuple[dict, Path]:
    """The Job's pod exited 0 as uid 10001, its report is in the reports volume, and its API calls were
    the ServiceAccount's, with the token bound to that very pod."""
    finished = wait_until(lambda: job_finished(twin, job), timeout=JOB_TIMEOUT_S, interval=2,
                          what=f"Job {job} to complete")
    pod = job_pod(twin, job)
    name = pod["metadata"]["name"]
    state = pod["status"]["containerStatuses"][0]["state"]
    runs = [d for d in reports.iterdir() if (d / "summary.json").is_file()]
    mine = [d for d in runs if d.stat().st_mtime >= started]
    summary = json.loads((mine[0] / "summary.json").read_text()) if len(mine) == 1 else {}
    missed = [{"scenario": s["name"], "status": s.get("status"), "error": s.get("error"),
               "missed": [(c["name"], c["value"], c["target"], c.get("explain")) for c in s["checks"] if c["met"] is False],
               # each second from the fault (t, rps, p95 ms, error ratio): what the judge read
               "seconds": [(p["t"], p["rps"], p["p95_ms"], p["error_ratio"]) for p in s.get("series") or []
                           if s.get("fault_at") and p["t"] >= int(s["fault_at"])]}
              for s in summary.get("scenarios") or [] if not s.get("passed")]
    if state["terminated"]["exitCode"] != 0 and mine:  # kept for reading: the twin is wiped after the module
        kept = Path(tempfile.mkdtemp(prefix=f"{twin.name}-{job}-"))
        shutil.copytree(mine[0], kept / mine[0].name)
        missed.append(f"run folder copied to {kept}")
    assert finished["status"].get("succeeded") == 1 and state["terminated"]["exitCode"] == 0, \
        f"{state}\nmissed: {missed}\n{pod_log(twin, name)}\n{degraded_lines(twin)}"
    assert len(mine) == 1, f"report folders in {reports}: {sorted(d.name for d in runs)}"
    assert summary["verdict"] == "passed" and (mine[0] / "report.html").is_file(), summary
    assert [s["name"] for s in summary["scenarios"]] == list(SCENARIOS)
    assert summary["target"] == {"name": f"rehearsal-{twin.name}", "kind": "kubernetes"}
    assert (mine[0] / "report.html").stat().st_uid == 10001  # written by the container's user, not root
    events = audited(twin, name)
    users = {e["user"]["username"] for e in events}
    assert users == {SA_USER}, users
    calls = {(e["verb"], (e.get("objectRef") or {}).get("resource")) for e in events if e["stage"] == "ResponseComplete"}
    assert ("delete", "pods") in calls and ("create", "leases") in calls, sorted(calls)
    refused = [e for e in events if e["stage"] == "ResponseComplete" and e["responseStatus"]["code"] == 403]
    password = twin.db_password()
    leaked = [str(p) for p in mine[0].rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert leaked == []
    print(f"[figure] {job}: pod {name} ran the game day ({summary['verdict']}, score {summary['score']}) as "
          f"{SA_USER}: {len(events)} audited API requests with the pod-bound token, {len(refused)} refused; "
          f"report {mine[0].name} in the reports volume")
    return summary, mine[0]


# From inside the pod the token comes from the in-cluster loader as "bearer <token>" (lowercase): a
# kubeconfig's "Bearer" only once stripped this ran into 401 on the pod kill (targets.kubernetes.bearer_token).
def test_the_cronjob_runs_a_game_day_from_inside_the_cluster(twin, operator_applied):
    t0 = time.monotonic()
    claim = wait_until(lambda: (lambda c: c if c["status"].get("phase") == "Bound" else None)(
        get(twin, "pvc", "gameday-reports", "-n", NS)), timeout=60, interval=1, what="the reports claim to be bound")
    volume = get(twin, "pv", claim["spec"]["volumeName"])
    reports = Path(volume["spec"]["local"]["path"])
    assert kube.volumes_root(twin) in reports.parents
    print(f"\n[figure] deploy/overlays/staging applied: reports claim bound to {volume['metadata']['name']} "
          f"({claim['spec']['storageClassName']}) in {time.monotonic() - t0:.1f}s")

    warm_up(twin)  # the freshly started site meets its SLO before the game day's steady-state probe
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    before = {**uids(twin, "kafka"), **uids(twin, "db")}  # only the database's pod may change
    # The Job is made from the CronJob's own template, as an operator runs a CronJob now (`kubectl create
    # job --from=cronjob/gameday`); its schedule firing is Kubernetes' CronJob controller, and waiting for
    # the next minute cost make test 30 s on average. One game day from inside the cluster is enough.
    started, t2 = time.monotonic(), time.time()
    job = f"gameday-now-{int(t2)}"
    kubectl(twin, "create", "job", job, "--from=cronjob/gameday", "-n", NS)
    template = get(twin, "cronjob", "gameday", "-n", NS)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    made = get(twin, "job", job, "-n", NS)
    assert made["spec"]["template"]["spec"]["containers"][0]["args"] == template["containers"][0]["args"]
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    fired_after = time.monotonic() - started
    _summary, run_dir = check_run(twin, job, reports, t2 - 1)
    # the scenario's experiment, a chaos run child of the runner in the pod, replaced exactly the pod it names
    db = outputs(run_dir / "journals" / "database-crash.json")["kill-the-database"]
    assert db["target"] == f"rehearsal-{twin.name}" and db["touched"] == ["db-1"]
    after = {**uids(twin, "kafka"), **uids(twin, "db")}
    assert {n for n in before if after.get(n) != before[n]} == {"db-1"}, (before, after)
    assert pods(twin, "db")[0]["status"]["podIP"] == twin.address("db")  # the database's pod keeps its address
    print(f"[figure] Job {job} from the CronJob's template, created in {fired_after:.1f}s, complete "
          f"{time.monotonic() - started:.0f}s after; the CronJob's own part took {time.monotonic() - t0:.0f}s")
    assert (reports / "index.html").is_file()
