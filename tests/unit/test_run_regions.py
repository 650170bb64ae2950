"""``gameday run`` with the regions suite: it is a valid suite whose drills resolve targets.yaml's
region objectives; a suite of region drills brings the environment's region set up (the default suite
its one twin, as before), and an environment without a regions block is refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gameday.cli.run import _region_drills
from gameday.errors import UsageError
from gameday.runner.suite import ROOT
from gameday.runner.suite import load as load_suite
from gameday.targets.environment import load as load_environment


def test_the_regions_suite_switches_over_then_loses_a_region_with_targets_yamls_objectives():
    suite = load_suite("regions").for_environment("sandbox")
    assert [(sc.name, sc.experiment.relative_to(ROOT).as_posix(), sc.layer, sc.playbook) for sc in suite.scenarios] == [
        ("region-switchover", "experiments/region/switchover.yaml", "region", "region"),
        ("region-lost", "experiments/region/lose-region.yaml", "region", "region")]
    switchover, lost = suite.scenarios
    assert (switchover.targets.rto_s, switchover.targets.rpo_records) == (30, 0)
    assert (lost.targets.rto_s, lost.targets.rpo_records) == (60, 0)


def test_only_a_suite_of_region_drills_brings_the_regions_up():
    sandbox = load_environment("sandbox")
    assert _region_drills(load_suite("regions"), sandbox) is True
    for name in ("default", "smoke", "disaster"):  # unchanged: the environment's one twin
        assert _region_drills(load_suite(name), sandbox) is False
    with pytest.raises(UsageError, match="suite regions has region drills .* but environment sandbox-test names "
                                         "no second region"):
        _region_drills(load_suite("regions"), load_environment("sandbox-test"))


def test_the_cli_refuses_region_drills_without_a_second_region_before_starting_anything():
    out = subprocess.run([sys.executable, "-m", "gameday", "run", "--suite", "regions", "--env", "sandbox-test",
                          "--no-install"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "names no second region" in out.stderr and "--env sandbox" in out.stderr
