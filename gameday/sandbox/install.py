"""Install everything the twin runs, by package name, into a shared cache. Safe to run twice.

``gameday sandbox install`` calls :func:`install_all`. Each recipe checks for its finished result
first (a ``.complete`` stamp or the package's presence) and does nothing if it is there:

- Debian packages: HAProxy, MariaDB, wrk (and Java, Maven, Go if the machine lacks them);
- WordPress 6.1 from Debian on PHP-FPM 8.2 behind nginx, Redis with php-redis for its object cache,
  and Varnish 7.1 as the CDN in front (:data:`WORDPRESS_PACKAGES`; with ``php8.2``
  named, apt satisfies WordPress's ``httpd`` and ``php`` dependencies with nginx and php8.2-fpm, not
  Apache and mod_php; no service the packages would start is started: :func:`install_wordpress`);
- Apache Kafka (KRaft) jars and MirrorMaker 2 (connect-mirror) from Maven Central via the
  maven-dependency-plugin (again when ``recipes/kafka-pom.xml`` changed: its digest is the stamp);
- the Java outbox relay (``services/event-relay``), ``mvn package`` again only when its sources changed
  (:mod:`.relay_build`);
- the React search front end (``services/search-frontend``), ``npm ci`` + its esbuild build again only
  when its sources changed (:mod:`.frontend_build`);
- the OpenSearch integ-test distribution zip from Maven Central, and a copy of it with the
  ``opensearch-security`` plugin (also from Maven Central) installed: what the twin's nodes run;
- toxiproxy, built with ``go install`` from its Go module;
- kustomize (renders ``deploy/``), built with ``go install`` from its Go module;
- the ``gameday`` system user OpenSearch runs as (it refuses to run as root).

:func:`locations` tells the rest of the code where each piece landed; :func:`check` says what is
missing without installing anything.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import NotInstalled
from .paths import cache_dir

KAFKA_VERSION = "4.3.1"
OPENSEARCH_VERSION = "2.19.3"
SECURITY_PLUGIN_VERSION = f"{OPENSEARCH_VERSION}.0"  # org.opensearch.plugin:opensearch-security
TOXIPROXY_VERSION = "v2.5.0"
KUSTOMIZE_VERSION = "v5.7.1"  # v5.8.x needs Go 1.27; this machine has 1.26
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
SYSTEM_USER = "gameday"
APT_PACKAGES = {  # command -> Debian package
    "haproxy": "haproxy",
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-client",
    "mariadb-backup": "mariadb-backup",  # the raw tool benchmarks/restore_bench.py compares restores with
    "wrk": "wrk",
    "setpriv": "util-linux",
    "chromium": "chromium",  # prints report.pdf; renders the report in tests
}
TOOL_PACKAGES = {"java": "openjdk-17-jre-headless", "javac": "openjdk-17-jdk-headless",  # javac: the event relay's build
                 "mvn": "maven", "go": "golang-go", "unzip": "unzip",
                 "npm": "npm"}  # npm: the search front end's build (Debian's npm brings nodejs)
SBIN = ("/usr/sbin", "/sbin")
# Debian package -> a file it installs (its presence says the package is there). php8.2 (the metapackage,
# satisfied by php8.2-fpm) must be named: without it apt picks libapache2-mod-php for WordPress's
# `libapache2-mod-php | php` and so pulls apache2-bin (`apt-get install -s` shows it); nginx provides `httpd`.
WORDPRESS_THEMES = "/usr/share/wordpress/wp-content/themes"
# The site's theme: Debian's Twenty Twenty-One, a classic PHP theme as most production sites' own themes
# are (the block theme Twenty Twenty-Three, 6.1's default, costs twice the CPU per page: about 60 ms against
# 31 ms here). wp-config.php names it WP_DEFAULT_THEME, so a fresh install activates it.
WORDPRESS_THEME = "twentytwentyone"
WORDPRESS_PACKAGES = {
    "nginx": "/usr/sbin/nginx",
    "php8.2": "/usr/share/doc/php8.2",
    "php8.2-fpm": "/usr/sbin/php-fpm8.2",
    "php8.2-cli": "/usr/bin/php8.2",
    "php8.2-mysql": "/etc/php/8.2/mods-available/mysqli.ini",
    "wordpress": "/usr/share/wordpress/wp-load.php",
    # the site's theme (WORDPRESS_THEME): without a theme every page is a 200 with an empty body
    "wordpress-theme-twentytwentyone": f"{WORDPRESS_THEMES}/twentytwentyone/style.css",
    "redis-server": "/usr/bin/redis-server",  # the object cache (:mod:`.members.redis_cache`)
    "php8.2-redis": "/etc/php/8.2/mods-available/redis.ini",  # php-redis, which its drop-in uses
    "varnish": "/usr/sbin/varnishd",  # the CDN stand-in in front of the load balancer (:mod:`.members.cdn`)
}
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")  # invoke-rc.d asks it whether a package may start its service
KAFKA_POM = Path(__file__).with_name("recipes") / "kafka-pom.xml"  # Kafka, its tools and MirrorMaker 2


@dataclass(frozen=True)
class Locations:
    kafka_libs: Path
    opensearch_home: Path
    toxiproxy: Path
    java: str | None
    haproxy: str | None
    mariadbd: str | None
    mariadb_install_db: str | None


def _which(cmd: str) -> str | None:
    return shutil.which(cmd) or shutil.which(cmd, path=os.pathsep.join((os.environ.get("PATH", ""),) + SBIN))


def locations() -> Locations:
    root = cache_dir()
    return Locations(
        kafka_libs=root / f"kafka-{KAFKA_VERSION}" / "libs",
        opensearch_home=secured_opensearch_home(),
        toxiproxy=root / f"toxiproxy-{TOXIPROXY_VERSION}" / "bin" / "server",
        java=_which("java"),
        haproxy=_which("haproxy"),
        mariadbd=_which("mariadbd"),
        mariadb_install_db=_which("mariadb-install-db"),
    )


def plain_opensearch_home() -> Path:
    """The OpenSearch distribution as Maven Central ships it (no security plugin)."""
    return cache_dir() / f"opensearch-{OPENSEARCH_VERSION}"


def secured_opensearch_home() -> Path:
    """A copy of :func:`plain_opensearch_home` with the security plugin installed: what the twin runs.
    A copy, not the plain distribution changed in place: a node of that distribution without the
    plugin's settings would refuse to start, and a twin of an older checkout may still run it."""
    return cache_dir() / f"opensearch-{OPENSEARCH_VERSION}-security-{SECURITY_PLUGIN_VERSION}"


def _stamp(path: Path) -> Path:
    return path / ".complete"


def missing() -> list[str]:
    """What `gameday sandbox install` would still have to do (empty when everything is in place)."""
    loc = locations()
    gaps = [f"{cmd} (Debian package {pkg})" for cmd, pkg in APT_PACKAGES.items() if not _which(cmd)]
    gaps += [f"{pkg} (Debian package)" for pkg in wordpress_missing()]
    if not loc.java:
        gaps.append("java 17+ (Debian package openjdk-17-jre-headless)")
    if not kafka_installed():
        gaps.append(f"Apache Kafka {KAFKA_VERSION} jars (with MirrorMaker 2)")
    if not _stamp(plain_opensearch_home()).exists():
        gaps.append(f"OpenSearch {OPENSEARCH_VERSION}")
    if not _stamp(loc.opensearch_home).exists():
        gaps.append(f"the OpenSearch security plugin {SECURITY_PLUGIN_VERSION}")
    if not loc.toxiproxy.exists():
        gaps.append(f"toxiproxy {TOXIPROXY_VERSION}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            gaps.append(f"system user {SYSTEM_USER!r}")
    return gaps


def check() -> None:
    """Raise NotInstalled naming every missing piece and the command that installs it."""
    gaps = missing()
    if gaps:
        raise NotInstalled("not installed: " + "; ".join(gaps), hint="run `gameday sandbox install`")


def _run(argv: list[str], what: str, log: Path, env: dict | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=1800)
        except FileNotFoundError as err:
            raise NotInstalled(f"{what}: {argv[0]} is not installed", log=str(log)) from err
        except subprocess.TimeoutExpired as err:
            raise NotInstalled(f"{what}: gave up after 30 minutes", log=str(log)) from err
    if proc.returncode != 0:
        raise NotInstalled(f"{what} failed (exit {proc.returncode})", log=str(log),
                           hint="read the end of the log; re-running is safe")


def _apt(packages: list[str], log: Path) -> None:
    if not packages:
        return
    if os.geteuid() != 0:
        raise NotInstalled(f"Debian packages missing: {' '.join(packages)}",
                           hint=f"run `sudo apt-get install -y {' '.join(packages)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    try:
        _run(cmd, "apt-get install", log, env)
    except NotInstalled:
        _run(["apt-get", "update"], "apt-get update", log, env)
        _run(cmd, "apt-get install", log, env)


def install_debian(log: Path) -> None:
    needed = {pkg for cmd, pkg in {**APT_PACKAGES, **TOOL_PACKAGES}.items() if not _which(cmd)}
    _apt(sorted(needed), log)


def wordpress_missing() -> list[str]:
    """The Debian packages of the WordPress member (:data:`WORDPRESS_PACKAGES`) not installed yet."""
    return [pkg for pkg, marker in WORDPRESS_PACKAGES.items() if not Path(marker).exists()]


def install_wordpress(log: Path) -> None:
    """apt-get install WordPress, PHP-FPM 8.2 and nginx (:data:`WORDPRESS_PACKAGES`), unless all are
    there. The packages' postinst scripts would start nginx (port 80), the system php-fpm, Redis and
    Varnish (port 6081): a
    ``policy-rc.d`` that forbids it is put in place for the install when the machine has none (a
    container image usually has one) and removed afterwards. The twin runs its own nginx and php-fpm
    per member, with its own configuration (:mod:`gameday.sandbox.members.wordpress`)."""
    if not wordpress_missing():
        return
    placed = False
    if os.geteuid() == 0 and not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\n# gameday sandbox install: no service starts during the install\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
        placed = True
    try:
        _apt(list(WORDPRESS_PACKAGES), log)
    finally:
        if placed:
            POLICY_RC_D.unlink(missing_ok=True)


def _kafka_recipe() -> str:
    """What the Kafka jars were resolved from: a digest of :data:`KAFKA_POM`, kept in the stamp."""
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def kafka_installed() -> bool:
    """True when the Kafka jars are in place and were resolved from the current :data:`KAFKA_POM`
    (a stamp of an older recipe, or an empty one, means the jars must be brought up to date)."""
    stamp = _stamp(locations().kafka_libs.parent)
    return stamp.exists() and stamp.read_text().strip() == _kafka_recipe()


def install_kafka(log: Path) -> None:
    """Resolve :data:`KAFKA_POM` (Kafka, its tools, MirrorMaker 2, log4j) into ``kafka-<v>/libs``.
    Done again only when the recipe changed: the jars are resolved into a staging folder, new ones
    are copied in and jars the recipe no longer resolves are removed (no two versions of one jar on
    the class path); jars already there stay, so a running twin's JVMs keep theirs."""
    dest = locations().kafka_libs.parent
    if kafka_installed():
        return
    dest.mkdir(parents=True, exist_ok=True)
    staging = dest / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _run(["mvn", "-B", "-q", "-f", str(KAFKA_POM), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
          f"-DoutputDirectory={staging}", "-DincludeScope=runtime"], f"Kafka {KAFKA_VERSION} download", log)
    libs = dest / "libs"
    libs.mkdir(exist_ok=True)
    wanted = {jar.name for jar in staging.iterdir()}
    for jar in staging.iterdir():
        if not (libs / jar.name).exists():
            jar.replace(libs / jar.name)
    for jar in libs.iterdir():
        if jar.name not in wanted:
            jar.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    _stamp(dest).write_text(_kafka_recipe() + "\n")


def install_opensearch(log: Path) -> None:
    home = plain_opensearch_home()
    if _stamp(home).exists():
        return
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    artifact = f"org.opensearch.distribution.integ-test-zip:opensearch:{OPENSEARCH_VERSION}:zip"
    _run(["mvn", "-B", "-q", f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={artifact}",
          f"-DoutputDirectory={downloads}"], f"OpenSearch {OPENSEARCH_VERSION} download", log)
    archive = downloads / f"opensearch-{OPENSEARCH_VERSION}.zip"
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(staging)
    inner = staging / f"opensearch-{OPENSEARCH_VERSION}"
    for script in (inner / "bin").iterdir():
        script.chmod(0o755)
    shutil.rmtree(home, ignore_errors=True)
    inner.rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    for d in (cache_dir(), home):  # the unprivileged search user must read it
        d.chmod(0o755)
    _stamp(home).touch()


def java_home() -> str:
    """JAVA_HOME of the ``java`` on the PATH (OpenSearch's scripts want it)."""
    return os.path.dirname(os.path.dirname(os.path.realpath(locations().java or "/usr/bin/java")))


def install_security_plugin(log: Path) -> None:
    """Download ``opensearch-security`` from Maven Central and install it (``opensearch-plugin install
    --batch``) into a copy of the plain distribution (:func:`secured_opensearch_home`). Skipped when
    the copy is stamped complete or already holds the plugin."""
    home = secured_opensearch_home()
    if _stamp(home).exists() or (home / "plugins" / "opensearch-security").is_dir():
        _stamp(home).touch()
        return
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"opensearch-security-{SECURITY_PLUGIN_VERSION}.zip"
    if not archive.exists():
        artifact = f"org.opensearch.plugin:opensearch-security:{SECURITY_PLUGIN_VERSION}:zip"
        _run(["mvn", "-B", "-q", f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={artifact}",
              f"-DoutputDirectory={downloads}"], f"OpenSearch security plugin {SECURITY_PLUGIN_VERSION} download", log)
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(plain_opensearch_home(), staging, symlinks=True)
    _stamp(staging).unlink(missing_ok=True)
    env = {**os.environ, "JAVA_HOME": java_home()}
    _run([str(staging / "bin" / "opensearch-plugin"), "install", "--batch", archive.resolve().as_uri()],
         f"installing the OpenSearch security plugin {SECURITY_PLUGIN_VERSION}", log, env)
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    home.chmod(0o755)  # the unprivileged search user must read it
    _stamp(home).touch()


def install_toxiproxy(log: Path) -> None:
    binary = locations().toxiproxy
    if binary.exists():
        return
    env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-mod=mod"}
    _run(["go", "install", f"github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION}"],
         f"toxiproxy {TOXIPROXY_VERSION} build", log, env)


def kustomize_binary() -> Path:
    """The kustomize built from its Go module (renders deploy/overlays/*)."""
    return cache_dir() / f"kustomize-{KUSTOMIZE_VERSION}" / "bin" / "kustomize"


def install_kustomize(log: Path) -> None:
    binary = kustomize_binary()
    if binary.exists():
        return
    env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-mod=mod"}
    _run(["go", "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
         f"kustomize {KUSTOMIZE_VERSION} build", log, env)


def install_system_user(log: Path) -> None:
    if os.geteuid() != 0:
        return  # unprivileged: OpenSearch runs as the current user
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
             "creating the system user", log)


def install_event_relay(log: Path) -> None:
    """The Java outbox relay, built with Maven from ``services/event-relay`` (:mod:`.relay_build`)."""
    from . import relay_build
    relay_build.install(log)


def install_search_frontend(log: Path) -> None:
    """The React search front end, built with npm + esbuild from ``services/search-frontend`` (:mod:`.frontend_build`)."""
    from . import frontend_build
    frontend_build.install(log)


RECIPES: list[tuple[str, Callable[[Path], None]]] = [
    ("Debian packages (HAProxy, MariaDB, wrk, Java, Maven, Go)", install_debian),
    ("WordPress 6.1, PHP-FPM 8.2, nginx, Redis and php-redis, Varnish (Debian)", install_wordpress),
    (f"Apache Kafka {KAFKA_VERSION} (Maven Central)", install_kafka),
    ("the event relay (Java, mvn package: kafka-clients, MariaDB Connector/J)", install_event_relay),
    ("the search front end (React, npm ci + esbuild)", install_search_frontend),
    (f"OpenSearch {OPENSEARCH_VERSION} (Maven Central)", install_opensearch),
    (f"OpenSearch security plugin {SECURITY_PLUGIN_VERSION} (Maven Central)", install_security_plugin),
    (f"toxiproxy {TOXIPROXY_VERSION} (go install)", install_toxiproxy),
    (f"kustomize {KUSTOMIZE_VERSION} (go install)", install_kustomize),
    (f"system user {SYSTEM_USER!r}", install_system_user),
]


def install_all(progress: Callable[[str], None] = lambda _msg: None, *, kubernetes: bool = False) -> Path:
    """Run every recipe in order, reporting each through ``progress``; returns the install log.

    ``kubernetes=True`` also builds the Kubernetes control plane (see :mod:`gameday.kube.build`).
    """
    log = cache_dir() / "install.log"
    cache_dir().mkdir(parents=True, exist_ok=True)
    recipes = list(RECIPES)
    if kubernetes:
        from ..kube import build as kube_build
        recipes += kube_build.RECIPES
    for label, recipe in recipes:
        progress(label)
        recipe(log)
    return log
