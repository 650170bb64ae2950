"""targets.yaml: the repository's file loads, overrides resolve in order, mistakes are clear errors."""

from __future__ import annotations

import pytest

from gameday.errors import UsageError
from gameday.recovery import targets_yaml

GOOD = """
schema: gameday.targets/v1
defaults:
  slo: {success_ratio: 0.99, p95_ms: 1000, window_s: 10}
  layers:
    web: {rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0.5, scenarios: {full-outage: {min_availability: 0}}}
    db: {rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0}
    kafka: {rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0.9}
    search: {rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0.8}
    indexer: {rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0.9}
    network: {rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0}
    site: {rto_s: 600, rpo_records: 0, rpo_s: 0, min_availability: 0}
environments:
  prod:
    slo: {window_s: 60}
    layers:
      web: {rto_s: 30, scenarios: {full-outage: {rto_s: 90}}}
"""


def test_the_repository_file_loads_with_sandbox_defaults_and_stricter_production():
    t = targets_yaml.load()
    sandbox = t.for_layer("kafka", environment="sandbox")
    prod = t.for_layer("kafka", environment="gke-production")
    assert prod.rto_s < sandbox.rto_s and prod.min_availability > sandbox.min_availability
    for layer in targets_yaml.LAYERS:
        assert t.for_layer(layer).rpo_records == 0
    assert t.slo("gke-production")["window_s"] == 60 and t.slo("sandbox")["window_s"] == 10


def test_overrides_resolve_defaults_then_scenario_then_environment_then_its_scenario():
    t = targets_yaml.parse(GOOD)
    assert t.for_layer("web").rto_s == 60
    assert t.for_layer("web", scenario="full-outage").min_availability == 0
    assert t.for_layer("web", environment="prod").rto_s == 30
    full = t.for_layer("web", environment="prod", scenario="full-outage")
    assert full.rto_s == 90 and full.min_availability == 0
    assert t.for_layer("web", environment="unknown-env").rto_s == 60
    assert t.slo("prod") == {"success_ratio": 0.99, "p95_ms": 1000, "window_s": 60}


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.replace("rto_s: 30", "rto: 30"), "environments.prod.layers.web: unknown key 'rto'"),
    (lambda s: s.replace("    kafka:", "    kafak:"), "defaults.layers: unknown key 'kafak'"),
    (lambda s: s.replace("min_availability: 0.5", "min_availability: 1.5"), "min_availability must be between 0 and 1"),
    (lambda s: s.replace("rto_s: 60, rpo_records: 0, rpo_s: 0, min_availability: 0.9}\n    search",
                         "rto_s: -1, rpo_records: 0, rpo_s: 0, min_availability: 0.9}\n    search"), "rto_s must be more than 0"),
    (lambda s: s.replace("rpo_records: 0, rpo_s: 0, min_availability: 0}\n    kafka",
                         "rpo_records: 0.5, rpo_s: 0, min_availability: 0}\n    kafka"), "rpo_records must be a whole number"),
    (lambda s: s.replace("rto_s: 30", "rto_s: fast"), "rto_s must be a number"),
    (lambda s: s.replace("gameday.targets/v1", "v0"), "schema must be"),
    (lambda s: s.replace("{rto_s: 600, rpo_records: 0, rpo_s: 0, min_availability: 0}", "{rto_s: 600}"),
     "3 problems"),  # defaults.layers.site.rpo_records, .rpo_s and .min_availability, each one named
    (lambda s: s + "extra: 1\n", "unknown key 'extra'"),
    (lambda s: s.replace("slo: {window_s: 60}", "slo: {window: 60}"), "did you mean 'window_s'"),
    (lambda s: s + "  - not: [valid", "not valid YAML"),
])
def test_mistakes_are_usage_errors_that_name_the_key(mutate, message):
    with pytest.raises(UsageError) as err:
        targets_yaml.parse(mutate(GOOD), "t.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("t.yaml")


def test_a_typo_gets_the_closest_valid_key():
    with pytest.raises(UsageError) as err:
        targets_yaml.parse(GOOD.replace("rto_s: 30", "rto: 30"))
    assert err.value.hint == "did you mean 'rto_s'?"


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        targets_yaml.load(tmp_path / "nope.yaml")
