"""The WordPress replicas' PHP-FPM pools as their own status pages count them (issue 17, the pool exhausted
behind a slow database).

Each replica's nginx serves its traffic pool's status on a unix socket of its own, ``run/<member>/status.sock``
(``/fpm-status``: :mod:`gameday.sandbox.wordpress.launch`, ``nginx.conf``), not on the replica's address. A
pool worker answers the status page, so with every worker busy it waits in the pool's queue like any other
request: it is asked with a short timeout, and when it does not answer the pool's listen queue is read from
the kernel instead (``ss``: the connections waiting on ``php-fpm.sock`` to be accepted)::

    pools(twin, status)
    # {"members": {"web-1": {"running": True, "answers": True, "active": 8, "idle": 0, "total": 8,
    #   "max_children_reached": 3, "listen_queue": 12, "max_listen_queue": 30, "slow_requests": 40}}}
    # a status page that did not answer: {"answers": False, "why": "...", "listen_queue": 12}

``status`` is the supervisor's. None when no web member has a status socket (the Python site).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from .twin import Twin

STATUS_TIMEOUT_S = 1.5
FIELDS = {"active processes": "active", "idle processes": "idle", "total processes": "total",
          "max children reached": "max_children_reached", "listen queue": "listen_queue",
          "max listen queue": "max_listen_queue", "accepted conn": "accepted", "slow requests": "slow_requests"}


def _run_dir(twin: Twin, member: str) -> Path:
    return twin.paths.run / member


def read_status(sock: Path, timeout: float = STATUS_TIMEOUT_S) -> dict[str, Any]:
    """``GET /fpm-status?json`` over the unix socket ``sock``: the pool's figures (:data:`FIELDS`).
    Raises OSError (``TimeoutError`` included) or ValueError when it does not answer in time or
    answers something else."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(b"GET /fpm-status?json HTTP/1.0\r\nHost: localhost\r\n\r\n")
        chunks, chunk = [], b"-"
        deadline = time.monotonic() + timeout
        while chunk:  # until the server closes (HTTP/1.0), within the deadline and 1 MiB
            if time.monotonic() > deadline:
                raise TimeoutError(f"status page not whole within {timeout:g} s")
            chunk = s.recv(65536)
            chunks.append(chunk)
            if sum(len(c) for c in chunks) > 1 << 20:
                raise ValueError("status page longer than 1 MiB")
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0]
    if first.split(b" ")[1:2] != [b"200"]:
        raise ValueError(f"status page answered {first[:80]!r}")
    raw = json.loads(body)
    return {short: int(raw[name]) for name, short in FIELDS.items() if name in raw}


def listen_queue(sock: Path) -> int | None:
    """Connections waiting to be accepted on the listening unix socket ``sock`` (``ss -xl``'s Recv-Q);
    None when ``ss`` is missing or does not list it."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    try:
        proc = subprocess.run([ss, "-xlnH"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines():
        cols = line.split()
        # u_str LISTEN <Recv-Q> <Send-Q> <path> <inode> * 0
        if len(cols) >= 5 and cols[4] == str(sock) and cols[2].isdigit():
            return int(cols[2])
    return None


def pools(twin: Twin, status: dict[str, Any]) -> dict[str, Any] | None:
    """Each wanted web member's pool (see the module docstring); None when none has a status socket."""
    web = [m for m in status.get("members", []) if m.get("layer") == "web" and m.get("kind") != "job"
           and m.get("desired", True)]
    if not any((_run_dir(twin, m["name"]) / "status.sock").exists() for m in web):
        return None
    out: dict[str, Any] = {}
    for m in sorted(web, key=lambda m: m["index"]):
        run = _run_dir(twin, m["name"])
        row: dict[str, Any] = {"running": m.get("pid") is not None}
        if not row["running"]:
            out[m["name"]] = {**row, "answers": False, "why": "not running"}
            continue
        try:
            out[m["name"]] = {**row, "answers": True, **read_status(run / "status.sock")}
        except (OSError, ValueError) as err:
            why = (f"the status page did not answer within {STATUS_TIMEOUT_S:g} s (a pool worker serves it: every "
                   "worker is busy)" if isinstance(err, TimeoutError) else f"the status page failed: {err}")
            out[m["name"]] = {**row, "answers": False, "why": why, "listen_queue": listen_queue(run / "php-fpm.sock")}
    return {"members": out}
