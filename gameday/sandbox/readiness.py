"""Readiness checks the supervisor runs against each member (see :mod:`gameday.sandbox.spec`).

``check(spec_readiness, running_for)`` returns True or False and never raises or blocks for more
than about a second (three for an ``https`` check: it includes a TLS handshake, slow on a loaded
machine). A spec may carry ``"failure_threshold": n`` (:func:`failure_threshold`, as a Kubernetes
probe's ``failureThreshold``): a ready member is taken for unready only after ``n`` checks in a row
failed (the supervisor counts them; one success makes it ready). A process that exits, or is killed,
is unready at once whatever the threshold. An ``https`` check may log in with HTTP basic auth; its spec names the user and the 0600
``KEY=VALUE`` file holding the password (never the password itself)::

    {"type": "https", "url": "https://127.10.50.1:9200/_cluster/health", "ca": ".../ca.crt",
     "auth": {"user": "elastic", "env_file": ".../secrets/search.env"}}

The same check runs as a Kubernetes exec probe (ECK's readiness probe is a script too), the
password from the pod's environment, the host from ``POD_IP``::

    python -m gameday.sandbox.readiness --port 9200 --path /_cluster/health --ca CA --user elastic \
        --password-env GAMEDAY_SEARCH_PASSWORD         # exit 0 when ready
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import socket
import ssl
import sys
import time
from typing import Any
from urllib.parse import urlsplit

TIMEOUT = 1.0
TLS_TIMEOUT = 3.0


def _tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _password(env_file: str) -> str:
    """The value of the one ``KEY=VALUE`` line of a twin's secret env file."""
    with open(env_file) as fh:
        return fh.read().split("=", 1)[1].strip()


def _redis(host: str, port: int, env_file: str) -> bool:
    """Redis answers ``AUTH <password>`` with +OK and ``PING`` with +PONG (the password from ``env_file``)."""
    try:
        secret = _password(env_file)
        with socket.create_connection((host, port), timeout=TIMEOUT) as conn:
            conn.sendall(b"".join(_resp(*args) for args in (("AUTH", secret), ("PING",))))
            answer = b""
            while answer.count(b"\r\n") < 2 and len(answer) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer == b"+OK\r\n+PONG\r\n"
    except (OSError, IndexError):
        return False


def _resp(*args: str) -> bytes:
    """One Redis command in RESP (an array of bulk strings)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _http(url: str, ca: str | None = None, headers: dict[str, str] | None = None, timeout: float = TIMEOUT) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        return 200 <= conn.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def failure_threshold(readiness: dict[str, Any]) -> int:
    """How many failed checks in a row make a ready member unready (the spec's ``failure_threshold``,
    default 1); a ValueError for anything but a whole number >= 1."""
    n = readiness.get("failure_threshold", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"failure_threshold must be a whole number >= 1, not {n!r}")
    return n


def check(readiness: dict[str, Any], running_for: float) -> bool:
    """Run one readiness check; ``running_for`` is how long the process has been up (seconds)."""
    kind = readiness.get("type")
    if kind == "tcp":
        return _tcp(readiness["host"], int(readiness["port"]))
    if kind == "http":
        return _http(readiness["url"])
    if kind == "https":  # verified against the CA file ``ca`` (e.g. the sandbox's Kubernetes CA)
        auth = readiness.get("auth")
        try:
            headers = _basic(auth["user"], _password(auth["env_file"])) if auth else None
        except (OSError, IndexError):
            return False
        return _http(readiness["url"], readiness.get("ca"), headers, TLS_TIMEOUT)
    if kind == "redis":  # {"host", "port", "env_file"}: AUTH with the password in that 0600 file, PING
        return _redis(readiness["host"], int(readiness["port"]), readiness["env_file"])
    if kind == "alive":
        return running_for >= float(readiness.get("min_seconds", 2.0))
    if kind == "file":  # {"path"}: touched by this process since it started (a scheduled member's first pass)
        try:
            return os.stat(readiness["path"]).st_mtime >= time.time() - running_for - 1.0
        except OSError:
            return False
    raise ValueError(f"unknown readiness check type {kind!r}")


def main(argv: list[str] | None = None) -> int:
    """The exec-probe form of an ``https`` check with basic auth (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m gameday.sandbox.readiness")
    parser.add_argument("--host-env", default="POD_IP", help="variable holding the host to probe")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-env", required=True, help="variable holding the password")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    host, password = os.environ.get(args.host_env), os.environ.get(args.password_env)
    if not host or not password:
        print(f"readiness: {args.host_env} and {args.password_env} must be set", file=sys.stderr)
        return 2
    ok = _http(f"https://{host}:{args.port}{args.path}", args.ca, _basic(args.user, password), args.timeout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
