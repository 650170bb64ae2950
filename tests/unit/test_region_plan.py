"""The dry-run plan of a region move says, before anything is touched, whether its stop-writes step
restarts the database: on GKE, read from the Cloud SQL Admin API's ``flags.list`` (``requiresRestart``
of ``read_only``) through the official client against the local Admin server (tests/support/cloudsql.py),
with the instance read for its version, flags and replicas, and nothing patched. The engine puts what a
step foresees (``Step.foresee``) in the planned step's detail, and ``gameday playbook`` prints it."""

from __future__ import annotations

from types import SimpleNamespace

from gameday.cli.playbook import _print_diagnosis
from gameday.errors import GamedayError
from gameday.recovery.engine import Finding, Part, Playbook, Step, run
from gameday.recovery.layers.region import STEPS, _stop_writes_foreseen
from tests.unit.test_kubernetes_regions import PRIMARY, REPLICA, clusters, pair, sql  # noqa: F401 (fixtures)


def _ctx(regions=None):
    return SimpleNamespace(env=SimpleNamespace(name="test"), state=SimpleNamespace(regions=regions))


def _gke(tmp_path, clusters):
    """The GKE region pair with europe-west2 active (its Cloud DNS front is not what this reads)."""
    regions = pair(tmp_path, clusters)
    return SimpleNamespace(active=lambda: "europe-west2", standby=lambda: "europe-west1", target=regions.target)


def _book(foresee, acted):
    step = Step("stop-writes", "Stop writes", deadline_s=5, when=("x.found",), act=lambda ctx: acted.append(1) or "did",
                foresee=foresee)
    return Playbook("x", "x", (Part("x", lambda ctx: [Finding("x.found", "something")], (step,)),))


def test_a_dry_run_says_what_a_step_foresees_and_does_nothing(capsys):
    acted: list[int] = []
    result = run(_book(lambda ctx: "will make r1's database read-only; no restart", acted), _ctx())
    assert result.outcome == "needs-restore" and acted == []
    assert result.steps[0].detail == "will make r1's database read-only; no restart"
    assert result.to_dict()["steps"][0]["detail"] == result.steps[0].detail  # --json says it too
    _print_diagnosis(result)
    assert "1. x/stop-writes: Stop writes (deadline 5s): will make r1's database read-only; no restart" in \
        capsys.readouterr().out.replace("\n", " ")


def test_a_step_that_cannot_foresee_says_why_and_the_plan_goes_on():
    def unreadable(ctx):
        raise GamedayError("Cloud SQL denied permission to list the database flags")
    result = run(_book(unreadable, []), _ctx())
    assert result.steps[0].detail == ("could not tell what it will do: Cloud SQL denied permission to list the "
                                      "database flags")


def test_only_a_dry_run_foresees():
    seen: list[int] = []
    run(_book(lambda ctx: seen.append(1) or "x", []), _ctx(), apply=True)
    assert seen == []


def test_the_region_plan_says_stop_writes_does_not_restart_cloud_sql_when_flags_list_says_so(sql, clusters, tmp_path):
    assert next(s for s in STEPS if s.name == "stop-writes").foresee is _stop_writes_foreseen
    said = _stop_writes_foreseen(_ctx(_gke(tmp_path, clusters)))
    assert said == "will make europe-west2's database read-only (read_only=on); no restart (flags.list (MYSQL_8_0))"
    assert sql.calls("GET", "/v1/flags")[0]["query"]["databaseVersion"] == "MYSQL_8_0"
    assert not sql.changes() and not sql.restarts  # nothing touched


def test_the_region_plan_says_stop_writes_restarts_cloud_sql_and_its_replicas(sql, clusters, tmp_path):
    sql.flag_catalog["read_only"]["requiresRestart"] = True
    said = _stop_writes_foreseen(_ctx(_gke(tmp_path, clusters)))
    assert said == ("will make europe-west2's database read-only (read_only=on); this RESTARTS the database "
                    "(flags.list (MYSQL_8_0) says read_only requires it), and its replicas "
                    f"{REPLICA} restart after it: writes and reads there are interrupted while it restarts")
    assert not sql.changes() and not sql.restarts and sql.instances[PRIMARY]["state"] == "RUNNABLE"


def test_a_fence_already_in_place_would_send_nothing(sql, clusters, tmp_path):
    sql.instances[PRIMARY]["settings"]["databaseFlags"].append({"name": "read_only", "value": "on"})
    sql.flag_catalog["read_only"]["requiresRestart"] = True
    said = _stop_writes_foreseen(_ctx(_gke(tmp_path, clusters)))
    assert said.endswith("; no restart (nothing would be sent: read_only is already on)")
    assert not sql.calls("GET", "/v1/flags") and not sql.changes()
