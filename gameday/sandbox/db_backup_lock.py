"""A backup and a change of a member's replication position, one at a time, on the twin's database.

MariaDB 10.11 can deadlock the two: ``mariadb-backup`` holds its backup stage lock and then reads the
server's variables (``SHOW VARIABLES``, which waits for the global variables' mutex), while ``SET
GLOBAL gtid_slave_pos`` holds that mutex and waits for the backup stage lock. Seen in make test
(session 29): a scheduled backup of the new primary met the failover drill's switch back, both queries
stuck for 69 s until the client's read timeout failed the switch. Reproduced by hand on a member: with
``BACKUP STAGE BLOCK_COMMIT`` held, ``SET GLOBAL gtid_slave_pos`` waits for the backup lock and a plain
``SHOW VARIABLES`` waits behind it. Neither side can tell the server to
order them, so the twin orders them: every backup (:func:`gameday.sandbox.db_backup.take`, whoever
takes it: the schedule member, a drill, the playbook) and every ``SET GLOBAL gtid_slave_pos``
(:mod:`gameday.sandbox.db_replication`, :mod:`gameday.sandbox.db_region`) holds one ``fcntl`` lock
of the twin's, a file in the backup directory every member shares::

    with exclusive(db.backup_dir(twin), "rebuilding db-1 as a replica", timeout=120):
        ...  # SET GLOBAL gtid_slave_pos, CHANGE MASTER, START SLAVE

The lock is the kernel's: a process that dies releases it. The wait is bounded; a holder that
outlasts it is named in the error (what it was doing, its pid).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from ..errors import DeadlineExceeded

LOCK_FILE = ".backup-or-position.lock"
POLL_S = 0.1


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def exclusive(backup_dir: Path, what: str, *, timeout: float) -> Iterator[None]:
    """Hold the twin's backup-or-position lock (``backup_dir``: the twin's shared backup directory)
    while the block runs, waiting at most ``timeout`` seconds for it; DeadlineExceeded naming the
    holder when it is not free in time. ``what`` is written into the file for that message."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(backup_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 300, 0).decode(errors="replace").strip() or "another process"
                raise DeadlineExceeded(f"{what}: waited {timeout:g}s for the database's backup lock, held by {holder}")
            time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
