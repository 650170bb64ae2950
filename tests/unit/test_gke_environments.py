"""GKE environment files: they parse, bad input gets one clear message, nothing is touched."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gameday.errors import UsageError
from gameday.targets import for_environment
from gameday.targets.environment import from_mapping, load

ROOT = Path(__file__).resolve().parents[2]
STAGING = ROOT / "environments" / "gke-staging.example.yaml"
PRODUCTION = ROOT / "environments" / "gke-production.example.yaml"


def staging() -> dict:
    return copy.deepcopy(yaml.safe_load(STAGING.read_text())["configuration"]["gameday_environment"])


def kubeconfig(tmp_path: Path, *contexts: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config",
                                    "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts]}))
    return path


def test_both_examples_parse_with_their_layers_and_references():
    stg, prod = load(STAGING), load("gke-production.example")
    assert (stg.kind, stg.production, prod.production) == ("kubernetes", False, True)
    for env in (stg, prod):
        assert set(env.kubernetes) >= {"context", "web", "kafka", "search"}
        assert env.kubernetes["kafka"]["controllers"].startswith("strimzi.io/cluster=")
        assert env.kubernetes["search"]["nodes"].startswith("elasticsearch.k8s.elastic.co/cluster-name=")
        assert env.credentials["google"] == {"adc": True} and "secret" in env.credentials["search"]
        assert env.cloud_monitoring["project"] and env.cloud_monitoring["url_map"]
    assert prod.limits["web_max_percent"] < stg.limits["web_max_percent"]
    again = from_mapping(stg.as_configuration(), "round trip")  # what chaos activities receive parses again
    assert again.kubernetes == stg.kubernetes and again.credentials == stg.credentials


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["kubernetes"]["kafka"].pop("bootstrap"), "kubernetes.kafka.bootstrap is missing"),
    (lambda d: d["kubernetes"].pop("search"), "kubernetes.search is missing"),
    (lambda d: d["kubernetes"].pop("context"), "kubernetes.context is missing"),
    (lambda d: d.pop("kubernetes"), "kubernetes is missing"),
    (lambda d: d.pop("site_url"), "site_url is missing"),
    (lambda d: d["kubernetes"]["web"].update(namepsace="x"), "did you mean 'namespace'"),
    (lambda d: d["kubernetes"]["kafka"].update(brokers="not a selector!"), "is not a label selector"),
    (lambda d: d["credentials"].update(search="hunter2"), "literal value; credentials are given by reference only"),
    (lambda d: d["credentials"].update(db={"password": "hunter2"}), "exactly one of env, secret, adc"),
    (lambda d: d["credentials"].update(search={"secret": "no-namespace", "key": "k"}), "namespace/name with a key"),
    (lambda d: d["cloud_monitoring"].pop("url_map"), "cloud_monitoring.url_map is missing"),
])
def test_bad_files_name_the_problem(mutate, words):
    data = staging()
    mutate(data)
    with pytest.raises(UsageError) as err:
        from_mapping(data, "gke-test.yaml")
    assert words in str(err.value) and "gke-test.yaml" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_production_needs_the_explicit_flag(monkeypatch):
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION", raising=False)
    with pytest.raises(UsageError, match="production target; nothing was touched.*--i-mean-production"):
        for_environment(load(PRODUCTION))
    monkeypatch.delenv("WORDPRESS_DB_PASSWORD", raising=False)
    with pytest.raises(UsageError, match="WORDPRESS_DB_PASSWORD is not set"):  # past the flag, at credentials
        for_environment(load(PRODUCTION), i_mean_production=True)


def test_preflight_checks_credentials_then_the_context(monkeypatch, tmp_path):
    env = load(STAGING)
    monkeypatch.delenv("WORDPRESS_DB_PASSWORD", raising=False)
    with pytest.raises(UsageError) as err:
        for_environment(env)
    assert "credentials.db" in str(err.value) and "export WORDPRESS_DB_PASSWORD" in str(err.value)

    monkeypatch.setenv("WORDPRESS_DB_PASSWORD", "s3cr3t-value")
    monkeypatch.delenv("MEMORYSTORE_AUTH", raising=False)
    with pytest.raises(UsageError, match="credentials.object_cache .*export MEMORYSTORE_AUTH"):
        for_environment(env)
    monkeypatch.setenv("MEMORYSTORE_AUTH", "an-auth-string")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "gone.json"))
    with pytest.raises(UsageError, match="GOOGLE_APPLICATION_CREDENTIALS points at .*does not exist"):
        for_environment(env)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(UsageError, match="no kubeconfig at .*get-credentials"):
        for_environment(env)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path, "kind-sandbox", "gke_other")))
    with pytest.raises(UsageError) as err:
        for_environment(env)
    assert "context 'gke_sps-staging_europe-west2_sps-staging' is not in" in str(err.value)
    assert "kind-sandbox, gke_other" in str(err.value)

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path, env.kubernetes["context"])))
    from gameday.targets.kubernetes import KubernetesTarget
    assert isinstance(for_environment(env), KubernetesTarget)  # made without touching the cluster


def test_gameday_run_refuses_production_without_the_flag_in_one_line():
    env = {k: v for k, v in os.environ.items() if k != "GAMEDAY_I_MEAN_PRODUCTION"}
    out = subprocess.run([sys.executable, "-m", "gameday", "run", "--env", "gke-production.example", "--no-install"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "production target" in out.stderr and "--i-mean-production" in out.stderr


def test_a_sandbox_environment_round_trips_through_what_chaos_activities_receive():
    from gameday.targets.environment import load
    sandbox = load("sandbox-test")
    again = from_mapping(sandbox.as_configuration(), "round trip")
    assert again.cloud_monitoring == {} and again.name == sandbox.name


def test_a_credential_reference_resolves_at_the_moment_of_use(monkeypatch):
    from gameday.targets.credentials import resolve
    secrets = {("search", "es-user"): {"elastic": "s3cret-from-k8s"}}
    read = lambda namespace, name: secrets[(namespace, name)]  # noqa: E731 - the API read, injected
    assert resolve({"secret": "search/es-user", "key": "elastic"}, "search", read) == "s3cret-from-k8s"
    with pytest.raises(UsageError, match=r"secret search/es-user has no key 'password'.*") as err:
        resolve({"secret": "search/es-user", "key": "password"}, "search", read)
    assert "s3cret" not in str(err.value) and "elastic" in err.value.hint
    monkeypatch.delenv("ES_PASSWORD", raising=False)
    with pytest.raises(UsageError, match="environment variable ES_PASSWORD is not set"):
        resolve({"env": "ES_PASSWORD"}, "search", read)
    monkeypatch.setenv("ES_PASSWORD", "from-env")
    assert resolve({"env": "ES_PASSWORD"}, "search", read) == "from-env"
