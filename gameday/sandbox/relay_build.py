"""Build the Java outbox relay (``services/event-relay``, Maven) into the shared cache. Safe to run twice.

``gameday sandbox install`` runs :func:`install` (a recipe of :mod:`.install`)::

    relay_build.install(log)        # mvn -B -q package, only when the sources changed
    relay_build.jar()               # /var/cache/gameday/event-relay/event-relay.jar (its libs beside it)

The build runs in a copy of the sources (``event-relay.build/``, so the checkout gets no ``target/``) and
resolves kafka-clients, MariaDB Connector/J and the pinned Maven plugins into the local Maven repository,
as the Kafka recipe does. The result (``event-relay.jar`` + ``lib/``) replaces ``event-relay/`` at once,
stamped with :func:`sources_digest`; a later install rebuilds only when that digest changed. A relay
already running keeps the jars it opened.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import NotInstalled
from ..project import root as project_root
from . import source_build
from .paths import cache_dir

SOURCES = project_root() / "services" / "event-relay"
BUILD_TIMEOUT_S = 900
MAIN_CLASS = "gameday.relay.Main"
_IGNORED = {"target", ".idea", ".classpath", ".project", ".settings"}


def sources_digest(root: Path = SOURCES) -> str:
    """sha256 over the project's files (``pom.xml`` and ``src/``; their relative paths and contents, in
    path order), ignoring build output (``target/``) and IDE files: the stamp of a build."""
    return source_build.digest(root, _IGNORED)


def home() -> Path:
    """Where the built relay lives: ``event-relay.jar`` and ``lib/``."""
    return cache_dir() / "event-relay"


def jar() -> Path:
    return home() / "event-relay.jar"


def _stamp() -> Path:
    return home() / source_build.STAMP


def installed() -> bool:
    """True when the relay was built from the sources as they are now."""
    return (_stamp().exists() and jar().exists() and SOURCES.is_dir()
            and _stamp().read_text().strip() == sources_digest())


def check() -> None:
    """Raise NotInstalled when the relay is not built from the current sources."""
    if not SOURCES.is_dir():
        raise NotInstalled(f"the event relay's sources are not at {SOURCES}",
                           hint="run gameday from a checkout of the repository (pip install -e .)")
    if not installed():
        raise NotInstalled("the event relay (Java) is not built from the current sources",
                           hint="run `gameday sandbox install`")


def _mvn(argv: list[str], log: Path) -> None:
    """Run Maven with its output appended to ``log``; NotInstalled naming the log when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
        except FileNotFoundError as err:
            raise NotInstalled("the event relay build: mvn is not installed", log=str(log),
                               hint="run `gameday sandbox install` (it installs Debian's maven)") from err
        except subprocess.TimeoutExpired as err:
            raise NotInstalled(f"the event relay build gave up after {BUILD_TIMEOUT_S} s", log=str(log)) from err
    if proc.returncode != 0:
        raise NotInstalled(f"the event relay build failed (mvn exit {proc.returncode})", log=str(log),
                           hint="read the end of the log; re-running is safe")


def install(log: Path) -> None:
    """``mvn -B -q package`` the relay unless :func:`installed`; the jar and its libs go to :func:`home`."""
    if installed():
        return
    if not SOURCES.is_dir():
        raise NotInstalled(f"the event relay's sources are not at {SOURCES}",
                           hint="run gameday from a checkout of the repository (pip install -e .)")
    digest = sources_digest()
    build = cache_dir() / "event-relay.build"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(SOURCES, build, ignore=shutil.ignore_patterns(*_IGNORED))
    _mvn(["mvn", "-B", "-q", "-f", str(build / "pom.xml"), "package"], log)
    staged = cache_dir() / "event-relay.new"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    shutil.copy2(build / "target" / "event-relay.jar", staged / "event-relay.jar")
    shutil.copytree(build / "target" / "lib", staged / "lib")
    source_build.put_in_place(staged, home(), digest)
    shutil.rmtree(build, ignore_errors=True)
