"""Issue 15, drill 5 on the Kubernetes twin: three nodes labelled with zones, pods spread over them by
topology, and a zone lost through the Kubernetes API, as on a regional GKE cluster.

The fault runs as production runs it: ``chaos run`` of the zone experiment's own fault
(``experiments/zone/lose-zone.yaml``'s ``lose_zone``, then its readers' probe held) against
``environments/rehearsal.yaml`` with production consent, killed (SIGKILL) during the outage, as a run
that died mid-fault leaves it; then ``gameday cleanup`` in a fresh process undoes it from its record
in the cluster. The zone
chosen is one the database pod is not in (the twin's one db pod is covered by its own drills).

What the test holds: every node carries ``topology.kubernetes.io/zone``; each StatefulSet has one
pod per zone; the zone's nodes are tainted, its Kafka and search pods are deleted and stay Pending
(DoNotSchedule: a zonal disk), a web pod of the zone is replaced in another zone; Kafka keeps every
partition at or above min ISR and search stays yellow or green while the zone is down; after cleanup
the taint is gone and each pod is back in its own zone, with its name and address. The package's
twin (conftest.py)::

    flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/test_zones.py
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from confluent_kafka import KafkaException

from gameday import kafka_admin
from gameday.chaos.zone.probes import zone_layout, zone_outage
from gameday.deadline import wait_until
from gameday.targets.kubernetes_zones import TAINT_KEY, ZONE_KEY
from gameday.targets import for_environment
from gameday.targets.environment import load
from tests.integration.kube.test_data_layers import pods, ready, settled
from tests.support.kube_twin import get

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
EXPERIMENT = ROOT / "experiments" / "zone" / "lose-zone.yaml"


def node_zones(twin) -> dict[str, str]:
    return {n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE_KEY) for n in get(twin, "nodes")["items"]}


def zone_of_pods(twin, name: str) -> dict[str, str | None]:
    zones = node_zones(twin)
    return {p["metadata"]["name"]: zones.get(p["spec"].get("nodeName")) for p in pods(twin, name)}


def brokers(twin) -> set[int]:
    """The broker ids in the cluster's metadata (a fenced broker is not listed)."""
    try:
        return set(kafka_admin.admin(twin.kafka_bootstrap()).list_topics(timeout=5).brokers)
    except KafkaException:
        return {-1}  # unknown: not yet


def serving_without(twin) -> bool:
    """Kafka answers and no partition is offline or under min ISR."""
    try:
        health = kafka_admin.partition_health(twin.kafka_bootstrap(), timeout=10)
    except kafka_admin.KafkaUnavailable:
        return False
    return not health["offline"] and not health["under_min_isr"]


def held_in_the_outage(zone: str, tmp_path: Path) -> Path:
    """The zone experiment's fault on ``zone``, then its readers' probe held for 2 minutes, so the
    test looks during the outage and then kills the run (SIGKILL: nothing of it undoes the zone; a
    run that ends undoes its faults); no hypothesis (the test waited for the steady state), no zone
    return, no rollbacks: ``gameday cleanup`` undoes it from its record."""
    doc = yaml.safe_load(EXPERIMENT.read_text())
    keep = ("lose-the-zone-of-the-database-primary", "readers-while-the-zone-is-down")
    doc["method"] = [a for a in doc["method"] if a["name"] in keep]
    doc["method"][0]["provider"]["arguments"] = {"zone": zone}
    doc["method"][1]["provider"]["arguments"]["window_s"] = 120
    doc.pop("steady-state-hypothesis")
    doc["rollbacks"] = []
    path = tmp_path / "lose-one-zone.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_zone_is_lost_through_the_api_and_comes_back_with_cleanup(twin, env_file, tmp_path):
    zones = node_zones(twin)
    assert sorted(zones.values()) == ["zone-a", "zone-b", "zone-c"], zones
    wait_until(lambda: settled(twin), timeout=180, what="Kafka fully replicated and search green")
    before = {name: zone_of_pods(twin, name) for name in ("kafka", "search", "db")}
    for name in ("kafka", "search"):  # one pod per zone: the spread constraint is DoNotSchedule
        assert sorted(before[name].values()) == ["zone-a", "zone-b", "zone-c"], before
    zone = next(z for z in ("zone-b", "zone-c", "zone-a") if z not in before["db"].values())
    kafka_pod = next(p for p, z in before["kafka"].items() if z == zone)
    search_pod = next(p for p, z in before["search"].items() if z == zone)
    web_before = zone_of_pods(twin, "web")
    configuration = _configuration(env_file)
    target = for_environment(load(env_file), i_mean_production=True)  # members carry their node's zone
    assert {n.name: (n.labels.get("zone"), n.labels.get("node-id")) for n in target.nodes("kafka")} == {
        pod: (z, pod.rsplit("-", 1)[1]) for pod, z in before["kafka"].items()}
    layout = zone_layout(configuration=configuration)["layers"]
    assert layout["kafka"]["survives_zone_loss"] and layout["search"]["survives_zone_loss"], layout
    assert layout["db"]["single_point_of_failure"], layout["db"]  # one db pod: flagged, not hidden
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(twin, "kafka") + pods(twin, "search")}

    def replaced_and_pending(name: str, pod: str) -> bool:
        now = next((p for p in pods(twin, name) if p["metadata"]["name"] == pod), None)
        return bool(now) and now["metadata"]["uid"] != uids[pod] and now["status"].get("phase") == "Pending"

    log = tmp_path / "runner.log"
    started = time.monotonic()
    with open(log, "w") as sink:
        runner = subprocess.Popen([str(BIN / "chaos"), "--no-log-file", "run", str(held_in_the_outage(zone, tmp_path)),
                                   "--var-file", str(env_file), "--var", "gameday_i_mean_production:bool=true"],
                                  cwd=tmp_path, stdout=sink, stderr=sink)
    try:
        wait_until(lambda: runner.poll() is not None or (replaced_and_pending("kafka", kafka_pod)
                                                         and replaced_and_pending("search", search_pod)),
                   timeout=120, what=f"zone {zone}'s Kafka and search pods deleted and kept out")
        assert runner.poll() is None, log.read_text()[-3000:]
        lost_at = time.monotonic() - started
        tainted = [n["metadata"]["name"] for n in get(twin, "nodes")["items"]
                   if any(t["key"] == TAINT_KEY for t in n["spec"].get("taints") or [])]
        assert tainted == [n for n, z in zones.items() if z == zone]
        time.sleep(3)  # the scheduler has seen them long since: still not placed (DoNotSchedule, the zone tainted)
        for name, pod in (("kafka", kafka_pod), ("search", search_pod)):
            assert replaced_and_pending(name, pod), next(p for p in pods(twin, name) if p["metadata"]["name"] == pod)
        wait_until(lambda: len([p for p in pods(twin, "web") if ready(p)]) == 3, timeout=120,
                   what="three web pods ready again, outside the lost zone")
        assert zone not in zone_of_pods(twin, "web").values(), (web_before, zone_of_pods(twin, "web"))
        # the lost broker leaves the cluster's metadata once fenced (its session, 9 s): until then a client
        # may still be sent to it; then the two left serve
        lost_id = int(kafka_pod.rsplit("-", 1)[1])
        wait_until(lambda: lost_id not in brokers(twin), timeout=90, what=f"broker {lost_id} fenced")
        wait_until(lambda: serving_without(twin), timeout=60, what="Kafka serving from the two zones left")
        outage = zone_outage(configuration=configuration)
        health = kafka_admin.partition_health(twin.kafka_bootstrap(), timeout=10)
    finally:
        runner.send_signal(signal.SIGKILL)  # the run dies mid-fault: its undo stays recorded in the cluster
        runner.wait(timeout=10)
    assert outage["zone"] == zone and outage["layers"]["kafka"]["lost"] == [kafka_pod], outage
    assert outage["layers"]["kafka"]["lost_down"] and outage["layers"]["search"]["lost_down"], outage
    assert {"kafka", "search", "web", "db"} <= set(outage["survived"]), {k: v["detail"] for k, v in outage["layers"].items()}
    assert not health["offline"] and not health["under_min_isr"], health
    print(f"\n[figure] zone {zone} lost through the API: its pods deleted and kept out {lost_at:.1f}s after "
          "the run started")
    proc = subprocess.run([str(BIN / "gameday"), "cleanup", "--env", str(env_file), "--i-mean-production", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    undone = json.loads(proc.stdout)["undone"]
    assert [u["undo"] for u in undone] == ["restore_zone"], undone
    assert not [n for n in get(twin, "nodes")["items"] if n["spec"].get("taints")]
    wait_until(lambda: settled(twin), timeout=240, what="Kafka fully replicated and search green after the zone")
    print(f"[figure] ... the zone back (cleanup) and full redundancy {time.monotonic() - started:.1f}s after the "
          "run started")
    for name in ("kafka", "search"):  # each pod back in its own zone, on its own address
        assert zone_of_pods(twin, name) == before[name]
        assert all(ready(p) for p in pods(twin, name))
        assert [p["status"]["podIP"] for p in pods(twin, name)] == [twin.address(name, n) for n in (1, 2, 3)]


def _configuration(env_file: Path) -> dict:
    """The experiment configuration a --var-file gives (the probe reads it as chaos run would)."""
    data = yaml.safe_load(env_file.read_text())["configuration"]
    return {**data, "gameday_i_mean_production": True}
