"""Build the React search front end (``services/search-frontend``, npm + esbuild) into the shared cache.
Safe to run twice.

``gameday sandbox install`` runs :func:`install` (a recipe of :mod:`.install`); the WordPress replicas'
nginx serves :func:`www` at ``/app/`` (:mod:`gameday.sandbox.members.wordpress`)::

    frontend_build.install(log)   # npm ci + npm run build, only when the sources changed
    frontend_build.www()          # /var/cache/gameday/search-frontend/www: index.html, app.js, app.css

The build runs in a copy of the sources (``search-frontend.build/``, so the checkout gets no
``node_modules/``): ``npm ci`` from the committed ``package-lock.json`` with npm's cache in
``/var/cache/gameday/npm`` (a second cold build downloads nothing), install scripts off (esbuild's
binary comes in its ``@esbuild/<platform>`` package; its postinstall only checks it), then
``npm run build -- --outdir <staging>``. The result replaces ``search-frontend/`` at once, stamped with
:func:`sources_digest`; a later install rebuilds only when that digest changed. Two installs at once
(``gameday sandbox install`` beside a test's ``install_all``, or a clone's) take turns on
``search-frontend.lock`` in the cache rather than deleting each other's build folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..deadline import wait_until
from ..errors import NotInstalled
from ..project import root as project_root
from . import source_build
from .paths import cache_dir

SOURCES = project_root() / "services" / "search-frontend"
BUILD_TIMEOUT_S = 600
LOCK_WAIT_S = 2 * BUILD_TIMEOUT_S + 60  # another install's npm ci and npm run build, each within BUILD_TIMEOUT_S
_IGNORED = {"node_modules", "dist", ".cache"}
BUNDLE = ("index.html", "app.js", "app.css")  # what the build writes, all of it served


def sources_digest(root: Path = SOURCES) -> str:
    """sha256 over the project's files (``package.json``, ``package-lock.json``, ``build.mjs``,
    ``src/``; their relative paths and contents, in path order), ignoring ``node_modules/`` and
    ``dist/``: the stamp of a build."""
    return source_build.digest(root, _IGNORED)


def home() -> Path:
    """Where the built front end lives: ``www/`` (served) and the stamp beside it."""
    return cache_dir() / "search-frontend"


def www() -> Path:
    """The folder nginx serves at ``/app/``: ``index.html``, ``app.js``, ``app.css``."""
    return home() / "www"


def _stamp() -> Path:
    return home() / source_build.STAMP


def npm_cache() -> Path:
    """npm's download cache, shared by every build and clone."""
    return cache_dir() / "npm"


def installed() -> bool:
    """True when the front end was built from the sources as they are now."""
    return (_stamp().exists() and all((www() / name).exists() for name in BUNDLE) and SOURCES.is_dir()
            and _stamp().read_text().strip() == sources_digest())


def check() -> None:
    """Raise NotInstalled when the front end is not built from the current sources."""
    if not SOURCES.is_dir():
        raise NotInstalled(f"the search front end's sources are not at {SOURCES}",
                           hint="run gameday from a checkout of the repository (pip install -e .)")
    if not installed():
        raise NotInstalled("the search front end (React) is not built from the current sources",
                           hint="run `gameday sandbox install`")


def _npm(argv: list[str], cwd: Path, log: Path) -> None:
    """Run npm in ``cwd`` with its output appended to ``log``; NotInstalled naming the log when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n".encode())
        out.flush()
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=BUILD_TIMEOUT_S)
        except FileNotFoundError as err:
            raise NotInstalled("the search front end build: npm is not installed", log=str(log),
                               hint="run `gameday sandbox install` (it installs Debian's npm)") from err
        except subprocess.TimeoutExpired as err:
            raise NotInstalled(f"the search front end build gave up after {BUILD_TIMEOUT_S} s", log=str(log)) from err
    if proc.returncode != 0:
        raise NotInstalled(f"the search front end build failed ({argv[0]} {argv[1]} exit {proc.returncode})",
                           log=str(log), hint="read the end of the log; re-running is safe")


@contextmanager
def _building(wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold ``search-frontend.lock`` (flock, in the cache) for the ``with`` block; DeadlineExceeded
    naming the lock when another install holds it for longer than ``wait_s``."""
    path = cache_dir() / "search-frontend.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def taken() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        wait_until(taken, timeout=wait_s, interval=0.5,
                   what=f"another install's search front end build to finish (it holds {path})")
        yield
    finally:
        os.close(fd)  # releases the lock


def install(log: Path) -> None:
    """``npm ci`` and ``npm run build`` unless :func:`installed`; the bundle goes to :func:`www`."""
    if installed():
        return
    if not SOURCES.is_dir():
        raise NotInstalled(f"the search front end's sources are not at {SOURCES}",
                           hint="run gameday from a checkout of the repository (pip install -e .)")
    with _building():
        if not installed():  # else another install built these sources while this one waited
            _build(log)


def _build(log: Path) -> None:
    digest = sources_digest()
    build = cache_dir() / "search-frontend.build"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(SOURCES, build, ignore=shutil.ignore_patterns(*_IGNORED))
    staged = cache_dir() / "search-frontend.new"
    shutil.rmtree(staged, ignore_errors=True)
    _npm(["npm", "ci", "--cache", str(npm_cache()), "--prefer-offline", "--ignore-scripts", "--no-audit",
          "--no-fund", "--loglevel", "warn"], build, log)
    _npm(["npm", "run", "build", "--", "--outdir", str(staged / "www")], build, log)
    missing = [name for name in BUNDLE if not (staged / "www" / name).is_file()]
    if missing:
        raise NotInstalled(f"the search front end build wrote no {', '.join(missing)}", log=str(log))
    for path in [staged, *staged.rglob("*")]:  # nginx's workers (www-data) read it
        path.chmod(0o755 if path.is_dir() else 0o644)
    source_build.put_in_place(staged, home(), digest)
    shutil.rmtree(build, ignore_errors=True)
