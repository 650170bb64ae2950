"""An environment's regions: block (issue 16): its region, its standby (another environment file of the
same kind) and the front; every problem named with its key path and fix, in one message."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from gameday.errors import UsageError
from gameday.targets.environment import from_mapping, load, standby

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "environments"
AT = "configuration.gameday_environment.regions"


def production() -> dict:
    return copy.deepcopy(yaml.safe_load((ENVS / "gke-production.example.yaml").read_text()))


def pair(tmp_path: Path, mutate=None, mutate_dr=None) -> Path:
    """The production example and its standby, copied to ``tmp_path`` (each optionally changed)."""
    for name, change in (("gke-production.example", mutate), ("gke-production-dr.example", mutate_dr)):
        data = yaml.safe_load((ENVS / f"{name}.yaml").read_text())
        if change is not None:
            change(data["configuration"]["gameday_environment"])
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "gke-production.example.yaml"


def message(path: Path) -> str:
    with pytest.raises(UsageError) as err:
        load(path)
    return str(err.value)


def test_the_repository_pairs_name_each_other_and_round_trip():
    for primary, other, kind in (("sandbox", "sandbox-r2", "twin"),
                                 ("gke-production.example", "gke-production-dr.example", "cloud-dns")):
        env = load(primary)
        assert env.regions["front"]["kind"] == kind and env.regions["decision_s"] == 60
        dr = standby(env)
        assert (dr.name, dr.kind, Path(dr.source).stem) == (other.removesuffix(".example"), env.kind, other)
        assert Path(standby(dr).source).stem == primary
        assert from_mapping(env.as_configuration(), "round trip").regions == env.regions
    r2 = load("sandbox-r2")
    assert (r2.sandbox, r2.net, r2.limits) == ("default-r2", 11, load("sandbox").limits)
    assert load("sandbox").regions == {"name": "r1", "standby": "sandbox-r2", "front": {"kind": "twin"}, "decision_s": 60}
    assert load("gke-staging.example").regions == {} and "regions" in load("gke-staging.example").as_configuration()
    with pytest.raises(UsageError, match="has no regions block"):
        standby(load("gke-staging.example"))


def test_a_standby_that_names_no_file_is_refused_with_the_known_names(tmp_path):
    text = message(pair(tmp_path, lambda e: e["regions"].update(standby="gke-prodution-dr")))
    assert f"{AT}.standby names no environment file: {tmp_path}/gke-prodution-dr.yaml does not exist" in text
    assert "known: gke-production-dr.example" in text


def test_a_standby_naming_itself_is_refused_by_name_and_by_file(tmp_path):
    with pytest.raises(UsageError, match=r"regions.standby names this environment itself \('gke-production'\)"):
        from_mapping({**production()["configuration"]["gameday_environment"],
                      "regions": {**production()["configuration"]["gameday_environment"]["regions"],
                                  "standby": "gke-production"}}, "f.yaml")
    text = message(pair(tmp_path, lambda e: e["regions"].update(standby="gke-production.example")))
    assert f"{AT}.standby names this file itself ('gke-production.example')" in text


def test_a_standby_of_another_kind_or_the_same_region_is_refused(tmp_path):
    shutil.copy(ENVS / "sandbox.yaml", tmp_path / "sandbox.yaml")
    text = message(pair(tmp_path, lambda e: e["regions"].update(standby="sandbox")))
    assert f"{AT}.standby 'sandbox' is a kind: sandbox environment, this one is kind: kubernetes" in text
    text = message(pair(tmp_path, mutate_dr=lambda e: e["regions"].update(name="europe-west2")))
    assert f"{AT}.name 'europe-west2' is also the standby's region ('gke-production-dr.example')" in text
    text = message(pair(tmp_path, mutate_dr=lambda e: e["regions"].update(name="europe-north1")))
    assert f"{AT}.front.targets has no entry for the standby's region ('europe-north1')" in text


def test_a_cloud_dns_front_missing_its_fields_lists_each_one():
    env = production()["configuration"]["gameday_environment"]
    env["regions"]["front"] = {"kind": "cloud-dns", "project": "sps-production"}
    with pytest.raises(UsageError) as err:
        from_mapping(env, "f.yaml")
    text = str(err.value)
    assert "5 problems" in text and "f.yaml" in text
    for key in ("managed_zone", "record", "type", "ttl", "targets"):
        assert f"regions.front.{key} is missing: kind: cloud-dns needs it -> e.g. {{kind: cloud-dns" in text, key


@pytest.mark.parametrize("mutate, words", [
    (lambda r: r["front"].update(record="www.sps.example.nhs.uk"),
     "regions.front.record is not a fully qualified name -> add the trailing dot"),
    (lambda r: r["front"]["targets"].update({"europe-west1": ["lb.example."]}),
     "regions.front.targets.europe-west1: 'lb.example.' is not an IPv4 address (type A)"),
    (lambda r: r["front"].update(type="CNAME"), "regions.front.targets.europe-west2 must be one fully qualified name"),
    (lambda r: r["front"]["targets"].pop("europe-west2"),
     "regions.front.targets has no entry for this region ('europe-west2', regions.name)"),
    (lambda r: r["front"]["targets"].update({"europe-west1": ["203.0.113.10"]}),
     "regions.front.targets.europe-west1 is the same data as regions.front.targets.europe-west2"),
    (lambda r: r["front"].update(ttl=-1), "regions.front.ttl must be a whole number from 0 to 86400, not -1"),
    (lambda r: r["front"].update(project="123456789012"), "regions.front.project is a project number"),
    (lambda r: r["front"].update(kind="twin"), "regions.front.kind twin is the local twin's front, but this is a "
                                               "kind: kubernetes environment"),
    (lambda r: r["front"].update(kind="dns"), "regions.front.kind must be 'twin' or 'cloud-dns', not 'dns'"),
    (lambda r: r.update(standby="../sandbox"), "regions.standby is not in the right form"),
    (lambda r: r.update(decison_s=5), "regions: unknown key 'decison_s' -> did you mean 'decision_s'"),
    (lambda r: r.update(decision_s=7200), "regions.decision_s must be between 0 and 3600, not 7200"),
    (lambda r: r.pop("standby"), "regions.standby is missing"),
])
def test_bad_regions_blocks_name_the_key_and_the_fix(mutate, words):
    env = production()["configuration"]["gameday_environment"]
    mutate(env["regions"])
    with pytest.raises(UsageError) as err:
        from_mapping(env, "gke.yaml")
    assert words in str(err.value), str(err.value)


def test_a_twin_front_takes_no_dns_fields_and_names_r1_or_r2():
    env = yaml.safe_load((ENVS / "sandbox.yaml").read_text())["configuration"]["gameday_environment"]
    env["regions"].update(name="europe-west2", front={"kind": "twin", "ttl": 60})
    with pytest.raises(UsageError) as err:
        from_mapping(env, "s.yaml")
    text = str(err.value)
    assert "regions.name must be r1 or r2 with front kind twin, not 'europe-west2'" in text
    assert "regions.front.ttl is used only with kind: cloud-dns" in text
