"""``python -m gameday.schema [--check]``: write (or check) the JSON Schemas in ``schemas/``."""

from __future__ import annotations

import sys

from .publish import SCHEMAS_DIR, stale, write


def main(argv: list[str]) -> int:
    """Exit 0 when written (or, with --check, up to date); 1 when --check finds a stale schema."""
    if "--check" in argv:
        names = stale()
        for name in names:
            print(f"{SCHEMAS_DIR / name}.schema.json differs from the models: run python -m gameday.schema")
        return 1 if names else 0
    for path in write():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
