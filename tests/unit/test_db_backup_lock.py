"""The twin's backup-or-position lock (gameday.sandbox.db_backup_lock): one holder at a time across
processes, a bounded wait that names the holder, released by a holder's death."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from gameday.errors import DeadlineExceeded
from gameday.sandbox.db_backup_lock import exclusive

HOLD = """
import sys, time
from pathlib import Path
from gameday.sandbox.db_backup_lock import exclusive
with exclusive(Path(sys.argv[1]), "backing up db-2 (mariadb-backup)", timeout=5):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_holder_waits_is_told_who_holds_it_and_gets_it_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        with pytest.raises(DeadlineExceeded) as waited:
            with exclusive(tmp_path, "rebuilding db-1 as a replica of db-2", timeout=0.5):
                raise AssertionError("the lock was held by another process")
        assert time.monotonic() - began >= 0.5
        assert f"pid {holder.pid}: backing up db-2 (mariadb-backup)" in str(waited.value)
        assert str(waited.value).startswith("rebuilding db-1 as a replica of db-2: waited 0.5s")
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with exclusive(tmp_path, "rebuilding db-1", timeout=5):  # the kernel released a dead holder's lock
        assert (tmp_path / ".backup-or-position.lock").read_text().endswith(": rebuilding db-1")
    assert (tmp_path / ".backup-or-position.lock").read_text() == ""  # nothing said once released
