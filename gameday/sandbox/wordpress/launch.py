"""One WordPress replica as one supervised process: php-fpm and nginx, both in the foreground.

The supervisor runs (one member = one replica), and a web pod on the Kubernetes twin the same with its
own address, name and an emptyDir for ``--run-dir`` (:func:`gameday.kube.workloads.wordpress_container`)::

    python -m gameday.sandbox.wordpress.launch --address 127.10.20.1 --port 8000 --member web-1 \\
        --run-dir RUN/web-1 --log-dir LOGS --content-dir DATA/wordpress/wp-content \\
        --config-name gameday-<sandbox id> --app-dir <search front end>

It first renders the replica's own ``php-fpm.conf`` and ``nginx.conf`` into ``--run-dir`` (the pool's
socket, pid files and temp dirs live there too; :func:`write_configs`): nothing of one replica is shared
with another, so any number of pods run from the one command. ``--member`` is the replica's name: the
php-fpm pool's, nginx's ``X-Served-By`` and ``GAMEDAY_MEMBER`` of the workers (the readiness fault's
file name, health.php). As root the workers and nginx's run as ``www-data``, else as this user.

Both servers are children of this process, started with :func:`gameday.children.die_with_parent`.
nginx (``daemon off``) stays in this process group, so the supervisor's kill of the member's group takes
it at once, as a node dies; php-fpm makes a session of its own even in the foreground (it calls
``setsid``), so it gets SIGTERM when this process dies and stops its workers within a second or so.
When either server exits, the other is stopped and this process exits 1, so the supervisor restarts
the pair; SIGTERM stops both gracefully (SIGQUIT), SIGKILL after :data:`GRACE` seconds. Bad arguments:
one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ... import children
from . import render

PHP_FPM = "/usr/sbin/php-fpm8.2"
NGINX = "/usr/sbin/nginx"
GRACE = 4.0
POLL = 0.5
WEB_USER = "www-data"  # Debian's web server user: php-fpm's workers and nginx's run as it when started as root
MAX_CHILDREN = 8       # the traffic pool's workers
MEMBER_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?")  # a member's or a pod's name (DNS label-like)
MAX_SOCKET_PATH = 107  # a unix socket's path must fit sockaddr_un's sun_path (108 bytes with its NUL)


@dataclass(frozen=True)
class Replica:
    """What one replica's two configuration files are rendered from (no secret: the passwords reach
    php-fpm through its environment)."""
    address: str
    port: int
    member: str
    run_dir: Path
    log_dir: Path
    content_dir: Path
    config_name: str
    app_dir: Path

    @property
    def socket(self) -> Path:
        return self.run_dir / "php-fpm.sock"

    @property
    def status_socket(self) -> Path:
        return self.run_dir / "status.sock"

    @property
    def fpm_conf(self) -> Path:
        return self.run_dir / "php-fpm.conf"

    @property
    def nginx_conf(self) -> Path:
        return self.run_dir / "nginx.conf"


def check(replica: Replica) -> None:
    """ValueError naming the first value that cannot go into the configs (an address that is not an
    IP address, a name that is not a member's or pod's, a run directory too long for a unix socket)."""
    try:
        ipaddress.ip_address(replica.address)
    except ValueError:
        raise ValueError(f"--address {replica.address!r} is not an IP address") from None
    if not 0 < replica.port < 65536:
        raise ValueError(f"--port {replica.port} is not a TCP port")
    if not MEMBER_NAME.fullmatch(replica.member):
        raise ValueError(f"--member {replica.member!r} is not a member or pod name (lower-case letters, digits, '-', '.')")
    if not replica.config_name or not re.fullmatch(r"[\w.-]+", replica.config_name):
        raise ValueError(f"--config-name {replica.config_name!r} is not a WordPress config name")
    for name, path in (("--run-dir", replica.run_dir), ("--log-dir", replica.log_dir),
                       ("--content-dir", replica.content_dir), ("--app-dir", replica.app_dir)):
        if not path.is_absolute() or any(c in str(path) for c in " ;{}'\"\n"):
            raise ValueError(f"{name} {str(path)!r} must be an absolute path without spaces, quotes or ; {{ }}")
    longest = max(len(str(replica.run_dir / n)) for n in ("php-fpm.sock", "php-fpm-probes.sock", "status.sock"))
    if longest > MAX_SOCKET_PATH:
        raise ValueError(f"--run-dir {str(replica.run_dir)!r} is too long for its unix sockets ({longest} > {MAX_SOCKET_PATH})")


def _web_ids() -> tuple[int, int] | None:
    """www-data's uid and gid when this process is root (it then drops the servers' workers to them)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(WEB_USER)
    return entry.pw_uid, entry.pw_gid


def render_configs(replica: Replica, *, root: bool) -> dict[str, str]:
    """``{"php-fpm.conf": text, "nginx.conf": text}`` of ``replica``; ``root``: the servers start as
    root (workers as www-data, the probe pool's priority raised) or as an ordinary user (its own)."""
    check(replica)
    run, logs = replica.run_dir, replica.log_dir
    user = WEB_USER if root else pwd.getpwuid(os.geteuid()).pw_name
    # only root may raise a priority: php-fpm would refuse to start the pool otherwise
    priority = "process.priority = -5" if root else "; process.priority: not root, the workers' own"
    fpm = render("php-fpm.conf", {
        "PID_FILE": str(run / "php-fpm.pid"), "POOL": replica.member, "USER": user, "SOCKET": str(replica.socket),
        "MAX_CHILDREN": str(MAX_CHILDREN), "UPLOAD_TMP": str(run / "tmp"),
        "SLOWLOG": str(logs / f"{replica.member}-php-slow.log"), "PROBE_SOCKET": str(run / "php-fpm-probes.sock"),
        "PROBE_PRIORITY": priority,
    })
    nginx = render("nginx.conf", {
        "PID_FILE": str(run / "nginx.pid"), "USER_DIRECTIVE": f"user {WEB_USER};" if root else "",
        "TMP": str(run / "nginx"), "ADDRESS": replica.address, "PORT": str(replica.port),
        "CONTENT_DIR": str(replica.content_dir), "CONFIG_NAME": replica.config_name, "SOCKET": str(replica.socket),
        "APP_DIR": str(replica.app_dir), "MEMBER": replica.member,
        "ACCESS_LOG": str(logs / f"{replica.member}-access.log"), "STATUS_SOCKET": str(replica.status_socket),
        "PROBE_SOCKET": str(run / "php-fpm-probes.sock"),
    })
    return {"php-fpm.conf": fpm, "nginx.conf": nginx}


def write_configs(replica: Replica) -> None:
    """Make ``replica``'s run directory (``nginx/`` and ``tmp/`` in it; ``tmp/`` the workers' when
    root) and write its two configs there afresh; stale sockets of a killed predecessor are removed
    (nginx does not bind over one)."""
    ids = _web_ids()
    configs = render_configs(replica, root=ids is not None)
    run = replica.run_dir
    for d in (run / "nginx", run / "tmp", replica.log_dir):
        d.mkdir(parents=True, exist_ok=True)
    run.chmod(0o755)  # www-data's nginx workers reach the sockets in it
    if ids:
        os.chown(run / "tmp", *ids)
    for name, text in configs.items():
        staging = run / f".{name}.new"
        staging.write_text(text)
        staging.replace(run / name)
    for sock in (replica.socket, run / "php-fpm-probes.sock", replica.status_socket):
        sock.unlink(missing_ok=True)


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful for both php-fpm and nginx
    for proc in procs.values():
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def parse(argv: list[str] | None = None) -> Replica:
    """The replica the arguments describe; a bad one exits 2 with one line naming it (argparse's way)."""
    parser = argparse.ArgumentParser(prog="gameday.sandbox.wordpress.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="the replica's IP address (a pod's: $(POD_IP))")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--member", required=True, help="the replica's name (a pod's: $(POD_NAME)): X-Served-By, the pool's name")
    parser.add_argument("--run-dir", required=True, type=Path, help="the replica's own: configs, sockets, pid files, temp files")
    parser.add_argument("--log-dir", required=True, type=Path, help="access and slow logs, <member>-access.log and <member>-php-slow.log")
    parser.add_argument("--content-dir", required=True, type=Path, help="the twin's WP_CONTENT_DIR (uploads)")
    parser.add_argument("--config-name", required=True, help="the twin's WordPress config name (/etc/wordpress/config-<name>.php)")
    parser.add_argument("--app-dir", required=True, type=Path, help="the search front end's built bundle (served at /app/)")
    args = parser.parse_args(argv)
    replica = Replica(address=args.address, port=args.port, member=args.member, run_dir=args.run_dir,
                      log_dir=args.log_dir, content_dir=args.content_dir, config_name=args.config_name,
                      app_dir=args.app_dir)
    try:
        check(replica)
    except ValueError as err:
        parser.error(str(err))
    return replica


def main(argv: list[str] | None = None) -> int:
    replica = parse(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    write_configs(replica)
    env = {**os.environ, "GAMEDAY_MEMBER": replica.member}  # php-fpm passes it to its workers (health.php)
    procs = {
        "php-fpm": subprocess.Popen([PHP_FPM, "--nodaemonize", "--fpm-config", str(replica.fpm_conf)],
                                    env=env, preexec_fn=children.die_with_parent),
        "nginx": subprocess.Popen([NGINX, "-c", str(replica.nginx_conf), "-e", "stderr"],
                                  env=env, preexec_fn=children.die_with_parent),
    }
    children.keep_nice_once_leader(procs["php-fpm"].pid)  # its pool of workers at the launcher's CPU priority
    print(f"wordpress launcher {replica.member} on {replica.address}:{replica.port}: php-fpm pid {procs['php-fpm'].pid}, "
          f"nginx pid {procs['nginx'].pid}", flush=True)
    # a service: runs until told to stop or until one of its servers dies, checked every POLL seconds
    while not stopping.wait(POLL):
        dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
        if dead:
            print(f"wordpress launcher: {', '.join(f'{n} exited ({c})' for n, c in dead.items())}; "
                  "stopping the other", flush=True)
            _stop(procs)
            return 1
    _stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
