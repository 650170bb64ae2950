"""A tiny origin for tests/integration/test_cdn.py: a real HTTP/1.1 server that counts what reaches it.

Run as a member: ``python tests/support/cdn_origin.py --bind 127.65.20.1 --port 8000``.

- ``GET``/``HEAD`` of any path: 200, an HTML page naming the path and how many times the origin served it
  (also in ``X-Origin-Count``); ``/short/...`` says ``Cache-Control: s-maxage=1``; ``/private/...`` sets a
  cookie (``Set-Cookie``); ``/missing...`` answers 404; ``/readyz`` and ``/healthz`` 200.
- ``POST`` of any path: 200, JSON ``{"saved": n}``.
- ``GET /_origin/counts``: ``{"GET /path": n, "POST /path": n, ...}`` (not counted itself): what the test
  reads, straight from the origin, to tell what the CDN answered alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: Counter[str] = Counter()
LOCK = threading.Lock()


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _count(self) -> int:
        with LOCK:
            COUNTS[f"{self.command} {self.path}"] += 1
            return COUNTS[f"{self.command} {self.path}"]

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/_origin/counts":
            with LOCK:
                body = json.dumps(dict(COUNTS)).encode()
            self._send(200, body, "application/json")
            return
        n = self._count()
        if self.path in ("/readyz", "/healthz"):
            self._send(200, b"ok\n", "text/plain")
            return
        headers = {"X-Origin-Count": str(n)}
        if self.path.startswith("/short/"):
            headers["Cache-Control"] = "s-maxage=1"
        if self.path.startswith("/private/"):
            headers["Set-Cookie"] = f"session=s{n}; Path=/; HttpOnly"
        status = 404 if self.path.startswith("/missing") else 200
        self._send(status, f"<html><body><p>{self.path} served {n}</p></body></html>\n".encode(),
                   "text/html; charset=utf-8", headers)

    do_HEAD = do_GET  # noqa: N815 - http.server's name

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        n = self._count()
        self._send(200, json.dumps({"saved": n}).encode(), "application/json", {"X-Origin-Count": str(n)})

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        return None  # the probe's /readyz every second would fill the member's log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a counting origin for the CDN test")
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    ThreadingHTTPServer((args.bind, args.port), Origin).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
