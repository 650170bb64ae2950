"""Zones (issue 15, drill 5): the twin's members are labelled with three zones and each layer is spread
across them; which components survive losing a zone (quorum and min ISR counted), single points of
failure flagged; the coverage map carries it; the zone fault's arguments are refused clearly."""

from __future__ import annotations

import dataclasses

import pytest

from gameday import zones
from gameday.chaos.undo import UNDO
from gameday.coverage import claims, inventory, matrix
from gameday.coverage import sandbox as sandbox_inventory
from gameday.sandbox import topology
from gameday.sandbox.shape import Shape
from gameday.sandbox.twin import Twin

ROOT = inventory.ROOT


def test_zone_for_is_round_robin_over_three_zones():
    assert [zones.zone_for(i) for i in range(1, 7)] == ["zone-a", "zone-b", "zone-c", "zone-a", "zone-b", "zone-c"]
    with pytest.raises(ValueError):
        zones.zone_for(0)


def test_every_twin_member_is_labelled_and_each_spread_layer_covers_the_zones():
    topo = topology.build(Twin.create("zones-test", net=32))
    by_layer: dict[str, dict[str, str]] = {}
    for w in topo.workloads:
        for m in w.members[:w.replicas]:
            assert m.labels.get(zones.LABEL) in (*zones.ZONES, zones.REGIONAL), (m.name, m.labels)
            by_layer.setdefault(w.layer, {})[m.name] = m.labels[zones.LABEL]
    for layer in ("web", "kafka", "search"):
        assert sorted(by_layer[layer].values()) == list(zones.ZONES), layer
    assert by_layer["db"] == {"db-1": "zone-a", "db-2": "zone-b"}  # primary and replica in different zones
    assert set(by_layer["indexer"].values()) == {"zone-a", "zone-b"}
    assert by_layer["lb"] == {"lb-1": zones.REGIONAL}  # stands for a regional cloud load balancer
    assert set(by_layer["toxiproxy"].values()) == {zones.REGIONAL}


def test_survivability_counts_quorum_and_min_isr():
    spread = {"x-1": "zone-a", "x-2": "zone-b", "x-3": "zone-c"}
    for component in ("kafka-brokers", "kafka-controllers", "search", "web"):
        v = zones.survivability(component, spread)
        assert v.survives and not v.single_point, (component, v.why)
    # two brokers in one zone: losing it leaves 1, below min ISR 2
    v = zones.survivability("kafka-brokers", {"kafka-1": "zone-a", "kafka-2": "zone-a", "kafka-3": "zone-b"})
    assert not v.survives and not v.single_point and "losing zone-a leaves 1 of 3; it needs 2" in v.why
    db = zones.survivability("db", {"db-1": "zone-a", "db-2": "zone-b"})
    assert db.survives and "failover" in db.why


def test_a_single_instance_or_a_single_zone_is_a_single_point_of_failure():
    one = zones.survivability("web", {"web-1": "zone-a"})
    assert not one.survives and one.single_point and "single instance" in one.why
    same = zones.survivability("web", {"web-1": "zone-b", "web-2": "zone-b"})
    assert not same.survives and same.single_point and "every member is in zone-b" in same.why
    unlabelled = zones.survivability("web", {"web-1": None, "web-2": None})
    assert unlabelled.single_point and "unlabelled" in unlabelled.zones
    regional = zones.survivability("lb", {"lb-1": zones.REGIONAL})
    assert regional.survives and regional.regional and not regional.single_point


def test_the_sandbox_inventory_shows_each_components_zones_and_verdict():
    # the default tier's twin (Shape()), whatever shape a twin named default on this machine was left with
    twin = dataclasses.replace(Twin.create("default", net=10), shape=Shape())
    data = sandbox_inventory.generate(twin, claims.scan(ROOT))
    rb = {c["id"]: c["realised_by"] for c in data["components"]}
    assert rb["kafka-brokers"]["zones"] == {"zone-a": ["kafka-1"], "zone-b": ["kafka-2"], "zone-c": ["kafka-3"]}
    assert rb["db"]["zones"] == {"zone-a": ["db-1"], "zone-b": ["db-2"]}
    region = rb.pop("region")  # whole twins, each spread over every zone: no zone verdict of its own
    assert "zones" not in region and region["members"] == ["default", "default-r2"]
    assert all(r["survives_zone_loss"] for r in rb.values()), {k: r["zone_loss"] for k, r in rb.items()}
    assert rb["lb"]["zones"] == {zones.REGIONAL: ["lb-1"]} and "regional" in rb["lb"]["zone_loss"]
    assert {h["workload"]: h["zones"] for h in data["harness"]}["toxiproxy"] == [zones.REGIONAL]


def test_the_coverage_map_lists_zone_survival_and_flags_a_one_zone_layer(tmp_path):
    twin = dataclasses.replace(Twin.create("default", net=10), shape=Shape())  # whatever this machine's default twin is
    data = sandbox_inventory.generate(twin, claims.scan(ROOT))
    for c in data["components"]:
        if c["id"] == "search":  # every node moved into one zone: no longer survives; flagged
            c["realised_by"]["zones"] = {"zone-c": ["search-1", "search-2", "search-3"]}
    inv = inventory.parse(data)
    built = matrix.build(inv, claims.scan(ROOT), tmp_path)
    by_id = {z["component"]: z for z in built["zones"]}
    assert by_id["kafka-brokers"]["survives_zone_loss"] and by_id["db"]["survives_zone_loss"]
    assert not by_id["search"]["survives_zone_loss"] and by_id["search"]["single_point_of_failure"]
    spof = {s["component"]: s["members"] for s in built["single_points_of_failure"]}
    assert spof["search"] == ["search-1", "search-2", "search-3"]
    assert spof["lb"] == ["lb-1"]  # one instance on the twin, regional or not


def test_an_inventory_without_zones_has_no_zone_section(tmp_path):
    inv = inventory.load("gke-production")
    assert matrix.build(inv, claims.scan(ROOT), tmp_path)["zones"] == []


def test_the_zone_fault_has_an_undo_any_process_can_run():
    assert "restore_zone" in UNDO


def test_check_zone_names_the_zones():
    assert zones.check_zone("zone-b") == "zone-b"
    with pytest.raises(ValueError, match="zone-a, zone-b, zone-c"):
        zones.check_zone("regional")


def test_the_report_shows_what_each_layer_kept_while_the_zone_was_down(tmp_path):
    import json

    from gameday.report import render
    from tests.unit.test_report import build, scenario

    sc = scenario("lose-zone", rto_target=120, down_for=3)
    sc.artifacts = {"journal": "journals/lose-zone.json"}
    report = build(sc)
    run = tmp_path / "reports" / report["run_id"]
    (run / "journals").mkdir(parents=True)
    outage = {"zone": "zone-a", "zone_down": True, "survived": ["web", "db"], "not_survived": ["search"],
              "layers": {"web": {"lost": ["web-1"], "left": ["web-2", "web-3"], "serving": True, "detail": "2 of 3 ready"},
                         "db": {"lost": ["db-1"], "left": ["db-2"], "serving": True, "detail": "db-2 is the primary, writable"},
                         "search": {"lost": ["search-1"], "left": [], "serving": False, "detail": "cluster red"}}}
    (run / "journals" / "lose-zone.json").write_text(json.dumps({"run": [
        {"activity": {"type": "probe", "provider": {"module": "gameday.chaos.zone.probes", "func": "zone_outage"}},
         "output": outage}]}))
    render.write(report, run)
    saved = json.loads((run / "summary.json").read_text())
    assert saved["coverage"]["zone_outages"][0]["zone"] == "zone-a"
    assert {z["component"] for z in saved["coverage"]["zones"]} >= {"db", "kafka-brokers", "search", "web", "lb"}
    html = (run / "report.html").read_text()
    assert 'id="zone-survival"' in html and "zone-a down" in html
    assert "kept serving (lost db-1): db-2 is the primary, writable" in html
    assert "did not survive (lost search-1): cluster red" in html


def test_an_unknown_zone_is_refused_before_anything_is_touched():
    from chaoslib.exceptions import InterruptExecution

    from gameday.chaos.zone.actions import lose_zone
    configuration = {"gameday_environment": {"name": "zones-unit", "kind": "sandbox", "allowed": True,
                                             "production": False, "sandbox": "zones-unit-absent", "net": 39}}
    with pytest.raises(InterruptExecution, match="zone must be one of zone-a, zone-b, zone-c, not 'zone-x'"):
        lose_zone(zone="zone-x", dry_run=True, configuration=configuration)


def test_the_zone_lost_taint_is_added_once_and_removed_leaving_other_taints_alone():
    from gameday.targets.kubernetes_zones import TAINT_KEY, zone_taints
    theirs = [{"key": "dedicated", "value": "search", "effect": "NoSchedule"}]
    lost = zone_taints(theirs, "zone-b", lost=True)
    assert lost == theirs + [{"key": TAINT_KEY, "value": "zone-b", "effect": "NoSchedule"}]
    assert zone_taints(lost, "zone-b", lost=True) == lost  # twice: still one
    assert zone_taints(lost, "zone-b", lost=False) == theirs
    assert zone_taints(None, "zone-a", lost=False) == []


def test_the_node_agent_reads_each_nodes_zone_from_its_argument():
    from gameday.kube.agent import _node_arg
    from gameday.kube.nodes import Node, labels
    assert _node_arg("t-node-2=127.35.102.0/24,zone-b") == ("t-node-2", "127.35.102.0/24", "zone-b")
    assert _node_arg("t-node-1=127.35.101.0/24") == ("t-node-1", "127.35.101.0/24", None)
    with pytest.raises(ValueError):
        _node_arg("t-node-1=not-a-cidr,zone-a")
    with pytest.raises(ValueError):
        _node_arg("=127.35.101.0/24")
    node = Node(name="t-node-2", pod_cidr="127.35.102.0/24", address="127.35.90.5", port=10250, zone="zone-b")
    assert labels(node)["topology.kubernetes.io/zone"] == "zone-b"
    assert "topology.kubernetes.io/zone" not in labels(Node("n", "127.0.0.0/24", "127.0.0.1", 1))
