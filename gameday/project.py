"""Where the project directory is: the folder holding environments/, experiments/, loadtests/,
recovery_playbooks/, schemas/, inventory/, targets.yaml and platform.yaml.

Every module that reads one of them takes its root from here, once, at import::

    from ..project import root as project_root

    ROOT = project_root()
    ENVIRONMENTS = ROOT / "environments"

The project directory is, first match wins:

1. ``$GAMEDAY_HOME``, when set (it must be a directory);
2. the source checkout the package runs from: the parent of the ``gameday`` package directory,
   when it holds ``experiments/`` (a clone, an editable install, the container image);
3. the current working directory, when it holds ``experiments/`` or ``environments/``
   (an installed gameday, e.g. ``pipx install .``, run from inside a checkout).

:func:`root` never raises, so importing any module (and ``gameday --version`` / ``--help``) always
works: when no project directory is found it returns a :class:`MissingHome` path, on which path
arithmetic (``/``, ``name``, ``parents``, ``relative_to``, ``str``) works but every file-system
access raises the :class:`~gameday.errors.UsageError` (exit 2) that says to set ``GAMEDAY_HOME``.
:func:`home` is the same lookup for code that wants the error at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError

__all__ = ["ENV_VAR", "home", "root", "MissingHome"]

ENV_VAR = "GAMEDAY_HOME"
PACKAGE_DIR = Path(__file__).resolve().parent


def home() -> Path:
    """The project directory (resolved), looked up now as the module docstring says; a UsageError
    naming ``GAMEDAY_HOME`` when there is none. Reads the environment and stats a few folders only."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise UsageError(f"{ENV_VAR}={configured} is not a directory",
                             hint=f"set {ENV_VAR} to the gameday project directory (the one holding "
                                  "environments/ and experiments/)")
        return path.resolve()
    checkout = PACKAGE_DIR.parent
    if (checkout / "experiments").is_dir():
        return checkout
    cwd = Path.cwd()
    if (cwd / "experiments").is_dir() or (cwd / "environments").is_dir():
        return cwd.resolve()
    raise UsageError(f"cannot find the gameday project directory (environments/, experiments/, loadtests/, ...): "
                     f"{ENV_VAR} is not set, gameday is not running from a checkout ({checkout}), and the "
                     f"current directory ({cwd}) has neither experiments/ nor environments/",
                     hint=f"set {ENV_VAR}=/path/to/the/checkout (or run from inside it)")


def root() -> Path:
    """:func:`home`, or a :class:`MissingHome` when it is not found; never raises. Call it at import
    to build a module's folder constants (the error then comes where a folder is first read)."""
    try:
        return home()
    except UsageError:
        return MissingHome(f"${ENV_VAR}")


class MissingHome(type(Path())):  # type: ignore[misc]  # PosixPath here; paths derived with / keep this class
    """The stand-in for a project directory that was not found. ``str()`` reads ``$GAMEDAY_HOME/...``
    (fine in help texts and messages); opening, stat-ing (``exists()`` too) or resolving it, or passing
    it to ``open()``/``os``/``subprocess`` (``os.fspath``), raises the UsageError of :func:`home`.
    Listing it (``glob``, ``rglob``, ``iterdir``) yields nothing instead, because some modules list a
    folder at import (``gameday playbook``'s layer choices) and ``--help`` must still work; every
    load by name checks its file (``exists()``, ``is_file()``) first, so it still gets the error."""

    __slots__ = ()

    def _missing(self, *_args, **_kwargs):
        try:
            home()
        except UsageError as err:
            raise UsageError(f"cannot read {self}: {err.message}", hint=err.hint) from None
        raise UsageError(f"cannot read {self}: the gameday project directory was not found when gameday started",
                         hint=f"set {ENV_VAR} before starting gameday")

    def _nothing(self, *_args, **_kwargs):
        return iter(())

    __fspath__ = _missing  # open(), os.*, subprocess, and Path's own I/O on 3.11 go through it
    glob = rglob = iterdir = _nothing


# Named too, as later Pythons' pathlib reaches some of these without os.fspath.
for _name in ("stat", "lstat", "exists", "is_dir", "is_file", "is_symlink", "walk",
              "resolve", "absolute", "open", "read_text", "read_bytes", "write_text", "write_bytes",
              "mkdir", "touch", "unlink", "rename", "replace", "samefile", "owner", "group", "readlink"):
    setattr(MissingHome, _name, MissingHome._missing)
del _name
