"""A Kubernetes target whose database is Cloud SQL answers the database-roles calls the failover
drill's callers use (``db_roles``, ``nodes("db")``, ``db_replication``, ``db_failover_state``) from
the Admin API, through the official client against the local Admin server (tests/support/cloudsql.py),
in the shape the zone probes and the redundancy watch read. Reads only: nothing is sent but GETs."""

from __future__ import annotations

import pytest

from gameday import zones
from gameday.errors import UsageError
from gameday.recovery.layers.db_failover import describe_state
from gameday.runner.redundancy import db_full
from tests.unit.test_cloudsql import environment, sql, target  # noqa: F401 (fixture)


def test_a_highly_available_instance_is_a_primary_and_its_standby_one_in_each_zone(sql):
    sql.add_instance("sps-db", availability="REGIONAL", zone="europe-west2-a", secondary="europe-west2-b")
    tgt = target(environment())
    assert tgt.db_roles() == {"primary": "sps-db@europe-west2-a", "replicas": ["sps-db@europe-west2-b"],
                              "fenced": [], "lost": [], "mode": "sync", "epoch": 0}
    nodes = {n.name: (n.labels[zones.LABEL], n.labels["role"], n.ready) for n in tgt.nodes("db")}
    assert nodes == {"sps-db@europe-west2-a": ("europe-west2-a", "primary", True),
                     "sps-db@europe-west2-b": ("europe-west2-b", "replica", True)}
    verdict = zones.survivability("db", {name: zone for name, (zone, _r, _ok) in nodes.items()})
    assert verdict.to_dict()["survives_zone_loss"] and not verdict.to_dict()["single_point_of_failure"]
    assert db_full(tgt) == (True, "sps-db@europe-west2-b replicates from sps-db@europe-west2-a, "
                                  "lag not measured (no GTID position)")
    assert describe_state(tgt.db_failover_state()) == ("Cloud SQL sps-db is RUNNABLE (primary in europe-west2-a, "
                                                       "standby in europe-west2-b); no failover in progress")
    assert sql.changes() == []


def test_a_stopped_primary_is_lost_and_its_read_replica_can_take_over(sql):
    sql.add_instance("sps-db", availability="ZONAL")
    sql.add_instance("sps-db-r", availability="ZONAL", replica_of="sps-db")
    sql.instances["sps-db"]["settings"]["activationPolicy"] = "NEVER"  # stopped by its owner: still RUNNABLE
    tgt = target(environment(failover="replica", replica="sps-db-r"))
    roles = tgt.db_roles()
    assert (roles["primary"], roles["replicas"], roles["lost"], roles["mode"]) == ("sps-db", ["sps-db-r"],
                                                                                   ["sps-db"], "async")
    assert [n.ready for n in tgt.nodes("db")] == [False, True]
    assert describe_state(tgt.db_failover_state()).startswith("Cloud SQL sps-db is RUNNABLE but stopped")
    assert sql.changes() == []


def test_a_kubernetes_target_without_cloud_sql_has_no_database_roles(sql):
    data = environment()
    del data["kubernetes"]["db"]["cloud_sql"]
    tgt = target(data)
    assert tgt.db_roles() is None and tgt.db_failover_state() is None and tgt.nodes("db") == []
    assert sql.requests == []


def test_the_redundancy_watch_measures_cloud_sql_and_says_why_not_when_its_roles_cannot_be_read(sql):
    from gameday.measure.phases import NOT_MEASURED
    from gameday.runner.redundancy import Watch

    sql.add_instance("sps-db", availability="REGIONAL")
    tgt = target(environment())
    watch = Watch(tgt.env, layers=("db",), interval_s=0.05, make_target=lambda _env: tgt).start()
    assert watch.before["db"].full and watch.unmeasured == {}
    watch.stop(None)

    sql.fail("GET", "/instances/sps-db", 403, "The client is not authorized to make this request.")
    refused = Watch(tgt.env, layers=("db",), make_target=lambda _env: target(environment())).start()
    [db] = refused.stop(None)
    assert db.status == NOT_MEASURED and db.detail.startswith("the database's roles could not be read: ")
    assert "not authorized" in db.detail


def test_a_cloud_sql_member_is_not_killed_as_a_pod_the_drill_for_it_is_named(sql):
    """kill-database.yaml on a Cloud SQL environment: its members are the Admin API's, and a pod
    delete cannot reach them; one clear refusal naming the drills that can, before any request."""
    sql.add_instance("sps-db", availability="REGIONAL", zone="europe-west2-a", secondary="europe-west2-b")
    tgt = target(environment())
    primary = next(n for n in tgt.nodes("db") if n.labels["role"] == "primary")
    asked = len(sql.requests)
    for act in (tgt.kill, tgt.stop):
        with pytest.raises(UsageError) as err:
            act(primary)
        assert "the database is Cloud SQL here" in str(err.value) and "nothing was touched" in str(err.value)
        assert "experiments/db/lose-primary.yaml" in err.value.hint
    assert len(sql.requests) == asked and sql.changes() == []
