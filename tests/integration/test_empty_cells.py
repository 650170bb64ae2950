"""Issue 15 item 7, the coverage map's empty cells, each on the real session twin (127.20.x.y):

- indexer/poison-message: ``chaos run experiments/kafka/poison-events.yaml`` publishes 4 events the
  indexer cannot process (3 it cannot parse, 1 search refuses), then editors publish 3 updates; the
  updates become searchable, the dead-letter topic holds exactly the 4 (each with its error and
  source offset), the indexer is past
  them, and the kafka playbook reports them once (finding indexer.dead-lettered), then not again.
- web/replica-not-ready: ``chaos run experiments/web/replica-not-ready.yaml`` wedges one web replica
  (its process runs, /readyz answers 503); the load balancer stops sending it readers with no error
  seen, the web playbook finds it (web.members-stuck) and replaces it (a new pid, ready again), and
  nothing is left held.
- lb/process-lost: ``chaos run experiments/lb/kill-load-balancer.yaml`` kills the one HAProxy; the
  supervisor starts a new one, the site meets its SLO again (the time is the journal's), the probe
  says the load balancer is a single point of failure, and no undo is left.

Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_empty_cells.py``.
"""

from __future__ import annotations

import pytest

from gameday import kafka_records
from gameday.chaos import ledger
from gameday.recovery import HEALTHY, RESTORED, Context, load_playbook, run
from gameday.targets import for_environment
from gameday.targets.environment import load as load_env
from tests.integration.test_chaos import ENV_FILE, ROOT, chaos_run, outputs
from tests.support.chaos_journal import assert_steady_before

ENV = "sandbox-test"


@pytest.fixture
def target(steady_twin):
    return for_environment(load_env(ENV))


def test_poison_events_are_dead_lettered_and_indexing_goes_on(target, tmp_path):
    proc, journal = chaos_run(ROOT / "experiments" / "kafka" / "poison-events.yaml", tmp_path, var_file=ENV_FILE,
                              timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    out = outputs(journal)
    fault = out["publish-poison-events"]
    assert len(fault["published"]) == 4
    assert out["time-until-the-updates-are-searchable"]["ids"] == [41, 42, 43]
    assert not ledger.matching(target.env, "skip_poison_events")  # the rollback found the indexer past them

    mine = [r for r in target.dead_letters() if r["key"] == fault["key"].encode()]
    assert len(mine) == 4  # exactly the poison, once each
    assert sorted((int(r["headers"]["gameday.source.partition"]), int(r["headers"]["gameday.source.offset"]))
                  for r in mine) == sorted((p["partition"], p["offset"]) for p in fault["published"])
    assert all(r["headers"]["gameday.error"] for r in mine)
    assert sum(r["headers"]["gameday.error"].startswith("refused by search: HTTP 400") for r in mine) == 1
    committed = kafka_records.committed(target.kafka_bootstrap(), "indexer", "content-events")
    assert all(committed[p["partition"]] > p["offset"] for p in fault["published"])

    ctx = Context(target=target)
    result = run(load_playbook("kafka"), ctx, apply=True)
    found = [f for f in result.findings if f.code == "indexer.dead-lettered"]
    assert result.outcome == RESTORED and len(found) == 1, result.to_dict()
    assert {(o["partition"], o["offset"]) for o in found[0].data["offsets"]} >= {
        (p["partition"], p["offset"]) for p in fault["published"]}
    again = run(load_playbook("kafka"), Context(target=target), apply=False)
    assert "indexer.dead-lettered" not in {f.code for f in again.findings}, again.to_dict()
    assert again.outcome == HEALTHY, again.to_dict()


def test_a_web_replica_that_runs_but_is_not_ready_is_skipped_by_the_lb_and_replaced(target, twin_client, tmp_path):
    proc, journal = chaos_run(ROOT / "experiments" / "web" / "replica-not-ready.yaml", tmp_path, var_file=ENV_FILE,
                              timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    out = outputs(journal)
    wedged = out["wedge-one-web-pod"]["touched"][0]
    old_pid = out["wedge-one-web-pod"]["pid"]
    skipped = out["time-until-the-load-balancer-skips-it"]
    assert skipped["not_ready"] == [wedged] and skipped["errors"] == 0
    assert wedged not in skipped["served_by"] and sum(skipped["served_by"].values()) == skipped["requests"]
    replaced = out["the-web-playbook-replaces-it"]
    stuck = [f for f in replaced["findings"] if f["code"] == "web.members-stuck"]
    assert replaced["outcome"] == RESTORED and stuck and stuck[0]["data"]["members"] == [wedged], replaced
    assert "wedged" in stuck[0]["data"]["readyz"][wedged]
    member = twin_client.member(wedged)
    assert member["ready"] and member["pid"] not in (None, old_pid)
    assert not ledger.matching(target.env, "make_ready")


def test_the_load_balancer_killed_comes_back_and_is_a_single_point_of_failure(target, twin_client, tmp_path):
    before = twin_client.member("lb-1")
    proc, journal = chaos_run(ROOT / "experiments" / "lb" / "kill-load-balancer.yaml", tmp_path, var_file=ENV_FILE,
                              timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and not journal["deviated"], proc.stderr[-3000:]
    out = outputs(journal)
    assert out["load-balancer-instances"] == {"members": ["lb-1"], "ready": 1, "single_point_of_failure": True}
    assert out["kill-the-load-balancer"]["touched"] == ["lb-1"]
    back = out["time-until-the-site-answers-again"]
    assert back["seconds"] >= 0 and out["time-until-the-slo-holds-again"] >= 0
    print(f"lb-1 killed: the site answered again {back['seconds']} s after the kill ({back['failed']} requests failed "
          f"meanwhile); SLO held again {out['time-until-the-slo-holds-again']} s after that")
    after = twin_client.member("lb-1")
    assert after["ready"] and after["pid"] not in (None, before["pid"]) and after["restarts"] > before["restarts"]
    assert not ledger.matching(target.env, "start_node", layer="lb")
