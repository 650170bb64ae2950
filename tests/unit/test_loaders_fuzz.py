"""Property: no input to any loader of a user file produces anything but a result or a UsageError.

Every loader (environment, suite, targets.yaml, traffic.yaml, platform.yaml) is fed random bytes,
YAML-ish text, random YAML documents, and the repository's own valid file with one value replaced
or removed somewhere deep inside. A traceback of any other kind fails the test with the input.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameday.coverage import inventory
from gameday.errors import UsageError
from gameday.load.model import TrafficModel
from gameday.recovery import targets_yaml
from gameday.runner import suite
from gameday.targets import environment

ROOT = Path(__file__).resolve().parents[2]
LOADERS: dict[str, tuple[Callable[[Path], Any], Path]] = {
    "environment": (environment.load, ROOT / "environments" / "gke-staging.example.yaml"),
    "environment-k8s": (environment.load, ROOT / "environments" / "rehearsal.yaml"),
    "suite": (suite.load, ROOT / "experiments" / "suites" / "default.yaml"),
    "targets": (targets_yaml.load, ROOT / "targets.yaml"),
    "traffic": (TrafficModel.load, ROOT / "loadtests" / "traffic.yaml"),
    "platform": (inventory.load, ROOT / "platform.yaml"),
}
# 4 strategies x 50 examples = 200 inputs per loader, a few seconds each
FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WORKDIR = Path(tempfile.mkdtemp(prefix="gameday-fuzz-"))


@pytest.fixture(scope="module", autouse=True)
def _remove_workdir():
    """The files the examples write live in WORKDIR (hypothesis examples cannot use tmp_path)."""
    yield
    shutil.rmtree(WORKDIR, ignore_errors=True)

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["", "../x", "web", "http://u:p@h/", "0.0.0.0:5557", "gameday.targets/v1",
                                     "experiments/web/kill-one-pod.yaml", "[/x]", "a/b", "true", "1e400"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans()), inner, max_size=4)),
    max_leaves=20)
yamlish = st.text(alphabet=st.sampled_from(list("abc01:-[]{}&*!|>'\"#%@`,?.\n\t \\\x00\u00e9\ufeff")), max_size=200)


def _feed(name: str, content: bytes) -> None:
    """Write ``content`` as the file and load it: a result or a UsageError, nothing else."""
    load, _ = LOADERS[name]
    path = WORKDIR / f"{name}.yaml"
    path.write_bytes(content)
    try:
        load(path)
    except UsageError as err:
        assert str(err)  # a message a person can read


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path inside ``data`` (dicts and lists), the root included."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


def _replace(data: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    data = copy.deepcopy(data)
    target = data
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


@pytest.mark.parametrize("name", LOADERS)
@FUZZ
@given(content=st.binary(max_size=300))
def test_random_bytes_give_a_result_or_a_usage_error(name, content):
    _feed(name, content)


@pytest.mark.parametrize("name", LOADERS)
@FUZZ
@given(text=yamlish)
def test_yaml_ish_text_gives_a_result_or_a_usage_error(name, text):
    _feed(name, text.encode("utf-8"))


@pytest.mark.parametrize("name", LOADERS)
@FUZZ
@given(data=values)
def test_random_documents_give_a_result_or_a_usage_error(name, data):
    _feed(name, _dump(data))


def _valid(name: str) -> tuple[Any, list[tuple]]:
    """The repository's file for ``name`` (platform.yaml cut to two components, to keep examples fast)
    and every key path in it."""
    if name not in _VALID:
        data = yaml.safe_load(LOADERS[name][1].read_text())
        if name == "platform":
            data["components"] = [c for c in data["components"] if not c.get("depends_on")][:2]
            data["harness"] = data.get("harness", [])[:1]
        _VALID[name] = (data, _paths(data))
    return _VALID[name]


_VALID: dict[str, tuple[Any, list[tuple]]] = {}


@pytest.mark.parametrize("name", LOADERS)
@FUZZ
@given(choice=st.data(), value=values, delete=st.booleans())
def test_a_valid_file_with_one_value_changed_gives_a_result_or_a_usage_error(name, choice, value, delete):
    valid, paths = _valid(name)
    path = choice.draw(st.sampled_from(paths), label="key path")
    _feed(name, _dump(_replace(valid, path, value, delete and bool(path))))


@pytest.mark.parametrize("name", LOADERS)
def test_the_repository_files_and_the_fuzz_bases_load(name):
    load, path = LOADERS[name]
    assert load(path) is not None
    base = WORKDIR / f"base-{name}.yaml"
    base.write_bytes(_dump(_valid(name)[0]))
    assert load(base) is not None  # the mutation test starts from a file that loads
