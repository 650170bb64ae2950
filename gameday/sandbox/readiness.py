"""Readiness checks the supervisor runs against each member (see :mod:`gameday.sandbox.spec`).

``check(spec_readiness, running_for)`` returns True or False and never raises or blocks for more
than about a second.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

TIMEOUT = 1.0


def _tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def _http(url: str, ca: str | None = None) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=TIMEOUT, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        return 200 <= conn.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def check(readiness: dict[str, Any], running_for: float) -> bool:
    """Run one readiness check; ``running_for`` is how long the process has been up (seconds)."""
    kind = readiness.get("type")
    if kind == "tcp":
        return _tcp(readiness["host"], int(readiness["port"]))
    if kind == "http":
        return _http(readiness["url"])
    if kind == "https":  # verified against the CA file ``ca`` (e.g. the sandbox's Kubernetes CA)
        return _http(readiness["url"], readiness.get("ca"))
    if kind == "alive":
        return running_for >= float(readiness.get("min_seconds", 2.0))
    raise ValueError(f"unknown readiness check type {kind!r}")
