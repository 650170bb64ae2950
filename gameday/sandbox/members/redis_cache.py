"""WordPress's object cache: Redis (Debian's ``redis-server``) as a twin member (issue 17).

Not part of the default topology yet; a WordPress topology that wants it adds :func:`workload` and
gives WordPress the cache's address (``wordpress.prepare`` then installs the object-cache drop-in)::

    redis_cache.prepare(twin)
    wordpress.prepare(twin, db_addr=..., cache_addr=redis_cache.addr(twin))
    topology.workloads += [redis_cache.workload(twin), ...]

- ``cache-1`` (workload ``cache``, layer ``cache``): ``redis-server`` in the foreground on
  ``127.<net>.66.1`` port :data:`PORT` (``twin.LAYERS["cache"]``), as the ``redis``
  system user when run as root. An object cache: no persistence (no RDB, no AOF: a restart comes back
  empty), ``maxmemory`` :data:`MAXMEMORY` with ``allkeys-lru``. Ready when ``AUTH`` + ``PING`` answers.
- Its settings are ``conf/redis/cache-N.conf`` (nothing secret). The password is generated once per twin
  into ``secrets/redis.env`` (0600); the supervisor passes it to this module's launcher (:func:`main`)
  and to php-fpm through their environment, as the database password. The launcher gives redis-server
  only the password's SHA-256, as an ACL rule (``user default on #<sha256>``) on its standard input
  (``redis-server <conf> -``), and drops the password from the environment it execs redis-server with:
  the password is in no file but the 0600 one, not in argv, and ``CONFIG GET``/``ACL LIST`` show no
  more than the hash.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import sys
from pathlib import Path

from ...zones import zone_for
from ..spec import MemberSpec, Workload
from ..twin import LAYERS, Twin, _kept_secret

WORKLOAD = "cache"
LAYER = "cache"
ADDRESS_OCTET = LAYERS[LAYER]  # 127.<net>.66.N (web 20 ... indexer 60, relay 65, toxiproxy 70)
PORT = 6379
MAXMEMORY = "64mb"
PASSWORD_ENV = "GAMEDAY_REDIS_PASSWORD"
RUN_AS = "redis"  # Debian's redis-server package makes this system user
REDIS_SERVER = "/usr/bin/redis-server"


def address(twin: Twin, index: int = 1) -> str:
    return f"127.{twin.net}.{ADDRESS_OCTET}.{index}"


def addr(twin: Twin, index: int = 1) -> str:
    """``host:port`` of ``cache-<index>``, as WordPress's drop-in is given it."""
    return f"{address(twin, index)}:{PORT}"


def env_file(twin: Twin) -> Path:
    return twin.paths.secrets / "redis.env"


def password(twin: Twin) -> str:
    """The cache's password, generated once per twin (``secrets/redis.env``, 0600)."""
    return _kept_secret(env_file(twin), PASSWORD_ENV)


def _conf(twin: Twin, index: int) -> Path:
    return twin.paths.conf / "redis" / f"cache-{index}.conf"


def _dir(twin: Twin, index: int) -> Path:
    """redis-server's working directory (it writes nothing there: no persistence)."""
    return twin.paths.run / f"cache-{index}"


def config(bind: str, port: int, workdir: str, maxmemory: str = MAXMEMORY) -> str:
    """redis-server's settings for an object cache on ``bind:port`` (nothing secret: the password's
    rule comes on standard input, :func:`acl_rule`)."""
    return "\n".join([
        "# an object cache of a gameday twin (gameday.sandbox.members.redis_cache): no persistence",
        f"bind {bind}", f"port {port}", "daemonize no", "supervised no", 'logfile ""', "loglevel notice",
        f"dir {workdir}", 'save ""', "appendonly no", "databases 1",
        f"maxmemory {maxmemory}", "maxmemory-policy allkeys-lru", "maxclients 1000", "tcp-keepalive 60",
    ]) + "\n"


def acl_rule(secret: str) -> str:
    """The ACL line that makes ``secret`` the default user's only password, by its SHA-256 (the form
    redis-server keeps anyway): what :func:`main` writes to redis-server's standard input."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f"user default on resetpass #{digest} ~* &* +@all\n"


def prepare(twin: Twin, *, replicas: int = 1) -> None:
    """The twin's cache password (made once) and each member's settings and working directory."""
    password(twin)
    user = _run_as()
    for i in range(1, replicas + 1):
        conf = _conf(twin, i)
        conf.parent.mkdir(parents=True, exist_ok=True)
        workdir = _dir(twin, i)
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if user:
            os.chown(workdir, user.pw_uid, user.pw_gid)
        conf.write_text(config(address(twin, i), PORT, str(workdir)))
        conf.chmod(0o644)


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        return None


def member(twin: Twin, index: int) -> MemberSpec:
    return MemberSpec(
        name=f"cache-{index}", index=index, address=address(twin, index), ports={"redis": PORT},
        argv=[twin.python, "-m", "gameday.sandbox.members.redis_cache", "--conf", str(_conf(twin, index))],
        env_files=[str(env_file(twin))],
        readiness={"type": "redis", "host": address(twin, index), "port": PORT, "env_file": str(env_file(twin))},
        labels={"app": "redis", "tier": "backend", "zone": zone_for(index)},
        stop_grace=5.0,
    )


def workload(twin: Twin, *, replicas: int = 1, after: list[str] | None = None) -> Workload:
    """``cache-1..replicas`` (independent caches: WordPress uses ``cache-1``), after ``after`` (default none)."""
    return Workload(name=WORKLOAD, layer=LAYER, kind="service", replicas=replicas,
                    members=[member(twin, i) for i in range(1, replicas + 1)],
                    after=after or [], labels={"layer": LAYER})


def main(argv: list[str] | None = None) -> int:
    """The member's process: become redis-server (exec, same pid: the supervisor's signals reach it),
    its settings from ``--conf``, the password's ACL rule on its standard input (a pipe written and
    closed before the exec), as the ``redis`` user when run as root."""
    parser = argparse.ArgumentParser(prog="python -m gameday.sandbox.members.redis_cache",
                                     description="run the twin's object cache (redis-server)")
    parser.add_argument("--conf", required=True, type=Path)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    secret = env.pop(PASSWORD_ENV, "")
    if not secret:
        print(f"redis cache: {PASSWORD_ENV} is not set (the supervisor reads it from secrets/redis.env)",
              file=sys.stderr)
        return 2
    rule = acl_rule(secret).encode()
    read_end, write_end = os.pipe()
    os.write(write_end, rule)  # far below a pipe's buffer: never blocks
    os.close(write_end)
    os.dup2(read_end, 0)
    os.close(read_end)
    user = _run_as()
    if user:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    os.execve(REDIS_SERVER, [REDIS_SERVER, str(args.conf), "-"], env)
    return 127  # not reached: execve replaces this process or raises


if __name__ == "__main__":
    sys.exit(main())
