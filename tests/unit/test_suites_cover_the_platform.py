"""Issue 15, item 7: the default and ``disaster`` suites together prove every cell of platform.yaml that
one region can; the two region cells are the ``regions`` suite's (a second region: ``gameday sandbox up
--regions 2``). ``gameday coverage`` after those game days can only read every cell proven if the suites'
experiments claim every cell: this pins it, so a cell added to platform.yaml without a suite scenario
(or a scenario dropped from a suite) fails here, not on a stakeholder's coverage page."""

from __future__ import annotations

from pathlib import Path

from gameday.coverage import claims, inventory
from gameday.runner import suite as suites
from gameday.yamlfile import read_yaml

ROOT = Path(__file__).resolve().parents[2]
REGION_COMPONENT = "region"


def cells_claimed(suite_name: str) -> dict[str, list[str]]:
    """``{cell: [scenario names]}`` for every cell an experiment of the suite claims (its gameday-coverage)."""
    out: dict[str, list[str]] = {}
    for scenario in suites.load(suite_name).scenarios:
        path = scenario.experiment if scenario.experiment.is_absolute() else ROOT / scenario.experiment
        for cell in claims.experiment_covers(read_yaml(path, "experiment"), str(path)):
            out.setdefault(cell, []).append(scenario.name)
    return out


def platform_cells() -> set[str]:
    return {f"{c.id}/{m.id}" for c, m in inventory.load().cells()}


# Cells only a WordPress twin can prove (gameday sandbox up --web wordpress): the wordpress suite's, while the
# default twin runs the Python site (issue 17, C5b). Each must be claimed by that suite.
WORDPRESS_CELLS = {"web/workers-exhausted", "cdn/cache-flushed"}


def test_the_default_and_disaster_suites_prove_every_one_region_cell():
    one_region = {cell for cell in platform_cells() if not cell.startswith(f"{REGION_COMPONENT}/")}
    claimed = set(cells_claimed("default")) | set(cells_claimed("disaster"))
    assert one_region - WORDPRESS_CELLS - claimed == set(), "cells no scenario of the default or disaster suite proves"
    assert claimed - platform_cells() == set(), "scenarios claim cells platform.yaml does not list"


def test_the_wordpress_cells_are_the_wordpress_suites():
    claimed = set(cells_claimed("wordpress"))
    assert WORDPRESS_CELLS <= claimed, "cells of a WordPress twin that no scenario of the wordpress suite proves"
    assert WORDPRESS_CELLS <= platform_cells() and claimed - platform_cells() - absent_cells() == set()


def absent_cells() -> set[str]:
    """Cells of components this twin does not run (platform.yaml's ``absent``: the WordPress tier's event
    relay and object cache on the Python twin): claimed by the wordpress suite, no cell of platform.yaml."""
    return {f"{a['id']}/{mode}" for a in inventory.load().absent for mode in a["failure_modes"]}


def test_the_wordpress_suite_proves_every_cell_of_the_components_the_python_twin_does_not_run():
    """The event relay and the object cache: listed as absent on the Python twin (no unproven cell there),
    each of their failure modes claimed by a scenario of the wordpress suite, and none by default/disaster."""
    absent = absent_cells()
    assert {"event-relay/relay-stopped", "object-cache/cache-lost", "media/uploads-lost"} <= absent
    assert absent <= set(cells_claimed("wordpress"))
    assert not absent & (set(cells_claimed("default")) | set(cells_claimed("disaster")))
    assert not absent & platform_cells()


def test_the_region_cells_are_the_regions_suites():
    region = {cell for cell in platform_cells() if cell.startswith(f"{REGION_COMPONENT}/")}
    assert region, "platform.yaml lists the region drills"
    assert region <= set(cells_claimed("regions"))


def test_every_catalog_experiment_is_in_a_suite():
    """An experiment no suite runs is never run by a game day: its cell stays "never tested"."""
    in_suites = {s.experiment.resolve() for name in ("default", "disaster", "regions", "kubernetes", "smoke", "wordpress")
                 for s in suites.load(name).scenarios}
    catalog = {p.resolve() for p in claims.experiment_files(ROOT)}
    assert sorted(p.relative_to(ROOT).as_posix() for p in catalog - in_suites) == []
