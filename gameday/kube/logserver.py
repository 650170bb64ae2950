"""The part of the kubelet API that ``kubectl logs`` needs, served by the node agent over TLS.

The API server proxies ``kubectl logs`` to ``https://<node InternalIP>:<kubelet port>/containerLogs/
<namespace>/<pod>/<container>`` with its kubelet client certificate; this server checks that
certificate against the sandbox CA and answers from the container's log file. Supported query
parameters: ``tailLines``, ``limitBytes``, ``previous``, ``follow`` (for at most ``FOLLOW_LIMIT``
seconds). ``timestamps`` and ``sinceSeconds`` are ignored (the files hold no timestamps)::

    server = serve(address, port, cert, key, client_ca, log_root)   # a started daemon thread
    server.shutdown()
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..deadline import Deadline

log = logging.getLogger("gameday.kube.logs")

FOLLOW_LIMIT = 3600.0
CHUNK = 64 * 1024


def find_log(log_root: Path, namespace: str, pod: str, container: str, previous: bool) -> Path | None:
    """The newest log of that container among pods of that name (a pod's folder ends in its uid)."""
    suffix = ".previous.log" if previous else ".log"
    candidates = [d / f"{container}{suffix}" for d in log_root.glob(f"{namespace}_{pod}_*") if d.is_dir()]
    candidates = [c for c in candidates if c.exists()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args) -> None:  # quiet: one line per request at debug level
        log.debug("%s " + fmt, self.client_address[0], *args)

    def _plain(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        """exec, attach and port-forward arrive as POSTs: say plainly that they are not served."""
        self._plain(501, "the gameday node agent runs pods as host processes and serves logs only: "
                         "exec, attach and port-forward are not supported (use `kubectl logs` or the pod's address)")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path in ("/healthz", "/readyz", "/livez"):
            self._plain(200, "ok")
            return
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._plain(404, f"not found: {url.path} (this node agent serves /containerLogs only)")
            return
        _, namespace, pod, container = parts
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        previous = query.get("previous") == "true"
        path = find_log(self.server.log_root, namespace, pod, container, previous)
        if path is None:
            what = "previous terminated container" if previous else "container"
            self._plain(404, f'{what} "{container}" in pod "{pod}" has no log on this node')
            return
        data = path.read_bytes()
        if "tailLines" in query:
            data = tail(data, int(query["tailLines"]))
        if "limitBytes" in query:
            data = data[: int(query["limitBytes"])]
        follow = query.get("follow") == "true" and not previous
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if not follow:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(data)
        self._follow(path, offset=path.stat().st_size)

    def _follow(self, path: Path, offset: int) -> None:
        deadline = Deadline(FOLLOW_LIMIT)
        try:
            while not deadline.expired() and not self.server.stopping.is_set():
                if not path.exists() or path.stat().st_size < offset:
                    return  # the container restarted (its log was rotated) or the pod is gone
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read(CHUNK)
                if chunk:
                    offset += len(chunk)
                    self.wfile.write(chunk)
                    self.wfile.flush()
                else:
                    time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return


class _Server(ThreadingHTTPServer):
    """TLS per connection, in the connection's own thread (a slow handshake blocks no one)."""

    daemon_threads = True

    def __init__(self, addr, log_root: Path, context: ssl.SSLContext):
        self.log_root = log_root
        self.context = context
        self.stopping = threading.Event()
        super().__init__(addr, _Handler)

    def finish_request(self, request, client_address) -> None:
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:  # e.g. a plain TCP readiness check, or no client certificate
            log.debug("TLS handshake with %s failed: %s", client_address[0], err)
            return
        tls.settimeout(None)
        self.RequestHandlerClass(tls, client_address, self)

    def handle_error(self, request, client_address) -> None:
        log.warning("kubelet API request from %s failed", client_address[0], exc_info=True)


def serve(address: str, port: int, cert: str, key: str, client_ca: str, log_root: Path) -> _Server:
    """Start the TLS server in a daemon thread; only clients with a certificate from ``client_ca`` get in."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    server = _Server((address, port), log_root, context)
    threading.Thread(target=server.serve_forever, name="kubelet-api", daemon=True).start()
    log.info("kubelet API (containerLogs) on https://%s:%d", address, port)
    os.makedirs(log_root, exist_ok=True)
    return server
