"""Redirects through the one host guard (issue 17, step K), against real HTTP servers on two loopback
hosts: the site (127.0.0.1) answers 301/307 to another host (127.0.0.2), as WordPress 301s a request
for another Host to its canonical URL. Credentials and publishes never reach the other host; measuring
probes count the redirect as one; a redirect on the same host is still followed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from gameday import hostguard, site_slo
from gameday.errors import GamedayError
from gameday.measure.canary import CanaryEndpoints, SearchCanary

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = ("editor", "Redirect-Test-Pw-7")  # a test value: what must never reach the other host


class Server:
    """One HTTP server on ``host``: it records what it receives and answers by path."""

    def __init__(self, host: str, routes):
        self.seen: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append({"method": self.command, "path": self.path, "body": body,
                                    "authorization": self.headers.get("Authorization")})
                status, headers, payload = routes(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def hosts():
    other = Server("127.0.0.2", lambda path: (200, {"X-Served-By": "other"},
                                              json.dumps({"id": 999, "version": 1}).encode()))

    def site_routes(path):
        if path.startswith("/moved"):  # WordPress's canonical redirect: another host, same path
            return 301, {"Location": f"{other.url}{path}"}, b""
        if path == "/api/articles":  # a publish answered 307: the body and method would follow
            return 307, {"Location": f"{other.url}/api/articles"}, b""
        if path == "/same":
            return 301, {"Location": "/landed"}, b""
        if path == "/sneaky":  # parsers disagree on the host: never followed
            return 302, {"Location": f"http://x.invalid\\@127.0.0.2:{other.url.rsplit(':', 1)[1]}/"}, b""
        return 200, {"X-Served-By": "site"}, json.dumps({"id": 7, "version": 3}).encode()

    site = Server("127.0.0.1", site_routes)
    yield site, other
    site.close()
    other.close()


def test_a_sender_with_credentials_refuses_a_redirect_to_another_host(hosts):
    site, other = hosts
    with hostguard.session() as s:
        with pytest.raises(hostguard.RedirectRefused) as err:
            s.get(f"{site.url}/moved", auth=PUBLISHER, timeout=5)
        with pytest.raises(hostguard.RedirectRefused):
            s.post(f"{site.url}/api/articles", auth=PUBLISHER, json={"title": "t"}, timeout=5)
        with pytest.raises(hostguard.RedirectRefused):
            s.get(f"{site.url}/sneaky", auth=PUBLISHER, timeout=5)
    message = str(err.value)
    assert site.url in message and other.url in message, message  # both hosts named
    assert PUBLISHER[1] not in message
    assert other.seen == []  # nothing at all reached the other host: no credential, no body
    assert [r["path"] for r in site.seen] == ["/moved", "/api/articles", "/sneaky"]


def test_a_same_host_redirect_is_still_followed_with_its_credentials(hosts):
    site, other = hosts
    with hostguard.session() as s:
        r = s.get(f"{site.url}/same", auth=PUBLISHER, timeout=5)
    assert r.status_code == 200 and r.headers["X-Served-By"] == "site" and len(r.history) == 1
    assert [x["path"] for x in site.seen] == ["/same", "/landed"]
    assert site.seen[1]["authorization"] is not None  # requests keeps it on the same origin, as before
    assert other.seen == []


def test_allow_redirects_false_is_honoured(hosts):
    site, other = hosts
    with hostguard.session() as s:
        r = s.get(f"{site.url}/moved", timeout=5, allow_redirects=False)
    assert r.status_code == 301 and other.seen == []


def test_a_measuring_probe_counts_the_redirect_and_does_not_follow_it(hosts):
    site, other = hosts
    s = hostguard.session(refuse=False)
    r = s.get(f"{site.url}/moved", timeout=5)
    assert r.status_code == 301 and hostguard.redirected_to(r) == other.url
    same = s.get(f"{site.url}/same", timeout=5)
    assert same.status_code == 200 and hostguard.redirected_to(same) is None

    m = site_slo.measure(site.url, paths=["/moved"], window_s=0.5, rate=10, timeout=3)
    assert m["requests"] == 5 and m["ok"] == 0 and m["redirected"] == 5
    assert m["redirect"] == f"{site.url} -> {other.url}" and other.url in site_slo.redirect_note(m)
    ok = site_slo.measure(site.url, paths=["/same", "/"], window_s=0.5, rate=10, timeout=3)
    assert ok["ok"] == ok["requests"] == 5 and ok["redirected"] == 0 and site_slo.redirect_note(ok) == ""
    assert other.seen == []


def test_the_search_canary_never_publishes_to_another_host(hosts):
    site, other = hosts
    ep = CanaryEndpoints(kafka_bootstrap="127.0.0.1:9", db_host="127.0.0.1", db_port=9, db_user="u", db_password="p",
                         db_name="d", site_url=site.url, search_urls=(other.url,), publisher_auth=PUBLISHER)
    writer = SearchCanary(ep, "run", 1.0)
    writer.setup()
    with pytest.raises(hostguard.RedirectRefused):
        writer.write(1, 0.0)
    assert isinstance(hostguard.RedirectRefused(site.url, other.url), GamedayError)  # counted as a failed write
    assert other.seen == [] and site.seen[0]["authorization"] is not None


def test_locust_users_refuse_a_redirect_to_another_host(hosts):
    """The load's publishes and reads (FastHttpUser) follow the same rule; in a subprocess because
    importing Locust patches the whole process with gevent."""
    site, other = hosts
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / 'loadtests')!r})
import locustfile
from gameday import hostguard
agent = locustfile.HostGuardedAgent(max_redirects=5, insecure=True)
try:
    agent.urlopen({site.url + '/api/articles'!r}, method="POST", payload=b'{{"title": "t"}}',
                  headers={{"Authorization": "Basic ZWRpdG9yOlJlZGlyZWN0LVRlc3QtUHctNw=="}})
    print("FOLLOWED")
except hostguard.RedirectRefused as err:
    print("REFUSED", err.source, err.target)
r = agent.urlopen({site.url + '/same'!r})
print("SAME", r.status_code, r.headers.get("X-Served-By"))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"REFUSED {site.url} {other.url}" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "SAME 200 site" in out.stdout, out.stdout
    assert other.seen == []


def test_the_guard_rule_resolves_locations_as_the_senders_do():
    base = "http://127.0.0.1:8080/a/b"
    assert hostguard.redirect_refused(base, "/c") is None
    assert hostguard.redirect_refused(base, "c?x=1") is None
    assert hostguard.redirect_refused(base, "http://127.0.0.1:8080/c") is None
    assert hostguard.redirect_refused("http://127.0.0.1/", "http://127.0.0.1:80/x") is None  # default port
    for location in ("//127.0.0.2:8080/", "http://127.0.0.1:8081/", "https://127.0.0.1:8080/",
                     "http://127.0.0.2:8080/", "http://x.invalid\\@127.0.0.1:8080/", "ftp://127.0.0.1:8080/",
                     "http://user:pw@127.0.0.1:8080/"):
        refused = hostguard.redirect_refused(base, location)
        assert refused is not None, location
        assert "pw" not in str(refused)
    assert hostguard.origin("HTTP://LOCALHOST") == "http://localhost:80"
    assert hostguard.origin("http://[::1]:9/x") == "http://[::1]:9"
    with pytest.raises(requests.RequestException):  # an unanswered request is still requests' own error
        hostguard.session().get("http://127.0.0.1:9/", timeout=1)
