"""WordPress on PHP-FPM behind nginx: the platform's own web tier, one supervised member per replica.

Not part of the default topology yet (issue 17: the Python sample site is still the twin's web tier);
a topology that wants it adds :func:`bootstrap` and :func:`workload` after its database::

    wordpress.prepare(twin, db_addr=twin.db_member_addr(1))   # configs, content dir, secrets
    topology.workloads += [wordpress.bootstrap(twin), wordpress.workload(twin, replicas=1)]

- ``wp-N`` (workload ``wp``, layer ``web``): :mod:`gameday.sandbox.wordpress.launch` runs the replica's
  own php-fpm pool (foreground, its configs, pid and socket under ``run/wp-N/``, workers as ``www-data``) and nginx on
  the replica's address ``127.<net>.20.N`` port 8000, as the web members; ready when ``/readyz`` is 200.
  Killing the member's process group takes php-fpm and nginx both.
- ``wp-bootstrap-1`` (a job): installs WordPress into the twin's database, seeds the catalogue (each
  item's catalogue id its post ID, or the job fails) and makes the content views of
  :data:`gameday.content.WORDPRESS` (:mod:`gameday.sandbox.wordpress.seed`).

Per twin: ``conf/wordpress/wp-config.php`` (no secret: the database and search passwords reach php-fpm
through the supervisor's environment, from ``secrets/db.env`` and ``secrets/search.env``), the
must-use plugin in ``conf/wordpress/mu-plugins``, uploads in ``data/wordpress/wp-content`` (the twin's
WP_CONTENT_DIR), the admin password in ``secrets/wordpress-admin.env`` (0600) and the ``publisher`` user's
application password (the site API's ``POST /api/articles``, HTTP basic auth) in
``secrets/wordpress-publisher.env`` (0600; only the bootstrap job reads it, and WordPress keeps its
hash, so php-fpm never sees it: :func:`publisher_credentials`). Debian's wp-config.php
finds the twin's file through ``/etc/wordpress/config-gameday-<sandbox id>.php``, a symlink
(:func:`config_name`; nginx passes the name as ``WORDPRESS_CONFIG``); :func:`remove` deletes it.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import string
from pathlib import Path

from ...zones import zone_for
from .. import frontend_build, install, web_faults
from .. import wordpress as files
from ..spec import MemberSpec, Workload
from . import redis_cache
from ..twin import CONTENT_INDEX, DB_NAME, DB_USER, PORTS, SEARCH_USER, WEB_MAX_REPLICAS, Twin, _kept_secret

WEB_USER = "www-data"  # Debian's web server user: php-fpm's workers and nginx's run as it
ETC = Path("/etc/wordpress")
ADMIN_ENV = "GAMEDAY_WP_ADMIN_PASSWORD"
PUBLISHER_USER = "publisher"  # the editor the site API's publishes are made as (an Application Password)
PUBLISHER_ENV = "GAMEDAY_WP_PUBLISHER_PASSWORD"
PUBLISH_ACK_WAIT_S = 5.0  # POST /api/articles waits this long for the relay's mark (as the Python site for Kafka's ack)
READY_FAILURE_THRESHOLD = 3  # readiness checks failed in a row before a replica is out (gameday.sandbox.readiness)
# each replica's CPU priority against the twin's other members (MemberSpec.cpu_nice): its pool's session
# weighs as one JVM's does at 0 (docs/web-tier-switch.md, session 28)
CPU_NICE = 0
MAX_PUBLISH_ACK_WAIT_S = 8.0  # more is refused: HAProxy's server timeout is 10 s (members/lb.py), a 504 past it


def config_name(twin: Twin) -> str:
    """The twin's WordPress config name (Debian: ``/etc/wordpress/config-<name>.php``)."""
    return _config_name(twin.paths.sandbox_id)


def _config_name(sandbox_id: str) -> str:
    return f"gameday-{sandbox_id}"


def _conf(twin: Twin) -> Path:
    return twin.paths.conf / "wordpress"


def content_dir(twin: Twin) -> Path:
    """The twin's WP_CONTENT_DIR: uploads live here, one per twin."""
    return twin.paths.data / "wordpress" / "wp-content"


def run_dir(twin: Twin, index: int, prefix: str = "wp") -> Path:
    """Replica ``index``'s pid files, php-fpm socket and nginx temp files (``prefix``: the workload's
    name, ``wp`` beside another web tier, ``web`` as the twin's web tier)."""
    return twin.paths.run / f"{prefix}-{index}"


def admin_env_file(twin: Twin) -> Path:
    return twin.paths.secrets / "wordpress-admin.env"


def admin_password(twin: Twin) -> str:
    """The WordPress ``admin`` user's password, generated once per twin (``secrets/wordpress-admin.env``, 0600)."""
    return _kept_secret(admin_env_file(twin), ADMIN_ENV)


def publisher_env_file(twin: Twin) -> Path:
    return twin.paths.secrets / "wordpress-publisher.env"


def publisher_password(twin: Twin) -> str:
    """The ``publisher`` user's Application Password, generated once per twin
    (``secrets/wordpress-publisher.env``, 0600). Letters and digits only, as WordPress makes its own:
    WordPress strips anything else from a presented application password before checking it."""
    return _kept_secret(publisher_env_file(twin), PUBLISHER_ENV,
                        lambda: "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24)))


def publisher_credentials(twin: Twin) -> tuple[str, str]:
    """(user, application password) that ``POST /api/articles`` accepts as HTTP basic auth: what a
    client (the search canary, the load generator's editors) sends, e.g. ``requests.post(..., auth=...)``."""
    return PUBLISHER_USER, publisher_password(twin)


def url(twin: Twin, index: int = 1) -> str:
    """Replica ``index``'s own address, as the load balancer reaches it."""
    return f"http://{twin.address('web', index)}:{PORTS['web']}"


def _web_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(WEB_USER)
    return entry.pw_uid, entry.pw_gid


def _install_tree(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` afresh (the plugin's files as this checkout has them), world-readable."""
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(src, staging, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [staging, *staging.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)


def prepare(twin: Twin, *, db_addr: str | None = None, search_urls: list[str] | None = None,
            home: str | None = None, cache_addr: str | None = None,
            publish_ack_wait: float = PUBLISH_ACK_WAIT_S, also_homes: tuple[str, ...] | list[str] = (),
            cdn_purge: tuple[str, ...] | list[str] = ()) -> None:
    """Write the twin's WordPress files (again: they hold no data) and create its content directory.
    ``db_addr`` defaults to the database through toxiproxy and ``search_urls`` to the search nodes
    through toxiproxy, as the web tier reaches them; ``home`` (WordPress's site address) to the load
    balancer's URL; ``also_homes``: other site URLs (``http://host:port``, no path) WordPress answers as
    itself when a request was made to their host and port (a region's global front: its readers must
    not be redirected off it, D5), each its site address for that request (a ValueError, before
    anything is written, for one that is not such a URL); ``cache_addr`` (``host:port`` of the Redis
    object cache, :mod:`.redis_cache`) installs the object-cache drop-in, which is removed when it is None; ``publish_ack_wait``: how long
    ``POST /api/articles`` waits for the event relay to send the publish's event (201 "acknowledged"
    when it did, else 202 "pending"; lower it in a topology without a relay); ``cdn_purge``: ``host:port`` of
    each CDN edge WordPress sends ``PURGE`` to for the pages a publish changed (:func:`.cdn.purge_addrs`;
    none: no purge, pages refresh after the CDN's TTL). Each replica's launcher renders
    its own php-fpm and nginx files from its argv (:func:`member`). Refused first (NotInstalled,
    naming the install command) when the search front end its nginx serves at /app/ is not built from
    the current sources: an unbuilt bundle would otherwise be a silent 404 to readers."""
    if not 0 <= publish_ack_wait <= MAX_PUBLISH_ACK_WAIT_S:
        raise ValueError(f"publish_ack_wait must be 0..{MAX_PUBLISH_ACK_WAIT_S:g} seconds, not {publish_ack_wait!r}")
    homes = _checked_homes(also_homes)
    frontend_build.check()
    twin.paths.ensure()
    twin.db_password()
    twin.search_password()
    redis_cache.password(twin)  # php-fpm's pool passes it on, cache or not
    admin_password(twin)
    publisher_password(twin)
    conf = _conf(twin)
    conf.mkdir(parents=True, exist_ok=True)
    conf.chmod(0o755)
    _install_tree(files.MU_PLUGINS, conf / "mu-plugins")
    values = {key: files.php_string(value) for key, value in settings(
        twin, db_addr=db_addr, search_urls=search_urls, home=home, cache_addr=cache_addr,
        publish_ack_wait=publish_ack_wait, also_homes=homes, cdn_purge=cdn_purge).items()}
    config = conf / "wp-config.php"
    config.write_text(files.render("wp-config.php", values))
    config.chmod(0o644)
    link = ETC / f"config-{config_name(twin)}.php"
    if not (link.is_symlink() and os.readlink(link) == str(config)):
        link.unlink(missing_ok=True)
        link.symlink_to(config)
    _prepare_content(twin, cache=cache_addr is not None)
    twin.paths.run.chmod(0o755)  # each replica's launcher renders its configs into run/<member>/ (reached by www-data)


def settings(twin: Twin, *, db_addr: str | None = None, search_urls: list[str] | None = None, home: str | None = None,
             cache_addr: str | None = None, publish_ack_wait: float = PUBLISH_ACK_WAIT_S,
             also_homes: tuple[str, ...] | list[str] = (), cdn_purge: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """What ``wp-config.php`` says, by its template's names, for :func:`prepare`'s arguments (defaults as
    there); nothing is read or written. The inventory reads the addresses WordPress reaches from it
    (``gameday.coverage.sandbox``): a replica's argv names none of them."""
    search = twin.search_urls_via_proxy() if search_urls is None else search_urls
    hosts = sorted({u.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0] for u in search})
    return {
        "TWIN": twin.name, "CONFIG_NAME": config_name(twin), "DB_NAME": DB_NAME, "DB_USER": DB_USER,
        "DB_HOST": db_addr or twin.db_addr_via_proxy(), "HOME": home or twin.lb_url,
        "CONTENT_DIR": str(content_dir(twin)), "THEME": install.WORDPRESS_THEME, "MU_PLUGIN_DIR": str(_conf(twin) / "mu-plugins"),
        "SEARCH_URLS": ",".join(search), "SEARCH_HOSTS": ",".join(hosts), "SEARCH_USER": SEARCH_USER,
        "SEARCH_CA": twin.search_ca(), "CONTENT_INDEX": CONTENT_INDEX, "CACHE_ADDR": cache_addr or "",
        "PUBLISH_ACK_WAIT": repr(float(publish_ack_wait)), "ALSO_HOMES": " ".join(also_homes),
        "CDN_PURGE": ",".join(cdn_purge),
    }


def _checked_homes(urls) -> list[str]:
    """``urls`` as site addresses (``http(s)://host[:port]``, no path, no space); a ValueError names one that is not."""
    out = []
    for u in urls:
        scheme, _, rest = str(u).partition("://")
        if scheme not in ("http", "https") or not rest or any(c in rest for c in "/ ?#@\\'"):
            raise ValueError(f"also_homes: {u!r} is not a site address like http://host:port")
        out.append(f"{scheme}://{rest}")
    return out


def _prepare_content(twin: Twin, *, cache: bool) -> None:
    content = content_dir(twin)
    for sub in ("uploads", "plugins", "themes", "upgrade"):
        (content / sub).mkdir(parents=True, exist_ok=True)
    for d in (content.parent, content):
        d.chmod(0o755)
    theme = content / "themes" / install.WORDPRESS_THEME  # Debian's copy, read-only: the site renders with it
    if not theme.is_symlink():
        theme.symlink_to(Path(install.WORDPRESS_THEMES) / install.WORDPRESS_THEME)
    shutil.copyfile(files.DB_ERROR, content / "db-error.php")
    (content / "db-error.php").chmod(0o644)
    if cache:
        shutil.copyfile(files.OBJECT_CACHE, content / "object-cache.php")
        (content / "object-cache.php").chmod(0o644)
    else:
        (content / "object-cache.php").unlink(missing_ok=True)
    ids = _web_ids()
    if ids:
        for sub in ("uploads", "upgrade"):  # writable by the workers; the rest read-only to them
            os.chown(content / sub, *ids)


def member(twin: Twin, index: int, prefix: str = "wp") -> MemberSpec:
    """Replica ``index`` (``<prefix>-<index>``): the launcher renders its php-fpm and nginx configs
    from these arguments into ``run/<prefix>-<index>/`` (:mod:`gameday.sandbox.wordpress.launch`);
    a web pod runs the same argv with its own address, name and run directory
    (:func:`gameday.kube.workloads.web_objects`)."""
    address = twin.address("web", index)
    name = f"{prefix}-{index}"
    return MemberSpec(
        name=name, index=index, address=address, ports={"http": PORTS["web"]},
        argv=[twin.python, "-m", "gameday.sandbox.wordpress.launch", "--address", address, "--port", str(PORTS["web"]),
              "--member", name, "--run-dir", str(run_dir(twin, index, prefix)), "--log-dir", str(twin.paths.logs),
              "--content-dir", str(content_dir(twin)), "--config-name", config_name(twin),
              "--app-dir", str(frontend_build.www())],
        env={web_faults.ENV: str(web_faults.faults_dir(twin))},  # the twin's readiness fault (health.php)
        env_files=[str(twin.db_env_file), str(twin.search_env_file), str(redis_cache.env_file(twin))],
        # out after 3 failed checks in a row (1.5-3 s), as a pod's readinessProbe with Kubernetes' default
        # failureThreshold: a probe that once misses its 1 s under a saturated CPU is not a replica out
        readiness={"type": "http", "url": f"{url(twin, index)}/readyz", "failure_threshold": READY_FAILURE_THRESHOLD},
        labels={"app": "wordpress", "tier": "frontend", "zone": zone_for(index)},
        stop_grace=6.0, cpu_nice=CPU_NICE,
    )


def workload(twin: Twin, *, replicas: int | None = None, max_replicas: int = WEB_MAX_REPLICAS, name: str = "wp",
             after: list[str] | None = None) -> Workload:
    """``<name>-1..max_replicas`` (``replicas`` running, default the twin's web replicas), after ``after``
    (default the bootstrap job). ``name`` is ``wp`` beside another web tier; ``web`` when WordPress is the
    twin's web tier (:func:`gameday.sandbox.topology.build`: the members are ``web-N`` as the Python
    site's were, since HAProxy's slots, ``scale web`` and the chaos actions name them so)."""
    return Workload(name=name, layer="web", kind="service",
                    replicas=twin.shape.web_replicas if replicas is None else replicas,
                    members=[member(twin, i, name) for i in range(1, max_replicas + 1)],
                    after=after if after is not None else ["wp-bootstrap"], labels={"layer": "web"})


def bootstrap(twin: Twin, *, n: int | None = None, after: list[str] | None = None) -> Workload:
    """The job that installs WordPress, seeds ``n`` catalogue items (default 2,000) and makes the content
    views, after ``after`` (default the database)."""
    from ..wordpress.seed import N_ENV
    job = MemberSpec(
        name="wp-bootstrap-1", index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.sandbox.wordpress.seed"],
        env={"GAMEDAY_WP_CONFIG": config_name(twin), **({N_ENV: str(n)} if n is not None else {})},
        env_files=[str(twin.db_env_file), str(twin.search_env_file), str(admin_env_file(twin)),
                   str(publisher_env_file(twin)), str(redis_cache.env_file(twin))],
        readiness={"type": "alive"},
        labels={"app": "wp-bootstrap", "zone": "regional"},
        stop_grace=3.0,
    )
    return Workload(name="wp-bootstrap", layer="jobs", kind="job", replicas=1, members=[job],
                    after=after if after is not None else ["db"], labels={"layer": "jobs"})


def cli_env(twin: Twin) -> dict[str, str]:
    """The environment of a ``cli/`` script run against this twin from outside the supervisor
    (:func:`gameday.sandbox.wordpress.php.run_script`), the passwords read from the secret files."""
    from ..wordpress.php import cli_env as env
    return env(config_name(twin), {"GAMEDAY_DB_PASSWORD": twin.db_password(),
                                   "GAMEDAY_SEARCH_PASSWORD": twin.search_password(),
                                   redis_cache.PASSWORD_ENV: redis_cache.password(twin),
                                   ADMIN_ENV: admin_password(twin), PUBLISHER_ENV: publisher_password(twin)})


def remove(paths) -> None:
    """Delete what :func:`prepare` put outside the twin's home (the symlink in /etc/wordpress);
    ``paths``: the twin's :class:`~gameday.sandbox.paths.SandboxPaths` (``lifecycle.down(wipe=True)``
    calls it for every twin, WordPress or not)."""
    (ETC / f"config-{_config_name(paths.sandbox_id)}.php").unlink(missing_ok=True)
