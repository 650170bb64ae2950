"""A site's front door for a playbook whose last step checks the site (``verify-site-after-db``) on a
topology that has no site of its own (a database pair, a Cloud SQL stand-in): 200 to every GET::

    with front_door("127.47.0.250", 8080) as url:     # "http://127.47.0.250:8080/"
        ...   # an environment whose site_url is url
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        return


@contextlib.contextmanager
def front_door(host: str, port: int) -> Iterator[str]:
    """Serve 200 to every GET at ``host:port`` for the ``with`` block; yields its URL."""
    server = ThreadingHTTPServer((host, port), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
