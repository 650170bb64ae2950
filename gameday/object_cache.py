"""The site's object cache (WordPress's Redis) spoken to directly: one connection, ``AUTH``, commands,
over TLS when the server speaks it. Used to empty it after the database's content changed underneath
(the playbooks' ``flush-site-caches`` step) on every target: the twin's ``cache-N``
(:mod:`gameday.sandbox.site_caches`) and a GKE environment's Memorystore (``kubernetes.object_cache``)::

    server = Server(host="10.20.0.9", port=6378, tls=True, name="memorystore")   # TLS: the trusted CAs
    commands(server, ("DBSIZE",), password=secret)      # ["812"]
    flush(server, password=secret)                      # {"flushed": True, "keys_before": 812, "seconds": 0.004}

The password is sent in the ``AUTH`` command only (never logged or echoed; a refusal quotes the server's
first 80 characters, which never hold it). TLS verifies the server's certificate and name with the
process's trust (the system's CAs, plus an environment's ``trust:`` once the target installed them:
``SSL_CERT_FILE``). Errors are one :class:`GamedayError` naming the server.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

from .errors import GamedayError

TIMEOUT = 5.0
SENTINEL = "gameday:flush-sentinel"


@dataclass(frozen=True)
class Server:
    host: str
    port: int = 6379
    tls: bool = False
    name: str = ""  # how it is named in messages (default host:port)

    def __str__(self) -> str:
        where = f"{self.host}:{self.port}"
        return f"{self.name} ({where})" if self.name else where


def _resp(*args: str) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _replies(conn: socket.socket, n: int) -> list[str]:
    """``n`` simple replies (``+OK``, ``:12``, ``-ERR ...``, or a bulk string's value) read in order."""
    buf, replies = b"", []
    deadline = time.monotonic() + TIMEOUT

    def more() -> bytes:
        if time.monotonic() > deadline:
            raise TimeoutError("no whole reply within the timeout")
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    while len(replies) < n:
        if b"\r\n" not in buf:
            buf += more()
            continue
        line, buf = buf.split(b"\r\n", 1)
        kind, value = line[:1], line[1:].decode(errors="replace")
        if kind == b"$":
            size = int(value)
            if size < 0:
                replies.append("(nil)")
                continue
            while len(buf) < size + 2:
                buf += more()
            replies.append(buf[:size].decode(errors="replace"))
            buf = buf[size + 2:]
        else:
            replies.append(("-" if kind == b"-" else "") + value)
    return replies


def _connect(server: Server) -> socket.socket:
    raw = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    if not server.tls:
        return raw
    try:
        return ssl.create_default_context().wrap_socket(raw, server_hostname=server.host)
    except (ssl.SSLError, OSError):
        raw.close()
        raise


def commands(server: Server, *cmds: tuple[str, ...], password: str | None = None,
             username: str | None = None) -> list[str]:
    """Send ``cmds`` (after ``AUTH`` when a password is given) on one connection; their replies, in order."""
    auth = [("AUTH", username, password) if username else ("AUTH", password)] if password is not None else []
    try:
        with _connect(server) as conn:
            conn.sendall(b"".join(_resp(*c) for c in (*auth, *cmds)))
            replies = _replies(conn, len(auth) + len(cmds))
    except ssl.SSLCertVerificationError as err:
        raise GamedayError(f"object cache {server}: its TLS certificate did not verify ({err.verify_message})",
                           hint="trust its CA (the environment's trust:, e.g. Memorystore's server CA) and name it "
                                "as its certificate does") from None
    except (OSError, ValueError) as err:
        raise GamedayError(f"object cache {server} did not answer: {type(err).__name__}: {err}",
                           hint="check that it runs at that address and port, and speaks TLS when it is told to "
                                "(kubernetes.object_cache.tls) and not otherwise") from None
    if auth and replies[0] != "OK":
        raise GamedayError(f"object cache {server} refused the password ({replies[0][:80]})",
                           hint="check the credential the environment names for it (its AUTH string)")
    return replies[len(auth):]


def flush(server: Server, *, password: str | None = None, username: str | None = None) -> dict[str, object]:
    """Empty it (``FLUSHALL``) and prove it: a sentinel key written first is read back as gone.
    ``{"flushed": True, "keys_before": N, "seconds": s}``; raises GamedayError when it was not emptied."""
    started = time.monotonic()
    written, keys = commands(server, ("SET", SENTINEL, "1"), ("DBSIZE",), password=password, username=username)
    if written != "OK" or not keys.isdigit():
        raise GamedayError(f"object cache {server}: the sentinel key was not written (SET answered {written[:80]!r}, "
                           f"DBSIZE {keys[:80]!r}): nothing was flushed",
                           hint="a server that asks for a password needs the credential the environment names for "
                                "it; one that is read-only or out of memory cannot take the proof")
    flushed, left = commands(server, ("FLUSHALL",), ("EXISTS", SENTINEL), password=password, username=username)
    if flushed != "OK" or left != "0":
        raise GamedayError(f"object cache {server}: FLUSHALL answered {flushed[:80]!r} and the sentinel key is "
                           f"{'gone' if left == '0' else 'still there'}",
                           hint="a server that refuses FLUSHALL (a renamed or disabled command) cannot be emptied "
                                "this way")
    return {"flushed": True, "keys_before": max(0, int(keys) - 1), "seconds": round(time.monotonic() - started, 3)}
