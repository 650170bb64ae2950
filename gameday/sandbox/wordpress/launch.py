"""One WordPress replica as one supervised process: php-fpm and nginx, both in the foreground.

The supervisor runs (one member = one replica)::

    python -m gameday.sandbox.wordpress.launch --fpm-conf F --nginx-conf N --socket S

Both servers are children of this process, started with :func:`gameday.children.die_with_parent`.
nginx (``daemon off``) stays in this process group, so the supervisor's kill of the member's group takes
it at once, as a node dies; php-fpm makes a session of its own even in the foreground (it calls
``setsid``), so it gets SIGTERM when this process dies and stops its workers within a second or so.
When either server exits, the other is stopped and this process exits 1, so the supervisor restarts
the pair; SIGTERM stops both gracefully (SIGQUIT), SIGKILL after :data:`GRACE` seconds.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ... import children

PHP_FPM = "/usr/sbin/php-fpm8.2"
NGINX = "/usr/sbin/nginx"
GRACE = 4.0
POLL = 0.5


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fpm-conf", required=True, type=Path)
    parser.add_argument("--nginx-conf", required=True, type=Path)
    parser.add_argument("--socket", required=True, type=Path, help="php-fpm's socket (a stale one is removed)")
    parser.add_argument("--status-socket", type=Path,
                        help="nginx's status socket (a stale one is removed: nginx will not bind over it after a kill)")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    args.socket.unlink(missing_ok=True)
    if args.status_socket:
        args.status_socket.unlink(missing_ok=True)
    procs = {
        "php-fpm": subprocess.Popen([PHP_FPM, "--nodaemonize", "--fpm-config", str(args.fpm_conf)],
                                    preexec_fn=children.die_with_parent),
        "nginx": subprocess.Popen([NGINX, "-c", str(args.nginx_conf), "-e", "stderr"],
                                  preexec_fn=children.die_with_parent),
    }
    print(f"wordpress launcher: php-fpm pid {procs['php-fpm'].pid}, nginx pid {procs['nginx'].pid}", flush=True)
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
