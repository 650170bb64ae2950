"""``site_slo.measure`` counts the answers that say a dependency is down (``X-Gameday-Degraded``), against
a real HTTP server on loopback: the Python site's 503 and WordPress's 200 from its own MySQL search are
both degraded answers (D6, docs/web-tier-switch.md); only the 5xx is not ok."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gameday import site_slo

ANSWERS = {"/search-wp": (200, "search"), "/search-py": (503, "search"), "/db": (503, "db"), "/": (200, None)}


@pytest.fixture
def site():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, degraded = ANSWERS[self.path]
            self.send_response(status)
            if degraded:
                self.send_header(site_slo.DEGRADED_HEADER, degraded)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_degraded_answers_are_counted_by_what_they_say_ok_or_not(site):
    m = site_slo.measure(site, paths=["/", "/search-wp", "/search-py", "/db"], window_s=0.8, rate=10, timeout=3)
    assert m["requests"] == 8 and m["ok"] == 4  # "/" and WordPress's fallback search page
    assert m["degraded"] == 6 and m["degraded_by"] == {"db": 2, "search": 4}


def test_a_whole_site_says_nothing_degraded(site):
    m = site_slo.measure(site, paths=["/"], window_s=0.5, rate=10, timeout=3)
    assert m["ok"] == m["requests"] == 5 and m["degraded"] == 0 and m["degraded_by"] == {}
