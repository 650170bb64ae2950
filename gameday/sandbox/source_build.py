"""Builds made at install from sources in this repository (the event relay, the search front end): their
stamp, and how a finished build replaces the last one::

    digest(root, ignored={"target"})   # sha256 hex; equal while no source file changed, moved or was renamed
    put_in_place(staged, home, digest) # staged/.complete = digest, then staged becomes home (the old one removed)

A later install rebuilds only when the digest of the sources differs from the stamp the last build left.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def digest(root: Path, ignored: set[str] | frozenset[str]) -> str:
    """sha256 over every file under ``root`` (its relative path and contents, in path order), leaving out
    any file with a path part in ``ignored`` (build output, downloaded dependencies, IDE files)."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and not ignored.intersection(p.relative_to(root).parts))
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


STAMP = ".complete"


def put_in_place(staged: Path, home: Path, digest: str) -> None:
    """Stamp the finished build in ``staged`` with ``digest`` and make it ``home``: the last build moves
    aside to ``<home>.old`` first and is removed after, so ``home`` is never a half-written build."""
    (staged / STAMP).write_text(digest + "\n")
    old = home.with_name(home.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if home.exists():
        home.rename(old)
    staged.rename(home)
    shutil.rmtree(old, ignore_errors=True)
