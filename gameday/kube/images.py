"""What an ``image:`` means to a node agent that runs containers as host processes.

There are no images here: a container runs its ``command`` on the host. The twin's agent is given a
map (``--image NAME=BIN_DIR``, from :func:`gameday.kube.members._node_agent`): a container whose image's
repository name (the last path component, without tag or digest) is ``NAME`` gets ``BIN_DIR`` first on
its ``PATH``, as the image's ``ENV PATH`` would. The twin maps ``gameday`` (deploy/'s CronJob, under any
registry, e.g. ``europe-west2-docker.pkg.dev/sps-staging/tools/gameday:0.1.0``) to the project's venv
``bin``: ``command: [gameday]`` runs this checkout's ``gameday``. Any other image, ``host-process``
included, runs with the agent's ``PATH``.

An image's programs must be reachable by the container's user: the venv's interpreter may live in a
directory that user cannot search (``/root/.pyenv``). :func:`masks` says which directories the
container's mount namespace covers with a tmpfs holding only what the image needs (:mod:`.nsinit`)::

    image = parse("gameday=/work/main/.venv/bin")
    masks(image.reach, uid=10001, gids=[10001])   # [("/root", ["/root/.pyenv"])]
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable


@dataclass(frozen=True)
class Image:
    name: str                 # the repository's last path component
    bin_dir: str              # first on the container's PATH
    reach: tuple[str, ...]    # host directories its programs need (the venv, its interpreter's prefix)


def repository_name(ref: str) -> str:
    """``registry:5000/a/b/gameday:0.1.0@sha256:...`` -> ``gameday``."""
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def parse(spec: str) -> Image:
    """``NAME=BIN_DIR``; ``reach`` is BIN_DIR's parent and, when BIN_DIR holds a ``python`` symlinked
    elsewhere (a venv), the prefix of the interpreter it points at."""
    name, sep, bin_dir = spec.partition("=")
    if not sep or not name or not bin_dir.startswith("/"):
        raise ValueError(f"--image {spec!r}: expected NAME=/absolute/bin/dir")
    reach = [os.path.dirname(bin_dir.rstrip("/"))]
    python = os.path.join(bin_dir, "python")
    if os.path.lexists(python):
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        if prefix not in reach:
            reach.append(prefix)
    return Image(name=name, bin_dir=bin_dir, reach=tuple(reach))


def lookup(images: dict[str, Image], ref: str | None) -> Image | None:
    return images.get(repository_name(ref or ""))


def searchable(info: os.stat_result, uid: int, gids: list[int]) -> bool:
    """Whether ``uid`` (with groups ``gids``) may search (traverse) a directory with this stat."""
    if uid == 0:
        return True
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == uid:
        return bool(mode & 0o100)
    if info.st_gid in gids:
        return bool(mode & 0o010)
    return bool(mode & 0o001)


def masks(paths: tuple[str, ...] | list[str], *, uid: int, gids: list[int],
          stat_fn: Callable[[str], os.stat_result] = os.stat) -> list[tuple[str, list[str]]]:
    """``[(directory, [its children to keep])]``: for each path, the first ancestor ``uid`` cannot search
    and the child of it on the way to the path. Raises ValueError when something below that child is
    not searchable either (one level is all a mask gives)."""
    out: dict[str, list[str]] = {}
    for path in paths:
        parts = PurePosixPath(path).parts
        blocked = None
        for depth in range(1, len(parts) + 1):
            here = str(PurePosixPath(*parts[:depth]))
            if searchable(stat_fn(here), uid, gids):
                continue
            if blocked is not None:
                raise ValueError(f"{here} is not searchable by uid {uid} either: {path} cannot be reached "
                                 f"by masking {blocked}")
            if depth == len(parts):
                raise ValueError(f"{path} itself is not searchable by uid {uid}")
            blocked = here
            keep = str(PurePosixPath(*parts[:depth + 1]))
            if keep not in out.setdefault(here, []):
                out[here].append(keep)
    return [(d, keep) for d, keep in out.items()]
