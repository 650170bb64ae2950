"""The whole twin with Kubernetes (`gameday sandbox up --kubernetes`): web as a Deployment whose pods the
node agent runs, HAProxy fed from the Service's EndpointSlices, and the KubernetesTarget against it.

The package's twin ``k8s-test`` on 127.35.x.y (conftest.py). Needs the control plane built, so it
carries the ``kubernetes`` marker::

    flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/test_web_pods.py

``-s`` shows the measured figures (pod delete -> replacement ready -> routed by HAProxy).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from gameday.deadline import wait_until
from gameday.errors import GamedayError
from gameday.kube import build as kube_build
from gameday.kube import members as kube
from gameday.kube.haproxy_backends import Runtime
from gameday.kube.workloads import NAMESPACE
from gameday.targets.kubernetes_pods import started_seconds_ago
from gameday.recovery.layers.web import WEB_GRACE_S
from gameday.sandbox import install
from gameday.sandbox.members import lb
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets.environment import load
from gameday.targets.kubernetes import DisruptionRefused, KubernetesTarget
from tests.conftest import warm_up
from tests.support.experiments import held_fault
from tests.support.kube_twin import kubectl
from tests.support.chaos_journal import assert_steady_before

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[3]
WEB = "app.kubernetes.io/name=web"


def pods(twin: Twin, selector: str = WEB, namespace: str = NAMESPACE) -> list[dict]:
    return json.loads(kubectl(twin, "get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout)["items"]


def ready(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def routed(twin: Twin) -> set[str]:
    """Addresses HAProxy's web backend sends traffic to (slots up and not in maintenance)."""
    return {s.address for s in Runtime(str(lb.socket_path(twin))).slots("web") if s.up and not s.maint}


def ready_ips(twin: Twin) -> set[str]:
    return {p["status"]["podIP"] for p in pods(twin) if ready(p)}


def settled(twin: Twin, count: int = 3) -> set[str] | None:
    ips = ready_ips(twin)
    return ips if len(ips) == count and routed(twin) == ips else None


def test_kubectl_shows_the_web_pods_and_the_load_balancer_routes_to_them(twin):
    listing = kubectl(twin, "get", "pods", "-n", NAMESPACE, "-l", WEB, "-o", "wide").stdout
    print("\n" + listing)
    web = pods(twin)
    assert len(web) == 3 and all(ready(p) for p in web)
    assert all(p["status"]["podIP"].startswith(f"127.{twin.net}.10") for p in web)  # the node agent's pod CIDRs
    ips = wait_until(lambda: settled(twin), timeout=30, what="HAProxy to route to the three web pods")
    slices = json.loads(kubectl(twin, "get", "endpointslices", "-n", NAMESPACE, "-l",
                                "kubernetes.io/service-name=web", "-o", "json").stdout)["items"]
    assert {a for s in slices for e in s["endpoints"] for a in e["addresses"]} == ips
    assert requests.get(f"{twin.lb_url}/", timeout=10).status_code == 200
    pdb = json.loads(kubectl(twin, "get", "pdb", "web", "-n", NAMESPACE, "-o", "json").stdout)
    assert pdb["status"]["disruptionsAllowed"] == 1


def test_the_site_answers_on_the_name_readers_use_without_a_redirect(twin, env_file):
    """The environment's ``site_url`` (the TLS front's name, as GKE's load balancer's) is answered as
    itself, by either web tier: WordPress must not 301 a reader to the load balancer's own address (D5)."""
    from gameday.sandbox import tls
    site_url = load(env_file).site_url
    assert site_url == f"https://site.{twin.name}.gameday.test"
    for path in ("/", "/api/articles/1"):
        answer = requests.get(f"{site_url}{path}", timeout=10, allow_redirects=False, verify=str(tls.ca_bundle_path(twin)))
        assert answer.status_code == 200, (path, answer.status_code, answer.headers.get("Location"))


def test_a_pod_deleted_with_chaosk8s_is_replaced_started_and_routed(twin, env_file):
    from chaosk8s.pod.actions import terminate_pods

    before = wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    victim = pods(twin)[0]
    target = for_environment(load(env_file), i_mean_production=True)
    with target._chaosk8s() as secrets:  # the credentials chaosk8s needs, as the target hands them over
        t0 = time.monotonic()
        deleted = terminate_pods(label_selector=WEB, name_pattern=f"^{victim['metadata']['name']}$",
                                 grace_period=0, ns=NAMESPACE, secrets=secrets)
    assert deleted == [victim["metadata"]["name"]]

    def replacement() -> dict | None:
        fresh = [p for p in pods(twin) if ready(p) and p["metadata"]["name"] != victim["metadata"]["name"]
                 and p["status"]["podIP"] not in before - {victim["status"]["podIP"]}]
        return fresh[0] if fresh else None

    new = wait_until(replacement, timeout=120, interval=0.1, what="the ReplicaSet's replacement pod to be ready")
    t_ready = time.monotonic() - t0
    owner = new["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet" and owner["name"] == victim["metadata"]["ownerReferences"][0]["name"]
    wait_until(lambda: new["status"]["podIP"] in routed(twin) and victim["status"]["podIP"] not in
               routed(twin) - {new["status"]["podIP"]}, timeout=30, interval=0.1,
               what="HAProxy to route to the replacement and not the deleted pod")
    t_routed = time.monotonic() - t0
    print(f"\n[figure] pod delete -> replacement ready {t_ready:.2f}s -> routed by HAProxy {t_routed:.2f}s "
          f"(deleted {victim['status']['podIP']}, replacement {new['status']['podIP']})")
    # Requests through the load balancer reach the new pod (its HAProxy slot counts them).
    sock = Runtime(str(lb.socket_path(twin)))
    slot = next(s.name for s in sock.slots("web") if s.address == new["status"]["podIP"])

    def served() -> int:
        stat = sock.send(["show stat"]).splitlines()
        header = stat[0].lstrip("# ").split(",")
        row = next(dict(zip(header, line.split(","), strict=False)) for line in stat[1:] if line.startswith(f"web,{slot},"))
        return int(row["stot"])

    first = served()
    for _ in range(12):
        assert requests.get(f"{twin.lb_url}/", timeout=10).status_code == 200
    assert served() > first
    # The old pod's process is gone.
    old_pid = int(victim["status"]["containerStatuses"][0]["containerID"].removeprefix("process://"))
    from gameday.sandbox import reaper
    wait_until(lambda: not reaper.is_running(old_pid), timeout=30, what="the deleted pod's process to end")


def test_the_kubernetes_target_kills_waits_and_respects_the_budget(twin, env_file):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    target = for_environment(load(env_file), i_mean_production=True)
    assert isinstance(target, KubernetesTarget)
    nodes = target.nodes("web")
    assert len(nodes) == 3 and all(n.ready and n.running for n in nodes)
    assert {n.address for n in nodes} == ready_ips(twin)

    t0 = time.monotonic()
    target.kill(nodes[0])
    # The budget (maxUnavailable 1) has no room until the replacement is ready: a second kill is refused.
    with pytest.raises(DisruptionRefused, match="PodDisruptionBudget web allows no disruption"):
        target.kill(nodes[1])
    assert nodes[1].name in {n.name for n in target.nodes("web")}  # untouched
    target.wait_ready(nodes[0], timeout=120)
    print(f"\n[figure] KubernetesTarget.kill -> wait_ready returned after {time.monotonic() - t0:.2f}s")
    after = target.nodes("web")
    assert len(after) == 3 and all(n.ready for n in after) and nodes[0].name not in {n.name for n in after}
    wait_until(lambda: settled(twin), timeout=30, what="HAProxy to route to the three web pods again")

    # The override: two pods at once when the environment says pod_disruption_budgets: ignore.
    target.kill(after[0], respect_pdb=False)
    target.kill(after[1], respect_pdb=False)
    target.wait_ready(after[0], timeout=120)
    wait_until(lambda: settled(twin), timeout=30, what="HAProxy to route to three web pods after the double kill")


def test_stop_and_start_scale_the_deployment_around_the_chosen_pod(twin, env_file):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    target = for_environment(load(env_file), i_mean_production=True)
    chosen = target.nodes("web")[1]
    target.stop(chosen)
    wait_until(lambda: len(ready_ips(twin)) == 2 and chosen.address not in routed(twin), timeout=60,
               what="the chosen pod to go and HAProxy to stop routing to it")
    remaining = {n.name for n in target.nodes("web")}
    assert chosen.name not in remaining and len(remaining) == 2
    target.start(chosen)
    target.start(chosen)  # idempotent: a second start adds nothing
    target.wait_ready(chosen, timeout=120)
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods after start")
    deployment = json.loads(kubectl(twin, "get", "deployment", "web", "-n", NAMESPACE, "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 3
    assert "gameday.io/stopped-pods" not in (deployment["metadata"].get("annotations") or {})


def test_a_statefulset_stops_only_its_highest_ordinal(twin, env_file, tmp_path):
    namespace = "sts-test"
    kubectl(twin, "create", "namespace", namespace)
    wait_until(lambda: subprocess.run([str(kube_build.binaries()["kubectl"]), "--kubeconfig",
                                       str(kube.kubeconfig_path(twin)), "get", "serviceaccount", "default",
                                       "-n", namespace], capture_output=True).returncode == 0,
               timeout=60, what="the namespace's default service account")
    container = {"name": "kv", "image": "host-process", "command": [sys.executable, "-m", "http.server"],
                 "args": ["--bind", "$(POD_IP)", "9092"],
                 "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                 "readinessProbe": {"tcpSocket": {"port": 9092}, "periodSeconds": 1}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "kv", "namespace": namespace},
           "spec": {"replicas": 3, "serviceName": "kv", "selector": {"matchLabels": {"app": "kv"}},
                    "template": {"metadata": {"labels": {"app": "kv"}},
                                 "spec": {"containers": [container], "terminationGracePeriodSeconds": 2}}}}
    kubectl(twin, "apply", "-f", "-", stdin=json.dumps(sts))
    data = yaml.safe_load(env_file.read_text())
    data["configuration"]["gameday_environment"]["kubernetes"]["kafka"].update(namespace=namespace, brokers="app=kv")
    path = tmp_path / "sts.yaml"
    path.write_text(yaml.safe_dump(data))
    target = for_environment(load(path), i_mean_production=True)
    nodes = wait_until(lambda: (lambda n: n if len(n) == 3 and all(x.ready for x in n) else None)(target.nodes("kafka")),
                       timeout=120, what="three ready StatefulSet pods")
    assert [n.name for n in nodes] == ["kv-0", "kv-1", "kv-2"]
    with pytest.raises(Exception, match="not the highest ordinal of StatefulSet kv") as err:
        target.stop(nodes[0])
    assert "kill kv-0 instead" in str(err.value)
    target.stop(nodes[2])
    wait_until(lambda: [n.name for n in target.nodes("kafka")] == ["kv-0", "kv-1"], timeout=60,
               what="kv-2 to stop")
    target.start(nodes[2])
    target.wait_ready(nodes[2], timeout=120)
    assert [n.name for n in target.nodes("kafka") if n.ready] == ["kv-0", "kv-1", "kv-2"]
    # A killed StatefulSet pod comes back with its name.
    target.kill(nodes[1])
    target.wait_ready(nodes[1], timeout=120)
    assert "kv-1" in [n.name for n in target.nodes("kafka") if n.ready]


def chaos_run(experiment: str, env_file: Path, tmp_path: Path, *, rollbacks: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    """Plain ``chaos run experiments/<experiment> --var-file env_file``: (the process, its journal)."""
    journal_path = tmp_path / "journal.json"
    args = [str(Path(sys.executable).with_name("chaos")), "--no-log-file", "run", str(ROOT / "experiments" / experiment),
            "--var-file", str(env_file), "--var", "gameday_i_mean_production:bool=true", "--journal-path", str(journal_path)]
    if rollbacks:
        args += ["--rollback-strategy", "always"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    return proc, json.loads(journal_path.read_text())


def test_the_web_pod_experiment_passes_with_plain_chaos_run_on_this_target(twin, env_file, tmp_path):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    warm_up(twin)  # from a steady state, or the experiment's own probe stops it before its method
    before = {p["metadata"]["name"] for p in pods(twin)}
    proc, journal = chaos_run("web/kill-one-pod.yaml", env_file, tmp_path)
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    assert journal["run"], f"the method did not run: {journal['steady_states']['before']}"
    out = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    touched = out["kill-one-web-pod"]["touched"]
    assert len(touched) == 1 and touched[0] in before and out["kill-one-web-pod"]["target"] == f"rehearsal-{twin.name}"
    assert touched[0] not in {p["metadata"]["name"] for p in pods(twin)}
    print(f"\n[figure] chaos run web/kill-one-pod on Kubernetes: every web pod ready again after "
          f"{out['time-until-every-web-pod-is-ready']}s, SLO held again after {out['time-until-the-slo-holds-again']}s")


def test_half_the_web_pods_against_a_budget_of_one_is_refused_before_any_pod_goes(twin, env_file, tmp_path):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    before = {p["metadata"]["uid"] for p in pods(twin)}
    proc, journal = chaos_run("web/kill-half-the-pods.yaml", env_file, tmp_path)
    assert journal["status"] != "completed", proc.stderr[-3000:]
    assert "PodDisruptionBudget" in proc.stderr or "would break" in proc.stderr, proc.stderr[-3000:]
    assert {p["metadata"]["uid"] for p in pods(twin)} == before  # not one pod was touched


def wrong_namespace_env(env_file: Path, tmp_path: Path) -> Path:
    """The twin's environment with the web pods looked for in a namespace that has none."""
    data = yaml.safe_load(env_file.read_text())
    data["configuration"]["gameday_environment"]["kubernetes"]["web"]["namespace"] = "wordpress"
    path = tmp_path / env_file.name
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_namespace_with_no_matching_pods_is_one_clear_error_and_nothing_is_touched(twin, env_file, tmp_path):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    before = {p["metadata"]["uid"] for p in pods(twin)}
    bad = wrong_namespace_env(env_file, tmp_path)
    gameday = str(Path(sys.executable).with_name("gameday"))
    wanted = "no pod in namespace 'wordpress' matches the web selector 'app.kubernetes.io/name=web'"
    # a game day stops in its preflight: exit 2, one line naming the problem and the fix, no traceback
    run = subprocess.run([gameday, "run", "--suite", "kubernetes", "--env", str(bad), "--reports", str(tmp_path / "r"),
                          "--no-install", "--i-mean-production"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 2, run.stderr[-2000:]
    assert wanted in run.stderr and "kubernetes.web.namespace" in run.stderr and "Traceback" not in run.stderr
    assert not list((tmp_path / "r").glob("2*"))  # no half-made run folder
    # so does the playbook, before any diagnosis
    book = subprocess.run([gameday, "playbook", "web", "--env", str(bad), "--i-mean-production"],
                          capture_output=True, text=True, timeout=120)
    assert book.returncode == 2 and wanted in book.stderr and "Traceback" not in book.stderr, book.stderr[-2000:]
    # and a plain chaos run: its guard interrupts the experiment before the method
    chaos, journal = chaos_run("web/kill-one-pod.yaml", bad, tmp_path, rollbacks=False)
    assert wanted in chaos.stderr, chaos.stderr[-2000:]
    assert journal["status"] != "completed"
    assert {p["metadata"]["uid"] for p in pods(twin)} == before  # not one pod was touched


# ---- the target as gameday's own ServiceAccount, with exactly the Roles deploy/ grants ---------------

def least_privileged_env(twin: Twin, env_file: Path, tmp_path: Path) -> Path:
    """deploy/'s ServiceAccount and its three Roles (web, kafka, search), moved into the twin's one
    namespace and bound there; a kubeconfig holding a token of that ServiceAccount; the twin's
    environment on that kubeconfig, with credentials.search read from ECK's secret name."""
    kustomize = install.kustomize_binary()
    rendered = subprocess.run([str(kustomize), "build", str(ROOT / "deploy" / "overlays" / "staging")],
                              capture_output=True, text=True, timeout=120, check=True).stdout
    wanted = []
    for doc in (d for d in yaml.safe_load_all(rendered) if d):
        if doc["kind"] in ("Role", "RoleBinding"):
            doc["metadata"]["namespace"] = NAMESPACE
            wanted.append(doc)
        elif doc["kind"] == "ServiceAccount":
            wanted.append(doc)  # gameday/gameday: the twin's namespace is gameday too
    def copied(source: str, name: str) -> dict:  # the twin's secret under the name ECK gives it
        data = json.loads(kubectl(twin, "get", "secret", source, "-n", NAMESPACE, "-o", "json").stdout)["data"]
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": NAMESPACE}, "data": data}
    secrets = [copied("search-es-elastic-user", "sps-search-es-elastic-user"),
               copied("twin-ca", "sps-search-es-http-certs-public")]
    kubectl(twin, "apply", "-f", "-", stdin=yaml.safe_dump_all(wanted + secrets))
    token = kubectl(twin, "create", "token", "gameday", "-n", NAMESPACE, "--duration", "1h").stdout.strip()
    admin = yaml.safe_load(kube.kubeconfig_path(twin).read_text())
    cluster = admin["clusters"][0]
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster],
              "users": [{"name": "gameday-sa", "user": {"token": token}}],
              "contexts": [{"name": "gameday-sa", "context": {"cluster": cluster["name"], "user": "gameday-sa"}}],
              "current-context": "gameday-sa"}
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    data = yaml.safe_load(env_file.read_text())
    env = data["configuration"]["gameday_environment"]
    env["kubernetes"].update(context="gameday-sa", kubeconfig=str(kubeconfig))
    env["credentials"] = {"search": {"secret": f"{NAMESPACE}/sps-search-es-elastic-user", "key": "elastic",
                                     "username": "elastic"}}
    env["trust"] = [{"secret": f"{NAMESPACE}/sps-search-es-http-certs-public", "key": "ca.crt"}]
    path = tmp_path / env_file.name
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_target_works_with_exactly_the_permissions_deploy_grants(twin, env_file, tmp_path):
    """Every call of a game day's Kubernetes path, as gameday's ServiceAccount: a permission deploy/
    lacks is a 403 here; one it grants beyond these calls fails tests/unit/test_rbac_calls.py."""
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    target = for_environment(load(least_privileged_env(twin, env_file, tmp_path)), i_mean_production=True)
    target.check_layers()
    assert [n.name for n in target.nodes("kafka")] == ["kafka-1", "kafka-2", "kafka-3"]
    assert target.search_auth()[0] == "elastic"
    assert target.search_admin().health()["status"] in ("green", "yellow")  # HTTPS, basic auth, the CA from a secret
    # kill (budgets read, chaosk8s deletes) and wait (ReplicaSet -> Deployment read)
    victim = target.nodes("web")[0]
    target.kill(victim)
    target.wait_ready(victim, timeout=60)
    # stop / start Deployments' pods (pod patched, Deployment scaled) and a StatefulSet's highest ordinal
    web = target.nodes("web")[0]
    target.stop(web)
    target.start(web)
    indexer = target.nodes("indexer")[-1]
    target.stop(indexer)
    target.start(indexer)
    db = target.nodes("db")[0]  # a StatefulSet of one: its highest ordinal
    target.stop(db)
    target.start(db)
    target.wait_ready(db, timeout=60)
    wait_until(lambda: len([n for n in target.nodes("web") if n.ready]) == 3, timeout=60, what="3 web pods ready")
    # the playbooks' view of every layer (Deployments and StatefulSets listed)
    book = subprocess.run([str(Path(sys.executable).with_name("gameday")), "playbook", "kafka", "--env",
                           str(tmp_path / env_file.name), "--json", "--i-mean-production"], capture_output=True, text=True, timeout=300)
    assert book.returncode in (0, 11) and json.loads(book.stdout)["outcome"] in ("healthy", "needs-restore"), \
        book.stderr[-2000:]
    # the target's Lease and its undo records in gameday's namespace (the gameday-state Role)
    from gameday.chaos import ledger
    from gameday.chaos.lock import lock_for
    lock = lock_for(target.env)
    assert lock.acquire(purpose="rbac check") is None and lock.held_by_me()
    rid = ledger.write(target.env, "remove_toxic", {"proxy": "db", "toxic": "gameday-rbac"}, reason="rbac check")
    assert [r["id"] for r in ledger.pending(target.env)] == [rid]
    assert ledger.done(target.env, rid) and ledger.pending(target.env) == []
    assert lock.release() and lock.holder() is None
    # and nothing beyond: another secret is refused by the API server, in one line
    kubectl(twin, "create", "secret", "generic", "not-for-gameday", "-n", NAMESPACE, "--from-literal=k=v")
    with pytest.raises(GamedayError, match="refused read_namespaced_secret"):
        target._secret_data(NAMESPACE, "not-for-gameday")


def test_a_rolling_restart_replaces_every_web_pod_while_readers_are_served(twin, env_file, tmp_path):
    """experiments/web/rolling-restart.yaml with plain chaos run: the Deployment surges a new pod before
    each old one goes (maxSurge 1, maxUnavailable 0), the load balancer follows, readers are served."""
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    before = {p["metadata"]["name"] for p in pods(twin)}
    site = f"{twin.lb_url}/"
    results: list[bool] = []
    stop = threading.Event()

    def read() -> None:  # a reader at ~20 requests a second on loopback, bounded by the test's deadline
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                results.append(requests.get(site, timeout=5).status_code == 200)
            except requests.RequestException:
                results.append(False)
            stop.wait(0.05)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc, journal = chaos_run("web/rolling-restart.yaml", env_file, tmp_path)
    finally:
        stop.set()
        reader.join(timeout=10)
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    roll = {r["activity"]["name"]: r.get("output") for r in journal["run"]}["roll-the-web-tier"]
    assert roll["touched"] == ["Deployment/web"]
    after = wait_until(lambda: settled(twin), timeout=60, what="three routed web pods after the rollout")
    assert not before & {p["metadata"]["name"] for p in pods(twin)}  # every pod is a new one
    assert after == ready_ips(twin)
    ok = sum(results)
    print(f"\n[figure] rolling restart of 3 web pods on Kubernetes in {roll['rollout_s']}s: "
          f"{ok}/{len(results)} reader requests ok")
    assert len(results) > 20 and ok / len(results) >= 0.98, f"{len(results) - ok} of {len(results)} requests failed"


def test_a_stuck_web_pod_is_replaced_by_the_playbook_through_the_api(twin, env_file):
    """A web pod whose processes hang (SIGSTOP: running, never answering its readiness probe) is
    diagnosed stuck and deleted by `gameday playbook web --apply`; its Deployment makes a new one."""
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    victim = sorted(pods(twin), key=lambda p: p["metadata"]["name"])[0]
    # the playbook calls a pod stuck once it has run for WEB_GRACE_S without being ready
    wait_until(lambda: (started_seconds_ago(victim, time.time()) or 0) > WEB_GRACE_S, timeout=WEB_GRACE_S + 5,
               what="the victim pod to have run past the playbook's grace")
    # the pod's container process and everything under it (the Python site's gunicorn master and workers;
    # WordPress's launcher, php-fpm's master and workers, nginx's): every server of the pod stops answering
    container = psutil.Process(int(victim["status"]["containerStatuses"][0]["containerID"].removeprefix("process://")))
    hung = [container, *container.children(recursive=True)]
    assert len(hung) > 1, f"pod {victim['metadata']['name']}: no server under its container process {container.pid}"
    for proc in hung:
        proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: not any(ready(p) for p in pods(twin) if p["metadata"]["uid"] == victim["metadata"]["uid"]),
                   timeout=30, what="the hung pod to fail its readiness probe")
        result = subprocess.run([str(Path(sys.executable).with_name("gameday")), "playbook", "web", "--env", str(env_file),
                                 "--apply", "--json", "--i-mean-production"], capture_output=True, text=True, timeout=300)
    finally:
        for proc in hung:  # a no-op once the pod's processes are gone
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)
    outcome = json.loads(result.stdout)
    steps = {s["name"]: s for s in outcome["steps"]}
    assert outcome["outcome"] == "restored", result.stdout[-3000:]
    assert f"replaced {victim['metadata']['name']}" in steps["replace-stuck-web"]["did"], steps
    names = {p["metadata"]["name"] for p in pods(twin)}
    assert victim["metadata"]["name"] not in names and len(names) == 3
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods again")


def test_the_web_playbook_rolls_the_deployment_when_asked(twin, env_file):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    before = {p["metadata"]["name"] for p in pods(twin)}
    proc = subprocess.run([str(Path(sys.executable).with_name("gameday")), "playbook", "web", "--env", str(env_file),
                           "--rolling-restart", "--apply", "--json", "--i-mean-production"], capture_output=True, text=True, timeout=400)
    result = json.loads(proc.stdout)
    assert proc.returncode == 10 and result["outcome"] == "restored", proc.stdout[-3000:] + proc.stderr[-2000:]
    step = next(s for s in result["steps"] if s["name"] == "rolling-restart-web")
    assert "Deployment/web" in step["did"]
    assert not before & {p["metadata"]["name"] for p in pods(twin)}  # every pod replaced
    deployment = json.loads(kubectl(twin, "get", "deployment", "web", "-n", NAMESPACE, "-o", "json").stdout)
    assert "kubectl.kubernetes.io/restartedAt" in deployment["spec"]["template"]["metadata"]["annotations"]


def test_a_network_fault_runs_on_the_kubernetes_target_through_the_twins_toxiproxy(twin, env_file, tmp_path):
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    proc, journal = chaos_run("network/cut-web-to-db.yaml", env_file, tmp_path)
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    out = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    assert out["readers-during-the-fault"]["success_ratio"] < 0.5  # the web pods really lost the database
    api = for_environment(load(env_file), i_mean_production=True).toxiproxy_api()
    assert requests.get(f"{api}/proxies", timeout=5).json()["db"]["toxics"] == []  # and the cut was undone


# ---- the lock is a Lease and the undo ledger lives in the cluster (issue 13) ---------------------------

def test_a_chaos_run_acting_in_its_game_days_name_keeps_that_lease_renewed(twin, env_file, monkeypatch):
    """A ``chaos run`` child takes a Lease in its game day's name (``GAMEDAY_LOCK_PID``: a region drill
    takes the other region's); the game day renews only its own, so the child renews that one while it
    runs: another run is refused after twice the Lease's duration, and a second call in the child (the
    next activity) starts no second renewing thread."""
    from gameday.chaos.lock import LeaseLock, TargetLocked

    env = load(env_file)
    game_day = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        monkeypatch.setenv("GAMEDAY_LOCK_PID", str(game_day.pid))
        child = LeaseLock(env, lease_s=3, renew_s=0.5)
        assert child.acquire(purpose="region drill") is None and child.held_by_me()
        again = LeaseLock(env, lease_s=3, renew_s=0.5)
        assert again.acquire(purpose="region drill") is None and again.inherited()
        monkeypatch.delenv("GAMEDAY_LOCK_PID")
        other = LeaseLock(env)  # another run: this process in its own name
        time.sleep(2 * child.lease_s)  # not renewed, the Lease would be stale by now
        with pytest.raises(TargetLocked, match=f"locked by pid {game_day.pid}"):
            other.acquire(purpose="another run")
        assert [t.name for t in threading.enumerate()].count(f"lease-{child.name}") == 1
    finally:
        monkeypatch.setenv("GAMEDAY_LOCK_PID", str(game_day.pid))
        LeaseLock(env).release()
        game_day.kill()
        game_day.wait(timeout=10)
    wait_until(lambda: not child._renewer.is_alive(), timeout=10, what="the renewing thread to stop once released")


def test_a_run_killed_mid_fault_is_cleaned_up_from_another_process_through_the_cluster(twin, env_file, tmp_path):
    """The lock is the Lease gameday-lock-<env> and the undo record a ConfigMap (nothing on this
    machine's disk): a second run is refused while the first holds the Lease; after a SIGKILL
    mid-fault, `gameday cleanup` from another process finds both in the cluster and repairs the fault."""
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods")
    env = load(env_file)
    api = for_environment(env, i_mean_production=True).toxiproxy_api()
    db_toxics = lambda: requests.get(f"{api}/proxies", timeout=5).json()["db"]["toxics"]  # noqa: E731
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        first = subprocess.Popen([str(Path(sys.executable).with_name("chaos")), "--no-log-file", "run",
                                  str(held_fault("network/cut-web-to-db.yaml", tmp_path)), "--rollback-strategy", "always",
                                  "--var-file", str(env_file),
                                  "--var", "gameday_i_mean_production:bool=true"],
                                 cwd=tmp_path, stdout=out, stderr=out)
    try:
        wait_until(lambda: db_toxics() or first.poll() is not None, timeout=120, what="the cut web->db")
        assert db_toxics(), log.read_text()[-3000:]
        lease = json.loads(kubectl(twin, "get", "lease", "-n", NAMESPACE, f"gameday-lock-{env.name}",
                                   "-o", "json").stdout)
        assert lease["spec"]["holderIdentity"].endswith(f"/{first.pid}")
        records = json.loads(kubectl(twin, "get", "configmaps", "-n", NAMESPACE, "-l",
                                     f"gameday.io/undo-target={env.name}", "-o", "json").stdout)["items"]
        assert [json.loads(r["data"]["record.json"])["undo"] for r in records] == ["remove_toxic"]
        before = {p["metadata"]["uid"] for p in pods(twin)}
        proc, journal = chaos_run("web/kill-one-pod.yaml", env_file, tmp_path)
        assert journal["status"] != "completed" and f"is locked by pid {first.pid}" in proc.stderr, proc.stderr[-2000:]
        assert {p["metadata"]["uid"] for p in pods(twin)} == before  # nothing touched
        assert db_toxics()  # and the first run's fault stands
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert db_toxics()  # still broken, its undo recorded only in the cluster, not on this machine
    from gameday.chaos.ledger import FileStore
    assert FileStore(env.name).all() == []
    out = subprocess.run([str(Path(sys.executable).with_name("gameday")), "cleanup", "-e", str(env_file), "--json",
                          "--i-mean-production"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [u["undo"] for u in report["undone"]] == ["remove_toxic"] and report["stale_lock_removed"]
    assert db_toxics() == []
    assert json.loads(kubectl(twin, "get", "configmaps", "-n", NAMESPACE, "-l",
                              f"gameday.io/undo-target={env.name}", "-o", "json").stdout)["items"] == []
    gone = subprocess.run([str(kube_build.binaries()["kubectl"]), "--kubeconfig", str(kube.kubeconfig_path(twin)),
                           "get", "lease", "-n", NAMESPACE, f"gameday-lock-{env.name}"],
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode != 0 and "NotFound" in gone.stderr  # released
    wait_until(lambda: settled(twin), timeout=60, what="three routed web pods after the cut")
