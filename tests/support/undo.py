"""Test repair after a failure: the undo records a drill left, run again (what ``gameday cleanup``
does, limited to one undo), so the shared twin is whole for the next test::

    rerun(target.env, "restore_db_content")
"""

from __future__ import annotations

from gameday.chaos import ledger
from gameday.errors import GamedayError


def rerun(env, undo: str) -> None:
    """Run every pending record of ``undo`` again; one that fails again is printed, not raised (the
    caller's own repair goes on)."""
    for record in ledger.matching(env, undo):
        try:
            ledger.run_record(record)
        except GamedayError as err:
            print(f"repair: {undo} failed again: {err}")
