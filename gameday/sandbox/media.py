"""The twin's WordPress media: its uploads (``<WP_CONTENT_DIR>/uploads/YYYY/MM/...``, shared by every
replica), their backups, the media-lost fault and the restore (issue 17, "media uploads lost").

A backup is a copy of the uploads directory with a manifest of every file's path, SHA-256 and size,
under ``data/media-backups/<id>/`` (on GKE: a GCS bucket with object versioning, or Filestore
backups). It is built in ``<id>.partial`` and renamed when whole, so a directory without that suffix
is a complete backup; the newest :data:`KEEP` are kept::

    b = take(twin)                  # {"id", "at", "kind", "files", "bytes", "where"}
    newest(twin)                    # the same for the newest complete backup, or None
    manifest(twin, b["id"])         # {"2026/12/a.png": {"sha256": "...", "size": 68}, ...}
    files(twin)                     # the uploads now, the same shape
    lose(twin, fraction=0.5)        # the fault: half the files deleted (the sorted list's every other one)
    restore(twin, b["id"])          # each manifest file missing or changed copied back, checksum checked

Paths are relative to the uploads directory, with ``/``; a path that is absolute, climbs out (``..``)
or names a link is refused, in a manifest as on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import GamedayError
from .twin import Twin

KEEP = 5
MANIFEST = "manifest.json"
PARTIAL = ".partial"
KIND = "uploads copy with a SHA-256 manifest"
CHUNK = 1 << 20


def uploads_dir(twin: Twin) -> Path:
    """The twin's uploads (WordPress's ``wp-content/uploads``, in the twin's WP_CONTENT_DIR)."""
    from .members import wordpress
    return wordpress.content_dir(twin) / "uploads"


def backups_dir(twin: Twin) -> Path:
    return twin.paths.data / "media-backups"


def has_media(twin: Twin) -> bool:
    """Whether this twin keeps WordPress uploads (a WordPress web tier, prepared)."""
    return uploads_dir(twin).is_dir()


def _require(twin: Twin) -> Path:
    up = uploads_dir(twin)
    if not up.is_dir():
        raise GamedayError(f"twin {twin.name} has no WordPress uploads ({up} does not exist): the Python site keeps no media",
                           hint="run it on a WordPress twin: gameday sandbox up --web wordpress")
    return up


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _safe(rel: str) -> str:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise GamedayError(f"media path {rel!r} is not a plain path inside the uploads directory")
    return rel


def files(twin: Twin) -> dict[str, dict[str, Any]]:
    """Every regular file under the uploads now: ``{relative path: {"sha256", "size"}}`` (links skipped)."""
    up = _require(twin)
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(up.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(up).as_posix()] = {"sha256": sha256(path), "size": path.stat().st_size}
    return out


def _web_ids() -> tuple[int, int] | None:
    from .members import wordpress
    return wordpress._web_ids()


def _describe(twin: Twin, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": data["id"], "at": float(data["at"]), "kind": KIND, "files": len(data["files"]),
            "bytes": sum(int(f["size"]) for f in data["files"].values()),
            "where": str(backups_dir(twin) / data["id"])}


def take(twin: Twin, *, keep: int = KEEP) -> dict[str, Any]:
    """A backup of the uploads now (what the platform's schedule does, :mod:`.media_backup_schedule`):
    each file copied and its checksum taken from the copy; the manifest written last, the directory
    renamed when whole; then every complete backup but the newest ``keep`` deleted."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise GamedayError(f"keep must be a whole number >= 1, not {keep!r}")
    up = _require(twin)
    root = backups_dir(twin)
    root.mkdir(parents=True, exist_ok=True)
    at = time.time()
    # milliseconds and the pid: two backups in one second never share a name
    bid = time.strftime("media-%Y%m%dT%H%M%S", time.gmtime(at)) + f"{int(at * 1000) % 1000:03d}Z-{os.getpid()}"
    staging = root / (bid + PARTIAL)
    shutil.rmtree(staging, ignore_errors=True)
    listing: dict[str, dict[str, Any]] = {}
    for path in sorted(up.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(up).as_posix()
        copy = staging / "files" / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
        listing[rel] = {"sha256": sha256(copy), "size": copy.stat().st_size}
    data = {"id": bid, "at": at, "kind": KIND, "files": listing}
    staging.mkdir(parents=True, exist_ok=True)
    (staging / MANIFEST).write_text(json.dumps(data, indent=1, sort_keys=True))
    staging.rename(root / bid)
    for old in _complete(twin)[:-keep]:
        shutil.rmtree(root / old["id"], ignore_errors=True)
    return _describe(twin, data)


def _read(twin: Twin, bid: str) -> dict[str, Any]:
    if not bid or "/" in bid or bid.startswith(".") or bid.endswith(PARTIAL):
        raise GamedayError(f"{bid!r} is not a media backup id")
    path = backups_dir(twin) / bid / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GamedayError(f"no media backup {bid} in {backups_dir(twin)}") from None
    except (OSError, ValueError) as err:
        raise GamedayError(f"media backup {bid}: its manifest cannot be read ({type(err).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict) or not isinstance(data.get("at"), (int, float)):
        raise GamedayError(f"media backup {bid}: its manifest has no files or no time")
    for rel in data["files"]:
        _safe(rel)
    return data


def _complete(twin: Twin) -> list[dict[str, Any]]:
    root = backups_dir(twin)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and not d.name.endswith(PARTIAL) and (d / MANIFEST).is_file():
            try:
                out.append(_read(twin, d.name))
            except GamedayError:
                continue  # a damaged backup is no backup
    return sorted(out, key=lambda b: float(b["at"]))


def newest(twin: Twin) -> dict[str, Any] | None:
    """The newest complete backup, as :func:`take` returns it, or None when there is none."""
    done = _complete(twin)
    return _describe(twin, done[-1]) if done else None


def backups(twin: Twin) -> list[dict[str, Any]]:
    """Every complete backup, oldest first, as :func:`take` returns it."""
    return [_describe(twin, data) for data in _complete(twin)]


def manifest(twin: Twin, bid: str) -> dict[str, dict[str, Any]]:
    """A backup's manifest: ``{relative path: {"sha256", "size"}}``."""
    return dict(_read(twin, bid)["files"])


def lose(twin: Twin, fraction: float = 1.0) -> list[str]:
    """The fault: delete ``fraction`` of the uploaded files (spread over the sorted list: for 0.5 every
    other one), then empty month directories. Returns the deleted paths, sorted."""
    if not 0 < float(fraction) <= 1:
        raise GamedayError(f"fraction must be above 0 and at most 1, not {fraction!r}")
    up = _require(twin)
    present = sorted(p for p in up.rglob("*") if p.is_file() and not p.is_symlink())
    n = math.ceil(len(present) * float(fraction))
    chosen = [present[math.floor(i * len(present) / n)] for i in range(n)] if n else []
    for path in chosen:
        path.unlink(missing_ok=True)
    for d in sorted((p for p in up.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    return sorted(p.relative_to(up).as_posix() for p in chosen)


def restore(twin: Twin, bid: str | None = None) -> dict[str, Any]:
    """Copy back from backup ``bid`` (default the newest) every file of its manifest that is missing or
    differs, through a temporary name, its checksum checked before it takes the file's place (writable
    by the web server's user, as WordPress wrote it). Files not in the backup are left as they are.
    Returns ``{"backup", "at", "restored", "unchanged", "bytes", "seconds"}``."""
    up = _require(twin)
    if bid is None:
        found = newest(twin)
        if found is None:
            raise GamedayError(f"twin {twin.name} has no media backup to restore from ({backups_dir(twin)})",
                               hint="a backup is taken by the media backup (Target.take_media_backup); none was")
        bid = found["id"]
    data = _read(twin, bid)
    src_root = backups_dir(twin) / bid / "files"
    ids = _web_ids()
    started = time.monotonic()
    restored, unchanged, size = [], 0, 0
    for rel, want in sorted(data["files"].items()):
        dest = up / rel
        if dest.is_file() and not dest.is_symlink() and dest.stat().st_size == want["size"] and sha256(dest) == want["sha256"]:
            unchanged += 1
            continue
        src = src_root / rel
        if not src.is_file():
            raise GamedayError(f"media backup {bid} lists {rel} but holds no copy of it")
        for d in reversed([dest.parent, *dest.parent.parents]):
            if d == up or up not in d.parents:
                continue
            if not d.exists():
                d.mkdir()
                if ids:
                    os.chown(d, *ids)
        tmp = dest.with_name(f".{dest.name}.restoring")
        shutil.copy2(src, tmp)
        if sha256(tmp) != want["sha256"]:
            tmp.unlink(missing_ok=True)
            raise GamedayError(f"media backup {bid}: the copy of {rel} does not match its manifest's checksum")
        if ids:
            os.chown(tmp, *ids)
        os.replace(tmp, dest)
        restored.append(rel)
        size += int(want["size"])
    return {"backup": bid, "at": float(data["at"]), "restored": len(restored), "unchanged": unchanged,
            "bytes": size, "seconds": round(time.monotonic() - started, 3)}
