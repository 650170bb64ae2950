"""The WordPress tier's drills of issue 17 that this twin's Python site cannot run: the event relay
stopped (experiments/events/stop-relay.yaml, recovery_playbooks/events.py) and the object cache lost
(experiments/cache/lose-object-cache.yaml, recovery_playbooks/cache.py). Their files, the playbooks'
plans, the database-load arithmetic, and their coverage cells: absent on the Python twin (not an
unproven cell there), proven cells on a WordPress twin. The drills themselves run on real servers in
tests/integration/test_relay_drill.py and test_cache_drill.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gameday import db_load
from gameday.coverage import claims, consistency, inventory
from gameday.coverage import sandbox as sandbox_inventory
from gameday.errors import GamedayError, UsageError
from gameday.recovery import load_playbook
from gameday.recovery.engine import Finding
from gameday.runner import suite
from gameday.sandbox.shape import Shape
from gameday.sandbox.twin import Twin
from gameday.yamlfile import read_yaml

ROOT = Path(__file__).resolve().parents[2]
DRILLS = {"experiments/events/stop-relay.yaml": ("event-relay/relay-stopped", "events"),
          "experiments/cache/lose-object-cache.yaml": ("object-cache/cache-lost", "cache")}


@pytest.mark.parametrize("path", sorted(DRILLS))
def test_each_drill_claims_its_cell_and_restores_through_its_playbook_with_a_rollback(path):
    doc = read_yaml(ROOT / path, "experiment")
    cell, layer = DRILLS[path]
    assert claims.experiment_covers(doc, path) == [cell]
    assert [c["name"] for c in doc["controls"]] == ["gameday-guard", "gameday-safeguard"]
    modules = [a["provider"]["module"] for a in doc["method"]]
    assert f"gameday.chaos.{layer}.actions" in modules and f"gameday.chaos.{layer}.probes" in modules
    assert f"apply_{layer}_playbook" in [a["provider"]["func"] for a in doc["method"]]
    assert [r["provider"]["module"] for r in doc["rollbacks"]] == [f"gameday.chaos.{layer}.actions"]
    text = (ROOT / "recovery_playbooks" / f"{layer}.py").read_text()
    assert claims.playbook_covers(text, layer) == [cell]


def test_the_wordpress_suite_runs_both_drills_judged_by_targets_yaml():
    loaded = suite.load("wordpress").for_environment("sandbox")
    got = {s.name: (s.layer, s.playbook, s.experiment.resolve().relative_to(ROOT).as_posix(), s.targets.rto_s,
                    s.targets.rpo_records) for s in loaded.scenarios}
    assert got["event-relay-stopped"] == ("events", "events", "experiments/events/stop-relay.yaml", 120, 0)
    assert got["object-cache-lost"] == ("cache", "cache", "experiments/cache/lose-object-cache.yaml", 60, 0)
    for name in ("default", "disaster"):  # the Python twin's suites do not run them
        assert not {s.experiment.resolve().relative_to(ROOT).as_posix() for s in suite.load(name).scenarios} & set(DRILLS)


def test_the_playbooks_plan_the_restore_and_every_verification():
    events = load_playbook("events")
    planned = [s.name for _, s in events.plan([Finding("events.members-missing", "relay-1 is stopped"),
                                               Finding("events.backlog", "30 outbox rows are not relayed")])]
    assert planned == ["start-events", "wait-backlog-drained", "verify-backlog-in-kafka", "verify-index-caught-up"]
    cache = load_playbook("cache")
    planned = [s.name for _, s in cache.plan([Finding("cache.members-missing", "cache-1 is stopped")])]
    assert planned == ["start-cache", "verify-cache-answers-and-fills", "report-database-load"]
    assert [s.name for _, s in cache.plan([Finding("cache.not-answering", "cache-1 silent")])][0] == "replace-silent-cache"
    assert [s for _, s in [*events.plan([]), *cache.plan([])] if s.kind == "restore"] == []  # nothing found: nothing done


def test_database_load_is_a_rate_between_two_readings_and_the_spike_their_ratio():
    before = {"at": 100.0, "Questions": 1000, "Com_select": 800}
    warm = db_load.rates(before, {"at": 105.0, "Questions": 1500, "Com_select": 1000})
    assert warm == {"seconds": 5.0, "Questions": 100.0, "Com_select": 40.0}
    lost = db_load.rates({"at": 200.0, "Questions": 5000, "Com_select": 3000},
                         {"at": 202.0, "Questions": 6700, "Com_select": 4500})
    assert db_load.spike(warm, lost) == {"Questions": 8.5, "Com_select": 18.75}
    assert db_load.spike({"Questions": 0}, lost) == {"Questions": None}  # no baseline: no ratio
    assert db_load.rates(before, {"at": 101.0, "Questions": 10, "Com_select": 5}) == {"seconds": 1.0, "restarted": True}
    with pytest.raises(GamedayError, match="not later"):
        db_load.rates(before, before)
    with pytest.raises(GamedayError, match="variable names"):
        db_load.read_counters(_never_connect, ("Questions; DROP TABLE x",), where="db:3306")


def _never_connect(**_kwargs):
    raise AssertionError("a bad counter name must be refused before any connection")


def test_the_python_twin_lists_the_relay_and_the_object_cache_as_absent_not_as_unproven_cells():
    inv = inventory.load()  # platform.yaml: the default (Python) twin
    cells = {f"{c.id}/{m.id}" for c, m in inv.cells()}
    assert {a["id"]: a["failure_modes"] for a in inv.absent} == {"event-relay": ["relay-stopped"],
                                                                  "object-cache": ["cache-lost"],
                                                                  "media": ["uploads-lost"]}
    assert not {"event-relay/relay-stopped", "object-cache/cache-lost"} & cells
    consistency.check(inv, claims.scan(ROOT), ROOT)  # the drills' claims are not problems here
    gke = inventory.load("gke-production")
    assert {a["id"] for a in gke.absent} == {"event-relay", "object-cache", "media"}
    consistency.check(gke, claims.scan(ROOT), ROOT)


def test_a_wordpress_twin_has_both_cells_with_their_experiment_and_playbook():
    twin = dataclasses.replace(Twin.create("default", net=10), shape=Shape(web="wordpress"))
    inv = inventory.parse(sandbox_inventory.generate(twin, claims.scan(ROOT)))
    assert inv.absent == ()
    modes = {f"{c.id}/{m.id}": m for c, m in inv.cells()}
    assert modes["event-relay/relay-stopped"].experiments == ("experiments/events/stop-relay.yaml",)
    assert modes["event-relay/relay-stopped"].playbooks == ("recovery_playbooks/events.py",)
    assert modes["object-cache/cache-lost"].experiments == ("experiments/cache/lose-object-cache.yaml",)
    assert modes["object-cache/cache-lost"].playbooks == ("recovery_playbooks/cache.py",)
    relay = inv.component("event-relay")
    assert relay.layer == "events" and relay.realised_by["members"] == ["relay-1", "relay-2"]
    assert inv.component("object-cache").realised_by["members"] == ["cache-1"]
    # the media store: the uploads the WordPress replicas serve, realised by the web workload, needing nothing
    assert modes["media/uploads-lost"].experiments == ("experiments/web/lose-media-uploads.yaml",)
    assert modes["media/uploads-lost"].playbooks == ("recovery_playbooks/media.py",)
    store = inv.component("media")
    assert store.realised_by["workload"] == "web" and store.depends_on == () and "media" not in inv.component("lb").depends_on
    consistency.check(inv, claims.scan(ROOT), ROOT)


def test_a_claim_of_a_mode_an_absent_component_does_not_have_is_named(tmp_path):
    exp = tmp_path / "experiments" / "events"
    exp.mkdir(parents=True)
    (exp / "x.yaml").write_text("title: x\nextensions:\n  - name: gameday-coverage\n    covers: [event-relay/typo]\n")
    with pytest.raises(UsageError, match="'event-relay' .not run in platform.yaml. has no failure mode 'typo'"):
        consistency.check(inventory.load(), claims.scan(tmp_path), tmp_path)
