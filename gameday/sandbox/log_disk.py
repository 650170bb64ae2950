"""A size-limited filesystem for one Kafka broker's log directory on the twin: what the disk-full
drill fills (issue 15, coverage cell kafka-brokers/disk-full).

What works on this machine (root in a container-like sandbox, tried by hand): ``mount -t tmpfs -o
size=8m`` gives ENOSPC at 8 MB, and so does a loop-mounted ext4 image (``truncate``, ``mkfs.ext4``,
``mount -o loop``). The loop image is used: a disk-backed filesystem like a broker's volume, kept
across ``sandbox down``/``up`` (remounted at ``up``) and not held in memory. ``ulimit -f`` is not a
full disk (the process gets SIGXFSZ and dies: a crash).

Only kafka-3 gets one, and only when its storage is made from nothing (a fresh or wiped twin) by a
process running as root with ``mkfs.ext4`` and a free loop device; otherwise the twin has no small
disk and the drill refuses, saying why (:func:`require`). Its log directory is then
``<data>/kafka-3.disk/kafka-3`` (a directory inside the mount, so a lost-disk drill can delete it);
the image is ``<data>/kafka-3.disk.img`` and the record ``<conf>/kafka-3.disk.json``::

    log_disk.ensure(twin, 3, fresh=True)     # at `sandbox up` (members.kafka.prepare)
    log_disk.usage(twin, 3)                  # {"size", "used", "avail", "percent", "filler", ...}
    log_disk.fill(twin, 3)                   # a filler file takes every free block: ENOSPC
    log_disk.free(twin, 3)                   # the filler removed (what expanding the volume does)
    log_disk.unmount_all(twin.paths.home)    # before `sandbox down --wipe` deletes the twin's home
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import GamedayError, UsageError
from .twin import Twin

MEMBER_INDEX = 3  # kafka-3
SIZE_MB = 256
FILLER = ".gameday-disk-filler"
FULL_AVAIL_BYTES = 1 << 20  # under 1 MiB free: full (Kafka's next segment or checkpoint write fails)
TOOL_TIMEOUT = 60


def record_file(twin: Twin, i: int) -> Path:
    return twin.paths.conf / f"kafka-{i}.disk.json"


def mount_point(twin: Twin, i: int) -> Path:
    return twin.paths.data / f"kafka-{i}.disk"


def image_file(twin: Twin, i: int) -> Path:
    return twin.paths.data / f"kafka-{i}.disk.img"


def record(twin: Twin, i: int) -> dict[str, Any] | None:
    """The small disk made for node ``i`` (``{"image", "mount", "size_mb", "fs"}``), or None."""
    f = record_file(twin, i)
    return json.loads(f.read_text()) if f.exists() else None


def log_dir(twin: Twin, i: int) -> Path | None:
    """Node ``i``'s log directory on its small disk, or None when it has none."""
    return mount_point(twin, i) / f"kafka-{i}" if record(twin, i) else None


def _run(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    if out.returncode != 0:
        raise GamedayError(f"`{' '.join(argv)}` failed (exit {out.returncode}): {(out.stderr or out.stdout).strip()[-300:]}")


def _mount(twin: Twin, i: int) -> None:
    mount_point(twin, i).mkdir(parents=True, exist_ok=True)
    _run(["mount", "-o", "loop,nodev,nosuid,noexec", str(image_file(twin, i)), str(mount_point(twin, i))])


def why_not_possible() -> str | None:
    """Why this process cannot make a loop-mounted filesystem, or None when it can try."""
    if os.geteuid() != 0:
        return "making a filesystem needs root (mount -o loop)"
    missing = [t for t in ("mkfs.ext4", "mount", "umount", "losetup") if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)} (Debian: e2fsprogs, mount)"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control)"
    return None


def ensure(twin: Twin, i: int, *, fresh: bool, size_mb: int = SIZE_MB) -> dict[str, Any] | None:
    """At ``sandbox up``: mount node ``i``'s small disk again if it has one; make one of ``size_mb`` when
    ``fresh`` (its storage is about to be formatted from nothing), ``i`` is :data:`MEMBER_INDEX` and this
    process can (:func:`why_not_possible`). Returns the record, or None (no small disk: the broker's
    log directory stays in the twin's data directory). A recorded disk that cannot be mounted
    raises (its data is in the image). Called before ``sandbox up`` with a larger ``size_mb``, it sizes
    the disk ``up`` then mounts (the restore bench: 222,000 events of about 1 KB filled 256 MB)."""
    made = record(twin, i)
    if made:
        if not os.path.ismount(mount_point(twin, i)):
            _mount(twin, i)
        return made
    if not fresh or i != MEMBER_INDEX or why_not_possible():
        return None
    img = image_file(twin, i)
    try:
        img.parent.mkdir(parents=True, exist_ok=True)
        with open(img, "wb") as fh:
            fh.truncate(size_mb << 20)  # sparse: blocks are used on the host only as they are written
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", f"kafka-{i}-logs", str(img)])
        _mount(twin, i)
    except (GamedayError, OSError, subprocess.TimeoutExpired):
        if os.path.ismount(mount_point(twin, i)):
            _run(["umount", "-d", str(mount_point(twin, i))])
        img.unlink(missing_ok=True)
        return None  # no small disk here: the drill refuses (require)
    made = {"image": str(img), "mount": str(mount_point(twin, i)), "size_mb": size_mb, "fs": "ext4 (loop)"}
    record_file(twin, i).parent.mkdir(parents=True, exist_ok=True)
    record_file(twin, i).write_text(json.dumps(made))
    return made


def require(twin: Twin, i: int) -> dict[str, Any]:
    """The small disk of node ``i``, mounted; a UsageError saying why there is none (nothing touched)."""
    made = record(twin, i)
    if not made:
        why = why_not_possible() or "it is made only when kafka-3's storage is made from nothing"
        raise UsageError(f"kafka-{i}'s log directory is on no size-limited filesystem ({why}); nothing was touched",
                         hint="as root, recreate the twin: gameday sandbox down --wipe, then gameday sandbox up")
    if not os.path.ismount(made["mount"]):
        raise UsageError(f"kafka-{i}'s small disk {made['image']} is not mounted at {made['mount']}; nothing was touched",
                         hint="`gameday sandbox up` mounts it again")
    return made


def usage(twin: Twin, i: int) -> dict[str, Any]:
    """``{"member", "mount", "size", "used", "avail", "percent", "full", "filler"}`` (bytes) of node
    ``i``'s small disk (which must exist: :func:`require`)."""
    made = require(twin, i)
    st = os.statvfs(made["mount"])
    size, avail = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    filler = Path(made["mount"]) / FILLER
    return {"member": f"kafka-{i}", "mount": made["mount"], "size": size, "used": size - avail, "avail": avail,
            "percent": round(100.0 * (size - avail) / size, 1) if size else 100.0, "full": avail < FULL_AVAIL_BYTES,
            "filler": filler.stat().st_size if filler.exists() else 0}


def fill(twin: Twin, i: int) -> dict[str, Any]:
    """Take every free block of node ``i``'s small disk with a filler file (allocated, then topped up
    with zeros until the filesystem answers ENOSPC), as a runaway log or a forgotten dump does.
    Returns :func:`usage` afterwards."""
    made = require(twin, i)
    path = Path(made["mount"]) / FILLER
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        want = usage(twin, i)["avail"]
        while want > 0:  # at most ~64 tries: the metadata a large allocation needs is a few blocks
            try:
                os.posix_fallocate(fd, os.fstat(fd).st_size, want)
                break
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                want -= 4 << 20
        chunk = b"\0" * 65536
        for _ in range(int(FULL_AVAIL_BYTES * 64 / len(chunk))):  # bounded: 64 MiB of zeros at most
            try:
                os.write(fd, chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 4096:
                    break
                chunk = b"\0" * 4096
        os.fsync(fd)
    finally:
        os.close(fd)
    return usage(twin, i)


def free(twin: Twin, i: int) -> dict[str, Any]:
    """Remove the filler from node ``i``'s small disk (harmless when there is none). Returns
    ``{"member", "existed", "freed", "usage"}``."""
    made = require(twin, i)
    path = Path(made["mount"]) / FILLER
    size = path.stat().st_size if path.exists() else 0
    path.unlink(missing_ok=True)
    return {"member": f"kafka-{i}", "existed": size > 0, "freed": size, "usage": usage(twin, i)}


def unmount_all(home: Path) -> list[str]:
    """Unmount (and detach the loop device of) every filesystem mounted under ``home``, deepest
    first, so ``sandbox down --wipe`` can delete it. Returns the mount points unmounted."""
    root = str(Path(home).resolve())
    mounts = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            point = fields[1].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        _run(["umount", "-d", point])
    return mounts
