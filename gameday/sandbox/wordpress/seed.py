"""The WordPress bootstrap job: install WordPress into the twin's database and seed the catalogue.

Run by the supervisor as the job ``wp-bootstrap-1`` (:func:`gameday.sandbox.members.wordpress.bootstrap`)::

    GAMEDAY_WP_CONFIG=gameday-<id> GAMEDAY_DB_PASSWORD=... GAMEDAY_WP_ADMIN_PASSWORD=... \\
        python -m gameday.sandbox.wordpress.seed [--n 2000]

It pipes :func:`gameday.site.catalog.generate` (the same deterministic content as the sample site) to
``cli/bootstrap.php``: guidance articles become posts, monographs the ``monograph`` post type, each in
its category. Safe to run again (nothing installed twice, no item inserted twice). Prints one summary
line; exits 1 with the reason on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ...errors import GamedayError
from ...site import catalog
from .php import run_script

N_ENV = "GAMEDAY_WP_SEED_N"


def seed(env: dict[str, str], n: int = catalog.DEFAULT_N, *, timeout: float = 600.0) -> dict:
    """Install and seed; ``{"installed", "categories", "inserted", "existing"}``."""
    lines = "".join(json.dumps(row) + "\n" for row in catalog.generate(n))
    out = run_script("bootstrap.php", env, stdin=lines, timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get(N_ENV, catalog.DEFAULT_N)))
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = seed(dict(os.environ), args.n)
    except (GamedayError, ValueError) as err:
        print(f"wordpress seed failed: {err}", file=sys.stderr)
        return 1
    print(f"wordpress seed ok in {time.monotonic() - started:.1f}s: installed {result['installed']}, "
          f"{result['inserted']} items inserted, {result['existing']} existed, {result['categories']} categories")
    return 0


if __name__ == "__main__":
    sys.exit(main())
