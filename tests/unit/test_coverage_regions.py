"""The region in the coverage map: platform.yaml's generated ``region`` component names both regions
and the front of ``up --regions 2``, its two cells are linked to the region experiments and playbook,
the map shows which region is active when this machine's region set exists (its front's real state
file), the GKE inventory declares its two clusters, and a game day's region drills count as evidence."""

from __future__ import annotations

import pytest

from gameday.coverage import claims, inventory, matrix, page
from gameday.coverage import regions as region_set
from gameday.coverage import sandbox as sandbox_inventory
from gameday.sandbox.regions import Regions
from gameday.sandbox.twin import Twin
from tests.unit.test_report import T0
from tests.unit.test_report_regions import failover_journal, region_scenario, switchover_journal, write_run

ROOT = inventory.ROOT


def test_the_generated_region_component_names_both_regions_and_the_front():
    data = sandbox_inventory.generate(Twin.create("coverage-test", net=31), claims.scan(ROOT))
    [region] = [c for c in data["components"] if c["id"] == "region"]
    rb = region["realised_by"]
    assert rb["members"] == ["coverage-test", "coverage-test-r2"] and rb["endpoints"] == ["127.33.10.1:8080"]
    assert rb["regions"]["r1"]["network"] == "127.31.0.0/16" and rb["regions"]["r2"]["network"] == "127.32.0.0/16"
    assert rb["regions"]["r2"]["load_balancer"] == "127.32.10.1:8080"
    assert rb["regions"]["r1"]["size"].startswith("3 web, 2 indexers, 3 search nodes")
    assert rb["regions"]["r2"]["size"].startswith("1 web, 1 indexer, 1 search node, the database a cross-region replica")
    assert rb["front"]["twin"] == "coverage-test-global" and rb["command"] == "gameday sandbox up --regions 2"
    modes = {m["id"]: m for m in region["failure_modes"]}
    assert modes["region-lost"]["experiments"] == ["experiments/region/lose-region.yaml"]
    assert modes["switchover"]["experiments"] == ["experiments/region/switchover.yaml"]
    assert modes["region-lost"]["playbooks"] == modes["switchover"]["playbooks"] == ["recovery_playbooks/region.py"]
    assert region["depends_on"] == ["lb"]


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_the_map_says_which_region_is_active_when_the_set_exists_here(state_dir):
    inv = inventory.load(None)
    data = matrix.build(inv, claims.scan(ROOT), state_dir / "reports")
    assert data["regions"]["configured"] is False and data["regions"]["active"] is None
    assert "; not running here (gameday sandbox up --regions 2 starts them)." in page.headline(data)
    # what `up --regions 2` and a switchover leave behind: the front's state file, written by the real code
    Regions.of(Twin.create("default", 10)).record_active("r2", "switched over (test)")
    data = matrix.build(inv, claims.scan(ROOT), state_dir / "reports")
    assert data["regions"]["configured"] is True and data["regions"]["active"] == "r2"
    assert page.headline(data).endswith("Two regions: r1 (default, 127.10.0.0/16) and r2 (default-r2, "
                                        "127.11.0.0/16), readers through default-global; r2 is active now.")
    html = page.html(data)
    assert 'id="region-set"' in html and 'data-region="r2"' in html and 'data-region="front"' in html
    assert "<td>standby</td>" in html and "<td>active</td>" in html


def test_the_gke_inventory_declares_its_two_clusters_and_the_dns_front():
    inv = inventory.load("gke-production")
    info = region_set.described(inv)
    assert list(info["regions"]) == ["europe-west2", "europe-west1"]
    assert region_set.with_live_state(info, inv) is info  # no twin state is read for a cloud inventory
    assert region_set.sentence(info) == (" Two regions: europe-west2 (gke-production) and europe-west1 "
                                         "(gke-production-dr), readers through Cloud DNS.")
    assert {m.id for m in inv.component("region").failure_modes} == {"region-lost", "switchover"}


def test_a_game_day_of_region_drills_proves_both_region_cells(state_dir):
    reports = state_dir / "reports"
    write_run(reports, "run-regions", T0, {"switchover": switchover_journal(T0 + 50),
                                           "lose-region": failover_journal(T0 + 400)},
              region_scenario("switchover", "switchover", T0 + 50),
              region_scenario("lose-region", "lose-region", T0 + 400))
    data = matrix.build(inventory.load(None), claims.scan(ROOT), reports, now=T0 + 3600)
    cells = {f"{c['component']}/{c['failure_mode']}": c for c in data["cells"]}
    assert data["totals"]["cells"] == 27  # 23 before the region's two, 25 before web/workers-exhausted and cdn/cache-flushed
    assert cells["region/switchover"]["status"] == "ok" and cells["region/region-lost"]["status"] == "ok"
    assert cells["region/region-lost"]["last"]["run_id"] == "run-regions"
