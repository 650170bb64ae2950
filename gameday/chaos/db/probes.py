"""Database probes."""

import socket
import time
from typing import Any, Dict

from ...deadline import wait_until
from ..context import activity, target

__all__ = ["database_reachable", "wait_for_database"]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return len(sock.recv(1)) == 1  # MariaDB greets first: a handshake means it serves
    except OSError:
        return False


@activity
def database_reachable(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """True when the database accepts a connection and sends its handshake."""
    return _accepts(*target(configuration, lock=False).db_address())


@activity
def wait_for_database(timeout: float = 120, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> float:
    """Block until the database serves again; returns seconds waited."""
    started = time.monotonic()
    address = target(configuration, lock=False).db_address()
    wait_until(lambda: _accepts(*address), timeout=timeout, what="the database to accept connections")
    return round(time.monotonic() - started, 3)
