"""The experiment catalog's files without a twin: each validates under `chaos validate` with the
extension's controls, and `chaos discover` lists every activity of every layer module. In the quick
lane (tests/conftest.py NO_TWIN); the files run against the twin in test_chaos.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gameday.chaos import activities

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))
CATALOG = sorted(p.relative_to(ROOT / "experiments").as_posix() for p in (ROOT / "experiments").glob("*/*.yaml")
                 if p.parent.name != "suites")  # suites are game-day files, not experiments


@pytest.mark.parametrize("name", CATALOG)
def test_every_experiment_validates(name):
    out = subprocess.run([CHAOS, "--no-log-file", "validate", str(ROOT / "experiments" / name)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load((ROOT / "experiments" / name).read_text())
    assert doc["contributions"] and len(doc["description"]) > 80
    assert [c["name"] for c in doc["controls"]] == ["gameday-guard", "gameday-safeguard"]


def test_discovery_lists_every_exported_function_of_every_layer_module():
    import importlib
    found = {(a["mod"], a["name"], a["type"]) for a in activities()}
    expected = set()
    for path in (ROOT / "gameday" / "chaos").glob("*/*.py"):
        if path.stem in ("actions", "probes"):
            mod = f"gameday.chaos.{path.parent.name}.{path.stem}"
            for fn in importlib.import_module(mod).__all__:
                expected.add((mod, fn, path.stem[:-1]))
    assert found == expected
    layers = {m.split(".")[2] for m, _, _ in found}
    assert layers == {"web", "kafka", "search", "db", "network", "site", "gcp", "indexer", "lb", "zone", "region",
                      "events", "cache", "media", "cdn"}
    out = subprocess.run([CHAOS, "--no-log-file", "discover", "--no-system-info", "--discovery-path",
                          "/dev/stdout", "gameday"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
