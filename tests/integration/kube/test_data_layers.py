"""The data layers as Kubernetes objects on the twin (`gameday sandbox up --kubernetes`): pods
kafka-1..3, search-1..3 and db-1 (StatefulSets) on the twin's fixed addresses, the indexer as a
Deployment; the Kafka-leader and search-node experiments and the storage drills (a broker's disk, the
whole search cluster: every claim and pod, a new cluster restored from its snapshot) with plain ``chaos run`` against
``environments/rehearsal.yaml`` (production: true, so every command passes its consent) and the playbooks
that bring stopped pods back. The game day (suite ``kubernetes``) on this target is the CronJob's, run
from inside the cluster (test_cronjob.py).

The package's twin ``k8s-test`` on 127.35.x.y (conftest.py). Needs the control plane built, so it
carries the ``kubernetes`` marker::

    flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/test_data_layers.py

``-s`` shows the measured figures (experiment timings). A broker pod deleted and back with its name and
address: test_zones.py (its zone lost and restored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gameday import kafka_admin
from gameday.chaos import ledger
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.recovery import Context
from gameday.deadline import wait_until
from gameday.kube.workloads import NAMESPACE
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets.environment import load
from tests.conftest import warm_up
from tests.support.kube_twin import kubectl
from tests.support import search
from tests.support.chaos_journal import assert_steady_before
from tests.integration.test_search_cluster_loss import assert_index_matches_database

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def pods(twin: Twin, name: str) -> list[dict]:
    out = kubectl(twin, "get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={name}", "-o", "json").stdout
    return sorted(json.loads(out)["items"], key=lambda p: p["metadata"]["name"])


def ready(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def all_ready(twin: Twin, name: str) -> bool:
    found = pods(twin, name)
    return len(found) == 3 and all(ready(p) for p in found)


def settled(twin: Twin) -> bool:
    """Every Kafka partition fully replicated and search green (what the experiments' hypothesis asks)."""
    health = kafka_admin.partition_health(twin.kafka_bootstrap())
    green = search.admin(twin).health().get("status") == "green"
    return green and not any(health[k] for k in ("offline", "under_replicated", "under_min_isr"))


def claim_uids(twin: Twin, name: str = "kafka") -> dict[str, str]:
    """The PersistentVolumeClaims (disks) of the Kafka brokers (or search nodes), name -> uid."""
    items = json.loads(kubectl(twin, "get", "pvc", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={name}",
                               "-o", "json").stdout)["items"]
    return {c["metadata"]["name"]: c["metadata"]["uid"] for c in items}


def uids(twin: Twin, name: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(twin, name)}


def outputs(journal_path: Path) -> dict:
    """Each activity's output in a journal, by activity name."""
    return {r["activity"]["name"]: r.get("output") for r in json.loads(journal_path.read_text())["run"]}


def durations(journal: dict) -> str:
    return ", ".join(f"{r['activity']['name']} {r['duration']:.1f}s" for r in journal["run"])


def chaos_run(twin: Twin, experiment: str, env_file: Path, tmp_path: Path) -> dict:
    """Plain chaos run of ``experiment``, from a steady state: the site meets its SLO first (a fresh
    twin's JVMs, or a broker just replaced, answer slowly for a while and the experiment's own
    steady-state probe would then stop it before its method)."""
    warm_up(twin)
    journal_path = tmp_path / "journal.json"
    proc = subprocess.run([str(BIN / "chaos"), "--no-log-file", "run", str(ROOT / "experiments" / experiment),
                           "--rollback-strategy", "always", "--var-file", str(env_file),
                           "--var", "gameday_i_mean_production:bool=true", "--journal-path", str(journal_path)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert journal_path.exists(), proc.stderr[-3000:]
    journal = json.loads(journal_path.read_text())
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    assert journal["run"], f"the method did not run: {proc.stderr[-3000:]}"
    print(f"\n[figure] {experiment}: {durations(journal)}")
    return {r["activity"]["name"]: r.get("output") for r in journal["run"]}


def playbook(layer: str, env_file: Path) -> dict:
    proc = subprocess.run([str(BIN / "gameday"), "playbook", layer, "--env", str(env_file), "--apply", "--json",
                           "--i-mean-production"],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_kubectl_shows_kafka_and_search_pods_ready_on_the_twins_addresses(twin):
    print("\n" + kubectl(twin, "get", "pods", "-n", NAMESPACE, "-o", "wide").stdout)
    for name in ("kafka", "search"):
        found = pods(twin, name)
        assert [p["metadata"]["name"] for p in found] == [f"{name}-{n}" for n in (1, 2, 3)]
        assert all(ready(p) for p in found)
        assert [p["status"]["podIP"] for p in found] == [twin.address(name, n) for n in (1, 2, 3)]
    # the bootstrap job ran after them: the topics and the index exist
    assert kafka_admin.partition_health(twin.kafka_bootstrap(), ["content-events"])["partitions"] > 0
    assert search.admin(twin).primaries_by_node("content")
    for name in ("kafka", "search"):
        pdb = json.loads(kubectl(twin, "get", "pdb", name, "-n", NAMESPACE, "-o", "json").stdout)
        assert pdb["status"]["disruptionsAllowed"] == 1


def test_the_search_node_experiment_passes_with_plain_chaos_run(twin, env_file, tmp_path):
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    before = uids(twin, "search")
    out = chaos_run(twin, "search/kill-data-node.yaml", env_file, tmp_path)
    kill = out["kill-the-node-with-most-primaries"]
    assert kill["target"] == f"rehearsal-{twin.name}" and kill["touched"][0].startswith("search-")
    assert uids(twin, "search")[kill["touched"][0]] != before[kill["touched"][0]]
    print(f"\n[figure] chaos run search/kill-data-node on Kubernetes: killed {kill['touched'][0]}; green after "
          f"{out['time-until-the-cluster-is-green']}, SLO again after {out['time-until-the-slo-holds-again']}")
    wait_until(lambda: all_ready(twin, "search"), timeout=180, what="the three search pods ready")


@pytest.mark.parametrize("layer", ["kafka", "search"])
def test_the_playbook_reports_the_layer_healthy_after_the_experiments(twin, env_file, layer):
    wait_until(lambda: all_ready(twin, "kafka") and all_ready(twin, "search"), timeout=180,
               what="kafka and search pods ready")
    result = playbook(layer, env_file)
    assert result["outcome"] in ("healthy", "restored"), json.dumps(result, indent=1)[-3000:]
    did = "; ".join(f"{s['name']}: {s.get('did') or s.get('status')}" for s in result.get("steps") or [])
    print(f"\n[figure] gameday playbook {layer} on Kubernetes: {result['outcome']} ({did or 'no steps'})")


@pytest.mark.parametrize("layer", ["kafka", "search"])
def test_a_pod_stopped_by_the_target_is_brought_back_by_the_playbook(twin, env_file, layer):
    """The StatefulSet's highest ordinal stopped (scaled away, recorded as stopped by gameday): the
    playbook sees it held, scales the StatefulSet back and waits until every pod is ready."""
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    target = for_environment(load(env_file), i_mean_production=True)
    node = next(n for n in target.nodes(layer) if n.name == f"{layer}-3")
    target.stop(node)
    wait_until(lambda: f"{layer}-3" not in uids(twin, layer), timeout=120, what=f"{layer}-3 to be gone")
    started = time.monotonic()
    result = playbook(layer, env_file)
    assert result["outcome"] == "restored", json.dumps(result, indent=1)[-3000:]
    steps = {s["name"]: s for s in result["steps"]}
    assert f"scaled {layer} 2 -> 3" in steps[f"start-{layer}"]["did"], steps
    assert all_ready(twin, layer)
    sts = json.loads(kubectl(twin, "get", "statefulset", layer, "-n", NAMESPACE, "-o", "json").stdout)
    assert sts["spec"]["replicas"] == 3 and "gameday.io/stopped-pods" not in (sts["metadata"].get("annotations") or {})
    did = "; ".join(f"{s['name']}: {s['did']}" for s in result["steps"])
    print(f"\n[figure] {layer}-3 stopped -> gameday playbook {layer} --apply restored it in "
          f"{time.monotonic() - started:.1f}s ({did})")


def test_the_database_and_the_indexer_are_pods_too(twin):
    db = pods(twin, "db")
    assert [p["metadata"]["name"] for p in db] == ["db-1"] and ready(db[0])
    assert db[0]["status"]["podIP"] == twin.address("db")  # toxiproxy and the site name this address
    owner = db[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("StatefulSet", "db")
    indexers = pods(twin, "indexer")
    assert len(indexers) == 2 and all(ready(p) for p in indexers)
    assert {r["kind"] for p in indexers for r in p["metadata"]["ownerReferences"]} == {"ReplicaSet"}
    pdb = json.loads(kubectl(twin, "get", "pdb", "db", "-n", NAMESPACE, "-o", "json").stdout)
    assert pdb["status"]["disruptionsAllowed"] == 1
    # the supervisor runs none of them any more
    status = json.loads(subprocess.run([str(BIN / "gameday"), "sandbox", "--name", twin.name, "status", "--json"],
                                       capture_output=True, text=True, timeout=60, check=True).stdout)
    assert not [m for m in status["members"] if m["layer"] in ("db", "indexer") and m["pid"]]


@pytest.mark.parametrize("layer, playbook_name, replicas", [("db", "db", 1), ("indexer", "kafka", 2)])
def test_the_database_and_the_indexer_stopped_by_the_target_are_restored_by_their_playbook(
        twin, env_file, layer, playbook_name, replicas):
    """Every pod of the layer stopped (scaled to 0, recorded as stopped by gameday): the playbook
    scales the workload back and verifies it (SQL as the site's user; the indexer's lag drains)."""
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    target = for_environment(load(env_file), i_mean_production=True)
    for node in target.nodes(layer):
        target.stop(node)
    wait_until(lambda: not pods(twin, layer), timeout=120, what=f"every {layer} pod to be gone")
    started = time.monotonic()
    result = playbook(playbook_name, env_file)
    assert result["outcome"] == "restored", json.dumps(result, indent=1)[-3000:]
    steps = {s["name"]: s for s in result["steps"]}
    assert f"scaled {layer} 0 -> {replicas}" in steps[f"start-{layer}"]["did"], steps
    assert all(s["status"] == "ok" for s in result["steps"]), steps
    found = pods(twin, layer)
    assert len(found) == replicas and all(ready(p) for p in found)
    kind = "statefulset" if layer == "db" else "deployment"
    obj = json.loads(kubectl(twin, "get", kind, layer, "-n", NAMESPACE, "-o", "json").stdout)
    assert obj["spec"]["replicas"] == replicas
    assert "gameday.io/stopped-pods" not in (obj["metadata"].get("annotations") or {})
    print(f"\n[figure] every {layer} pod stopped -> gameday playbook {playbook_name} --apply restored it in "
          f"{time.monotonic() - started:.1f}s")


# kafka/kill-partition-leader is the kubernetes suite's (its other scenarios run here, in test_web_pods and,
# the database's, in test_cronjob's game day from inside the cluster). kafka/kill-active-controller (a pod
# delete, as the leader's), search/fail-shards (search's admin API) and search/lose-index (a snapshot restore
# through the admin API and an undo record in the cluster, both paths search/lose-cluster takes here, with
# the replay and the repository registered again) add no path of the Kubernetes target's: they run on the
# sandbox (test_chaos). lose-index ran here until lose-cluster came (20 s of the twin lane's budget).
@pytest.mark.parametrize("experiment", ["kafka/kill-partition-leader.yaml", "kafka/lose-broker-disk.yaml",
                                        "search/lose-cluster.yaml"])
def test_the_rest_of_the_catalog_passes_on_this_target(twin, env_file, tmp_path, experiment):
    """The same experiment files as on the sandbox: the partition leader Kafka's admin API names, its
    pod deleted and replaced at its address; a broker's claim lost with its pod; the whole search
    cluster lost as on ECK (every claim, then every pod), with search's own logic (admin API, snapshot
    restore, replay) behind the Kubernetes target's pods, over its TLS front with the Secret's credentials."""
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    if experiment == "search/lose-cluster.yaml":
        return lose_the_whole_search_cluster(twin, env_file, tmp_path)
    before, claims_before = uids(twin, "kafka"), claim_uids(twin)
    out = chaos_run(twin, experiment, env_file, tmp_path)
    fault = next(iter(out.values()))
    assert fault["target"] == f"rehearsal-{twin.name}" and fault["fault_at"] <= time.time()
    if experiment.startswith("kafka/"):
        victim = f"kafka-{fault['broker_id']}"
        assert fault["touched"] == [victim]
        after = uids(twin, "kafka")
        assert {n for n in before if after.get(n) != before[n]} == {victim}, (before, after)
        # a disk lost: exactly the victim's claim deleted with its pod, a new (empty) one made, nothing to format
        claims_after = claim_uids(twin)
        replaced = {c for c in claims_before if claims_after.get(c) != claims_before[c]}
        assert replaced == ({f"data-{victim}"} if experiment.endswith("lose-broker-disk.yaml") else set()), replaced
        if experiment.endswith("lose-broker-disk.yaml"):
            assert fault["data_dir"] == f"claim {NAMESPACE}/data-{victim}"
            assert out["brokers-whose-storage-is-lost"] == []  # the broker formats its new claim as it starts
            log = kubectl(twin, "logs", "-n", NAMESPACE, victim).stdout
            assert "is not formatted (a new claim): formatting it" in log, log[-2000:]
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green again")


def lose_the_whole_search_cluster(twin: Twin, env_file: Path, tmp_path: Path) -> None:
    """search/lose-cluster.yaml with plain chaos run, the environment allowing every search node
    (``limits.search_max_nodes: 3``; the rehearsal's own is 1): every node's claim deleted, then
    every pod; the pods come back on new, empty claims and form a NEW cluster (another UUID); the
    search playbook (the experiment's method and its undo) registers the repository named in the
    environment, restores the latest snapshot and replays Kafka; the index matches the database, and
    the RPO canaries (publishes through the site, read back from the index) lost nothing."""
    data = yaml.safe_load(env_file.read_text())
    data["configuration"]["gameday_environment"]["limits"]["search_max_nodes"] = 3
    env_file = tmp_path / env_file.name
    env_file.write_text(yaml.safe_dump(data))
    target = for_environment(load(env_file), i_mean_production=True)
    uuid_before = search.admin(twin).request("GET", "/")["cluster_uuid"]
    claims_before = claim_uids(twin, "search")
    assert sorted(claims_before) == [f"elasticsearch-data-search-{n}" for n in (1, 2, 3)]
    canaries = Canaries(CanaryEndpoints.from_context(Context(target=target)), interval=0.5).start()
    try:
        out = chaos_run(twin, "search/lose-cluster.yaml", env_file, tmp_path)
    finally:
        canaries.stop()
    fault = out["lose-the-whole-search-cluster"]
    assert fault["touched"] == ["search-1", "search-2", "search-3"] and fault["cluster_uuid"] == uuid_before
    assert fault["data_dirs"] == [f"claim {NAMESPACE}/elasticsearch-data-search-{n}" for n in (1, 2, 3)]
    claims_after = claim_uids(twin, "search")
    assert set(claims_after) == set(claims_before) and not set(claims_after.values()) & set(claims_before.values())
    assert out["search-nodes-whose-storage-is-lost"] == []  # back on new claims by themselves
    (rebuilt,) = out["rebuild-the-cluster-with-the-search-playbook"]["rebuilt"]
    steps = rebuilt["steps"]
    assert rebuilt["outcome"] == "restored" and all(s["status"] == "ok" for s in steps.values()), steps
    assert {"restore-node-storage", "register-snapshot-repository", "restore-snapshot", "replay-events"} <= set(steps)
    assert out["the-scheduled-snapshot"]["snapshot"] in steps["restore-snapshot"]["did"], steps["restore-snapshot"]
    assert steps["wait-index-matches-database"]["detail"].endswith(": equal"), steps["wait-index-matches-database"]
    uuid_after = search.admin(twin).request("GET", "/")["cluster_uuid"]
    assert uuid_after != uuid_before and rebuilt["cluster_uuid"] == uuid_after
    assert ledger.pending(target.env) == [], "the lost cluster's undo record must be consumed"
    reports = canaries.verify(timeout=120)
    for layer, report in reports.items():
        assert report.acknowledged > 0 and report.lost == [], f"{layer}: {report.to_dict()}"
    count, checksum = assert_index_matches_database(twin)
    print(f"\n[figure] search/lose-cluster on Kubernetes: cluster {uuid_before} lost, new cluster {uuid_after}; "
          f"after the fault: {rebuilt['after_fault_s']}; index = database: {count} articles; canaries: "
          + ", ".join(f"{k} {r.acknowledged} acknowledged, 0 lost" for k, r in reports.items()))
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green again")


def test_two_brokers_at_once_are_refused_by_the_kafka_budget_before_any_pod_goes(twin, env_file, tmp_path):
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    before = uids(twin, "kafka")
    journal_path = tmp_path / "journal.json"
    proc = subprocess.run([str(BIN / "chaos"), "--no-log-file", "run", str(ROOT / "experiments" / "kafka" / "kill-two-brokers.yaml"),
                           "--rollback-strategy", "always", "--var-file", str(env_file), "--var", "gameday_i_mean_production:bool=true",
                           "--journal-path", str(journal_path)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert json.loads(journal_path.read_text())["status"] != "completed"
    assert "taking 2 kafka pods at once would break kafka" in proc.stderr and "nothing was touched" in proc.stderr, \
        proc.stderr[-3000:]
    assert uids(twin, "kafka") == before
