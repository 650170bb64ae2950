"""Issue 13, item 9 (and item 7's site_url): bad input gets one clear error listing every problem,
exit 2 and no traceback, before anything is touched; the JSON Schemas in schemas/ are the models'."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from gameday.cli import main
from gameday.coverage import inventory
from gameday.errors import UsageError
from gameday.load.model import TrafficModel
from gameday.recovery import targets_yaml
from gameday.runner import suite
from gameday.schema import publish
from gameday.targets import environment

ROOT = Path(__file__).resolve().parents[2]
LOADERS: dict[str, Callable[[Path], Any]] = {
    "environment": environment.load, "suite": suite.load, "targets": targets_yaml.load,
    "traffic": TrafficModel.load, "platform": inventory.load,
}
ALIAS_BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]) + "\n"


def sandbox_file() -> dict:
    return yaml.safe_load((ROOT / "environments" / "sandbox.yaml").read_text())


def default_suite() -> dict:
    return yaml.safe_load((ROOT / "experiments" / "suites" / "default.yaml").read_text())


def write(tmp_path: Path, data: Any, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("name", LOADERS)
def test_every_loader_refuses_a_directory_and_non_utf8_bytes(name, tmp_path):
    folder = tmp_path / "d.yaml"
    folder.mkdir()
    with pytest.raises(UsageError, match="is a directory"):
        LOADERS[name](folder)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(UsageError, match=r"is not UTF-8 text \(byte 9 is 0xe9\)"):
        LOADERS[name](latin)


@pytest.mark.parametrize("name", LOADERS)
def test_every_loader_refuses_an_alias_bomb_without_expanding_it(name, tmp_path):
    assert len(ALIAS_BOMB) < 800  # 9^9 = 387 million leaves once expanded
    path = write(tmp_path, ALIAS_BOMB)
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=r"an alias \(\*a\) is not allowed"):
            LOADERS[name](path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{peak:,} bytes to refuse a {len(ALIAS_BOMB)}-byte file"


@pytest.mark.parametrize("name", LOADERS)
def test_every_loader_refuses_a_duplicate_key(name, tmp_path):
    path = write(tmp_path, "production: false\nnet: 10\nproduction: true\n")
    with pytest.raises(UsageError, match="line 3.*the key 'production' is given twice; keep one"):
        LOADERS[name](path)


def test_wrong_types_in_an_environment_are_all_named_in_one_message(tmp_path):
    data = sandbox_file()
    env = data["configuration"]["gameday_environment"]
    env.update(net="abc", limits=[1], production="yes", kind="mainframe", colour="blue")
    with pytest.raises(UsageError) as err:
        environment.load(write(tmp_path, data))
    message = str(err.value)
    assert "5 problems" in message and "Traceback" not in message
    for words in ("gameday_environment.net must be a whole number, not 'abc'",
                  "gameday_environment.limits must be a mapping (key: value), not a list",
                  "gameday_environment.production must be true or false, not 'yes'",
                  "gameday_environment.kind must be 'sandbox' or 'kubernetes', not 'mainframe'",
                  "gameday_environment: unknown key 'colour'"):
        assert words in message, message


def test_out_of_range_limits_and_net_are_refused_with_their_range():
    data = sandbox_file()["configuration"]["gameday_environment"]
    data["limits"] = {**data["limits"], "emergency_error_ratio": 7, "web_max_percent": 150, "kafka_max_brokers": 1.5}
    data["net"] = 300
    with pytest.raises(UsageError) as err:
        environment.from_mapping(data, "env.yaml")
    message = str(err.value)
    assert "4 problems" in message
    assert "limits.emergency_error_ratio must be between 0 and 1, not 7" in message
    assert "limits.web_max_percent must be between 0 and 100, not 150" in message
    assert "limits.kafka_max_brokers must be a whole number, not 1.5" in message
    assert "net must be a whole number from 0 to 255, not 300" in message


def test_a_typo_keeps_its_did_you_mean():
    data = sandbox_file()["configuration"]["gameday_environment"]
    data["limts"] = data.pop("limits")
    with pytest.raises(UsageError) as err:
        environment.from_mapping(data, "env.yaml")
    assert str(err.value) == "env.yaml: unknown key 'limts' -> did you mean 'limits'?"


def test_wrong_types_in_a_suite_are_all_named_before_any_fault(tmp_path):
    data = default_suite()
    data["slo"] = 5
    data["scenarios"][0]["experiment"] = 5
    data["scenarios"][1]["targets"] = [30]
    data["scenarios"][2]["layer"] = "mainframe"
    data["scenarios"][3]["playbook"] = "wbe"
    data["scenarios"][4]["experiment"] = "experiments/web/nope.yaml"
    with pytest.raises(UsageError) as err:
        suite.load(write(tmp_path, data))
    message = str(err.value)
    assert "6 problems" in message
    for words in ("slo must be a mapping (key: value), not 5",
                  "scenarios[0].experiment must be text, not 5",
                  "scenarios[1].targets must be a mapping (key: value), not a list",
                  "scenarios[2].layer must be 'web', 'db', 'kafka', 'search', 'indexer', 'network', 'site', "
                  "'region', 'events' or 'cache', not 'mainframe'",
                  "scenarios[3].playbook is not a playbook -> one of " + ", ".join(sorted(
                      p.stem for p in (ROOT / "recovery_playbooks").glob("*.py") if not p.stem.startswith("_"))),
                  "scenarios[4].experiment: experiment experiments/web/nope.yaml does not exist"):
        assert words in message, message


def test_a_suite_may_not_reach_outside_experiments(tmp_path):
    data = default_suite()
    data["scenarios"][0]["experiment"] = "experiments/../environments/sandbox.yaml"
    data["scenarios"][1]["name"] = "../escape"
    data["scenarios"][2]["name"] = data["scenarios"][3]["name"]
    with pytest.raises(UsageError) as err:
        suite.load(write(tmp_path, data))
    message = str(err.value)
    assert "scenarios[0].experiment is not in the right form" in message
    assert "scenarios[1].name is not in the right form, not '../escape'" in message
    assert f"the name {data['scenarios'][3]['name']!r} is used twice" in message


@pytest.mark.parametrize("load, name", [(environment.load, "../environments/sandbox"),
                                        (suite.load, "../suites/default"), (suite.load, "a/b"),
                                        (inventory.load, "../platform")])
def test_a_name_with_a_slash_or_dots_never_becomes_a_path(load, name):
    with pytest.raises(UsageError, match="is not a name: use letters, digits"):
        load(name)


def test_an_environment_name_inside_the_file_is_a_safe_name():
    data = sandbox_file()["configuration"]["gameday_environment"]
    for bad in ("../x", "a/b", ".hidden", "a..b"):
        with pytest.raises(UsageError, match="name is not in the right form"):
            environment.from_mapping({**data, "name": bad}, "env.yaml")
        with pytest.raises(UsageError, match="sandbox is not in the right form"):
            environment.from_mapping({**data, "sandbox": bad}, "env.yaml")


def test_a_site_url_with_credentials_is_refused_without_echoing_them():
    data = sandbox_file()["configuration"]["gameday_environment"]
    for url in ("http://gameday:s3cr3t-Pw@127.10.10.1:8080/", "https://s3cr3t-Pw@site.example/",
                "http://:s3cr3t-Pw@site.example/"):
        with pytest.raises(UsageError) as err:
            environment.from_mapping({**data, "site_url": url}, "env.yaml")
        assert "site_url: carries credentials" in str(err.value)
        assert "s3cr3t" not in str(err.value) and "gameday:" not in str(err.value)
    assert environment.from_mapping({**data, "site_url": "http://127.10.10.1:8080/"}, "e").site_url


def test_targets_yaml_names_every_missing_objective(tmp_path):
    data = yaml.safe_load((ROOT / "targets.yaml").read_text())
    data["defaults"]["layers"]["site"] = {"rto_s": 600}
    data["defaults"]["slo"]["success_ratio"] = 2
    with pytest.raises(UsageError) as err:
        targets_yaml.load(write(tmp_path, data))
    message = str(err.value)
    assert "4 problems" in message
    for key in ("rpo_records", "rpo_s", "min_availability"):
        assert f"defaults.layers.site.{key} is missing" in message
    assert "defaults.slo.success_ratio must be between 0 and 1, not 2" in message


def test_traffic_refuses_500_billion_users_and_names_every_problem():
    data = yaml.safe_load((ROOT / "loadtests" / "traffic.yaml").read_text())
    data["audience"]["monthly_active_users"] = 500_000_000_000
    data["audience"]["cdn_hit_ratio"] = 1.0
    data["journeys"]["search"] = "lots"
    with pytest.raises(UsageError) as err:
        TrafficModel.from_dict(data, source="traffic.yaml")
    message = str(err.value)
    assert "3 problems" in message
    assert "audience.monthly_active_users must be more than 0 and at most 1000000000, not 500000000000" in message
    assert "audience.cdn_hit_ratio must be at least 0 and less than 1, not 1.0" in message
    assert "journeys.search must be a number, not 'lots'" in message


def test_traffic_within_bounds_but_beyond_any_generator_is_refused():
    data = yaml.safe_load((ROOT / "loadtests" / "traffic.yaml").read_text())
    data["audience"].update(monthly_active_users=900_000_000, pages_per_session=500, surge_factor=50)
    with pytest.raises(UsageError, match="more than gameday drives"):
        TrafficModel.from_dict(data, source="traffic.yaml")


def test_platform_problems_are_listed_together():
    data = {"schema": "gameday.platform/v1", "platform": "x", "components": [
        {"id": "a", "name": "A", "kind": "k", "depends_on": ["b"], "failure_mdoes": []},
        {"id": "a", "name": "A2", "kind": 5}]}
    with pytest.raises(UsageError) as err:
        inventory.parse(data)
    message = str(err.value)
    assert "4 problems" in message
    assert "components[0]: unknown key 'failure_mdoes' -> did you mean 'failure_modes'?" in message
    assert "components[1].kind must be text, not 5" in message
    assert "the id 'a' is listed twice" in message and "depends on 'b', which is not in the inventory" in message


@pytest.mark.parametrize("argv, words", [
    (["load", "run", "--profile", "smoke", "--processes", "100000"], "'--processes': 100000 is not in the range"),
    (["load", "run", "--profile", "smoke", "--expect-workers", "-1"], "'--expect-workers': -1 is not in the range"),
    (["load", "run", "--profile", "smoke", "--pacing", "0"], "'--pacing': 0.0 is not in the range"),
    (["load", "run", "--profile", "smoke", "--master-bind", "h:70000"], "--master-bind 'h:70000' is not HOST:PORT"),
])
def test_out_of_range_flags_exit_2_before_anything_runs(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_bad_files_exit_2_with_the_message_and_no_traceback(tmp_path, capsys):
    bad_suite = write(tmp_path, {**default_suite(), "slo": 5}, "suite.yaml")
    assert main(["run", "--suite", str(bad_suite), "--env", "sandbox", "--no-install",
                 "--reports", str(tmp_path / "reports")]) == 2
    assert main(["run", "--suite", "smoke", "--env", "../sandbox", "--reports", str(tmp_path / "reports")]) == 2
    assert main(["load", "plan", "--traffic", str(tmp_path)]) == 2
    markup = write(tmp_path, 'audience: {"[/x]": 1}\n', "markup.yaml")
    assert main(["load", "plan", "--traffic", str(markup)]) == 2
    err = capsys.readouterr().err
    assert "slo must be a mapping" in err and "environment name '../sandbox' is not a name" in err
    assert "is a directory" in err and "unknown key '[/x]'" in err
    assert "Traceback" not in err and not (tmp_path / "reports").exists()


def test_committed_schemas_equal_the_models():
    assert publish.stale() == [], "run: python -m gameday.schema"
    for name in publish.SCHEMAS:
        schema = (ROOT / "schemas" / f"{name}.schema.json").read_text()
        assert '"additionalProperties": false' in schema  # editors flag a typo too


def test_the_repository_files_pass_their_models():
    for path in sorted((ROOT / "environments").glob("*.yaml")):
        assert environment.load(path).name
    for path in sorted((ROOT / "experiments" / "suites").glob("*.yaml")):
        assert suite.load(path).scenarios
    for path in [ROOT / "platform.yaml", *sorted((ROOT / "inventory").glob("*.yaml"))]:
        assert inventory.load(path).components
    assert targets_yaml.load().environments is not None and TrafficModel.load().plan().peak_origin_rps > 0


def test_the_block_validators_callers_use_list_every_problem_and_echo_no_secret():
    from gameday.targets import credentials, kubernetes_config
    with pytest.raises(UsageError) as err:
        credentials.validate({"db": "hunter2", "search": {"env": "ES", "secret": "a/b"}, "ok": {"env": "X"}}, "f.yaml")
    message = str(err.value)
    assert "2 problems" in message and "hunter2" not in message
    assert "credentials.db is a literal value" in message and "credentials.search must have exactly one" in message
    assert credentials.validate({"ok": {"env": "X"}}, "f.yaml") == {"ok": {"env": "X"}}
    with pytest.raises(UsageError) as err:
        kubernetes_config.validate({"web": {"namespace": "w"}}, "f.yaml")
    message = str(err.value)
    for words in ("kubernetes.context is missing", "kubernetes.web.deployment is missing", "kubernetes.kafka is missing",
                  "kubernetes.search is missing"):
        assert words in message, message
    with pytest.raises(UsageError, match="cloud_monitoring.report_wait_s must be between 0 and 900, not 901"):
        kubernetes_config.validate_cloud_monitoring({"project": "p", "url_map": "u", "report_wait_s": 901}, "f.yaml")


def test_a_cloud_sql_instance_named_badly_is_refused_with_every_problem_named(tmp_path, capsys):
    data = yaml.safe_load((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    db = data["configuration"]["gameday_environment"]["kubernetes"]["db"]
    db["selector"] = "app=mariadb"  # pods as well as Cloud SQL
    db["cloud_sql"] = {"project": "123456789012", "instance": "sps-staging:europe-west2:sps-db", "failover": "replica",
                       "restore_instance": "Sps_DB_PITR", "poll_s": 0, "regoin": "europe-west2"}
    path = write(tmp_path, data, "gke.yaml")
    with pytest.raises(UsageError) as err:
        environment.load(path)
    message = str(err.value)
    prefix = "kubernetes.db.cloud_sql"
    assert "9 problems" in message and "Traceback" not in message, message
    for words in (f"{prefix}.project is a project number -> give the project id",
                  f"{prefix}.instance is a connection name (project:region:instance), not an instance name -> give "
                  "the instance alone (sps-db) and its project in project: (sps-staging)",
                  f"{prefix}.restore_instance is not a Cloud SQL instance name -> lowercase letters, digits and hyphens",
                  f"{prefix}.poll_s must be between 0.05 and 60, not 0",
                  f"{prefix}: unknown key 'regoin' -> valid keys: failover, instance, operation_timeout_s, poll_s, project",
                  "kubernetes.layers.db is outside, but kubernetes.db.selector selects pods",
                  f"{prefix}.replica is missing: failover: replica promotes the read replica named there",
                  "kubernetes.db: pods in the cluster need both namespace and selector",
                  f"{prefix} names a Cloud SQL instance, but the database is also given as pods in the cluster"):
        assert words in message, words
    assert main(["playbook", "db", "--env", str(path)]) == 2
    err_text = capsys.readouterr().err
    assert "9 problems" in err_text and "Traceback" not in err_text


def test_cloud_sql_names_that_collide_or_a_replica_failover_would_ignore_are_named():
    data = yaml.safe_load((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    env = data["configuration"]["gameday_environment"]
    env["kubernetes"]["db"]["cloud_sql"].update(replica="sps-staging-db", restore_instance="sps-staging-db")
    with pytest.raises(UsageError) as err:
        environment.from_mapping(env, "gke.yaml")
    message = str(err.value)
    assert "4 problems" in message
    assert "kubernetes.db.cloud_sql.replica is used only with failover: replica" in message
    assert "kubernetes.db.cloud_sql.replica is the same instance as kubernetes.db.cloud_sql.instance ('sps-staging-db')" in message
    assert "kubernetes.db.cloud_sql.restore_instance is the same instance as kubernetes.db.cloud_sql.instance" in message
    assert "kubernetes.db.cloud_sql.restore_instance is the same instance as kubernetes.db.cloud_sql.replica" in message
