"""Every client that publishes (the search canary, the chaos editors' publish_updates, Locust's
editors) signs in as the target's publisher, and only then: checked on the wire, at a real HTTP server
on 127.0.0.1 that records each request's Authorization header and refuses a publish without the
right one (as the WordPress replica's POST /api/articles does). The credentials come from the target
(the twin's secrets/wordpress-publisher.env; Kubernetes: credentials.publisher), reach Locust through
its environment only (never its argv), and no form of the password is left in any file of the run.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import yaml

from gameday import redact
from gameday.chaos.site.actions import publish_updates
from gameday.errors import GamedayError, UsageError
from gameday.load import runner
from gameday.measure.canary import CanaryEndpoints, SearchCanary
from gameday.redact import forms
from gameday.sandbox.members import wordpress
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets import kubernetes as k8s
from gameday.targets.environment import from_mapping

ROOT = Path(__file__).resolve().parents[2]
NASTY = "Pw &<>\"'\\ äÄ€😀 %20$HOME `x` ;|end"  # what a Kubernetes secret may hold (no edge spaces: a file line)
ARTICLE = {"id": 7, "kind": "guidance", "title": "Apixaban", "category": "Anticoagulants", "summary": "s",
           "body": "b", "version": 3}


class Site(ThreadingHTTPServer):
    """The site's API as far as publishing goes; ``expect`` (user, password) or None (asks for none)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.expect: tuple[str, str] | None = None
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def posts(self) -> list[str | None]:
        with self.lock:
            return [auth for method, path, auth in self.seen if method == "POST" and path == "/api/articles"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Site

    def log_message(self, *_args) -> None:
        pass

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with self.server.lock:
            self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
        if self.path.startswith("/api/articles/"):
            self._answer(200, {**ARTICLE, "id": int(self.path.rsplit("/", 1)[1])})
        else:
            self._answer(200, {"ok": True})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        auth = self.headers.get("Authorization")
        with self.server.lock:
            self.server.seen.append(("POST", self.path, auth))
        if self.server.expect is not None and auth != header(*self.server.expect):
            self._answer(401, {"error": "publishing needs the publisher's application password"})
            return
        self._answer(202, {"id": body.get("id", 4242), "event": "pending"})


def header(user: str, password: str) -> str:
    """What RFC 7617 (charset UTF-8) puts on the wire, computed here independently of the clients."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


@pytest.fixture
def site():
    server = Site()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def state(tmp_path, monkeypatch):
    """Twins' state under tmp_path (GAMEDAY_STATE_DIR): a twin here is only its secrets directory."""
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def sandbox_env(site: Site, name: str = "pubunit") -> dict:
    return {"name": "pub-unit", "kind": "sandbox", "allowed": True, "sandbox": name, "net": 62, "site_url": site.url}


def give_publisher(name: str, password: str) -> Path:
    """The twin's publisher file, as the WordPress member writes it (KEY=VALUE, 0600)."""
    twin = Twin.create(name)
    wordpress.publisher_password(twin)  # made by the member's own code: the path, the mode, the key
    f = wordpress.publisher_env_file(twin)
    f.write_text(f"{wordpress.PUBLISHER_ENV}={password}\n")  # then a password of any characters
    return f


# ---- the target ------------------------------------------------------------------------------------
def test_the_sandbox_target_reads_the_twins_publisher_and_masks_it(site, state):
    target = for_environment(from_mapping(sandbox_env(site), "test"))
    assert target.publisher_auth() is None  # a twin whose web tier asks for none: no file, none made
    assert not wordpress.publisher_env_file(Twin.create("pubunit")).exists()
    give_publisher("pubunit", NASTY)
    assert target.publisher_auth() == ("publisher", NASTY)
    token = header("publisher", NASTY).split()[1]
    assert {NASTY, token} <= set(target.secrets())  # the runner's redaction list (known_secrets)
    assert {NASTY, token} <= set(redact.registered())
    assert NASTY not in repr(CanaryEndpoints(kafka_bootstrap="k", db_host="h", db_port=1, db_user="u", db_password="p",
                                             db_name="d", site_url=site.url, search_urls=(),
                                             publisher_auth=target.publisher_auth()))


def test_the_kubernetes_target_reads_credentials_publisher_and_the_schema_wants_a_username(monkeypatch):
    data = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())["configuration"]["gameday_environment"]
    assert k8s.KubernetesTarget(from_mapping(data, "test")).publisher_auth() is None  # optional: today's files stay valid
    data["credentials"]["publisher"] = {"env": "SPS_PUBLISHER_PASSWORD", "username": "publisher"}
    monkeypatch.setenv("SPS_PUBLISHER_PASSWORD", NASTY)
    target = k8s.KubernetesTarget(from_mapping(data, "test"))
    assert target.publisher_auth() == ("publisher", NASTY)
    assert header("publisher", NASTY).split()[1] in redact.registered()
    for ref, message in (({"secret": "wordpress/sps-publisher", "key": "password"}, "credentials.publisher has no username"),
                         ({"adc": True}, "credentials.publisher is adc")):
        data["credentials"]["publisher"] = ref
        with pytest.raises(UsageError, match=message):
            from_mapping(data, "test")


class KubeApi(ThreadingHTTPServer):
    """The one call the target makes for a Secret (GET /api/v1/namespaces/<ns>/secrets/<name>), as the
    Kubernetes API answers it: the data base64-encoded, 404 for a Secret that is not there."""

    daemon_threads = True

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        super().__init__(("127.0.0.1", 0), _KubeHandler)
        self.secrets = secrets
        self.asked: list[str] = []


class _KubeHandler(BaseHTTPRequestHandler):
    server: KubeApi

    def log_message(self, *_args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.asked.append(self.path.split("?")[0])
        parts = self.path.split("?")[0].strip("/").split("/")  # api v1 namespaces <ns> secrets <name>
        data = self.server.secrets.get(f"{parts[3]}/{parts[5]}") if len(parts) == 6 and parts[4] == "secrets" else None
        body = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": parts[-1]},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in (data or {}).items()}}
        if data is None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
        raw = json.dumps(body).encode()
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def test_the_kubernetes_target_reads_the_publisher_from_the_secret_the_environment_names(tmp_path):
    api = KubeApi({"wordpress/sps-publisher": {"password": NASTY, "other": "x"}})
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {"server": f"http://127.0.0.1:{api.server_address[1]}"}}],
            "users": [{"name": "local", "user": {"token": "unit-token"}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}]}))
        data = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())["configuration"]["gameday_environment"]
        data["kubernetes"].update(context="local", kubeconfig=str(kubeconfig))
        data["credentials"] = {"publisher": {"secret": "wordpress/sps-publisher", "key": "password", "username": "publisher"}}
        target = k8s.KubernetesTarget(from_mapping(data, "test"))
        assert target.publisher_auth() == ("publisher", NASTY)
        assert api.asked == ["/api/v1/namespaces/wordpress/secrets/sps-publisher"]
        assert {NASTY, header("publisher", NASTY).split()[1]} <= set(target.secrets())
        data["credentials"]["publisher"]["key"] = "passwd"
        with pytest.raises(UsageError, match="secret wordpress/sps-publisher has no key 'passwd'"):
            k8s.KubernetesTarget(from_mapping(data, "test")).publisher_auth()
        data["credentials"]["publisher"]["secret"] = "wordpress/gone"
        with pytest.raises(UsageError, match="secret wordpress/gone .* does not exist"):
            k8s.KubernetesTarget(from_mapping(data, "test")).publisher_auth()
    finally:
        api.shutdown()
        api.server_close()


# ---- the chaos editors and the search canary -----------------------------------------------------------
def test_publish_updates_signs_in_as_the_publisher_only_when_the_target_has_one(site, state):
    conf = {"gameday_environment": sandbox_env(site)}
    out = publish_updates(count=2, first_id=5, configuration=conf)
    assert (out["pending"], out["failed"]) == (2, 0) and site.posts() == [None, None]  # no credential: none sent
    give_publisher("pubunit", NASTY)
    site.expect = ("publisher", NASTY)
    out = publish_updates(count=3, first_id=11, configuration=conf)
    assert (out["pending"], out["failed"], out["ids"]) == (3, 0, [11, 12, 13])
    assert site.posts()[2:] == [header("publisher", NASTY)] * 3
    assert all(auth is None for method, _p, auth in site.seen if method == "GET")  # reading needs none
    wordpress.publisher_env_file(Twin.create("pubunit")).write_text(f"{wordpress.PUBLISHER_ENV}=wrong-password\n")
    assert publish_updates(count=1, first_id=20, configuration=conf)["failed"] == 1  # the server does check


def test_the_search_canary_publishes_as_the_publisher_only_when_the_target_has_one(site, state):
    target = for_environment(from_mapping(sandbox_env(site), "test"))

    def canary() -> SearchCanary:
        ep = CanaryEndpoints(kafka_bootstrap="127.0.0.1:1", db_host="127.0.0.1", db_port=1, db_user="u", db_password="p",
                             db_name="d", site_url=target.site_url(), search_urls=(),
                             publisher_auth=target.publisher_auth())
        writer = SearchCanary(ep, "run-1", 1.0)
        writer.setup()
        return writer

    assert canary().write(1, time.time()) == 4242 and site.posts() == [None]
    give_publisher("pubunit", NASTY)
    site.expect = ("publisher", NASTY)
    assert canary().write(2, time.time()) == 4242
    assert site.posts()[1] == header("publisher", NASTY)
    wordpress.publisher_env_file(Twin.create("pubunit")).unlink()
    with pytest.raises(GamedayError, match="HTTP 401"):  # nothing sent, and this site wants it
        canary().write(3, time.time())
    assert site.posts()[2] is None


# ---- Locust's editors ----------------------------------------------------------------------------
def publish_only(tmp_path: Path) -> Path:
    model = yaml.safe_load((ROOT / "loadtests" / "traffic.yaml").read_text())
    model["journeys"] = {k: (1 if k == "publish" else 0) for k in model["journeys"]}
    path = tmp_path / "publish-only.yaml"
    path.write_text(yaml.safe_dump(model))
    return path


LEAKY = """
import os, sys
if "locust" in " ".join(sys.argv):
    print("leak:", os.environ.get("GAMEDAY_PUBLISHER_PASSWORD"), flush=True)
"""


def run_locust(site: Site, out: Path, traffic: Path, auth: tuple[str, str] | None, leaky: Path) -> list[str]:
    """A real Locust run of the publish journey for a few seconds; returns its argv as /proc has it.
    ``leaky`` holds a sitecustomize that prints the password Locust was given (its console log)."""
    leaky.mkdir(exist_ok=True)
    (leaky / "sitecustomize.py").write_text(LEAKY)
    run = runner.prepare(runner.RunOptions(profile="smoke", host=site.url, duration_s=4, out_dir=out, traffic=traffic,
                                           pacing_s=1, publisher_auth=auth, extra_env={"PYTHONPATH": str(leaky)}))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(summary=runner.execute(run)), daemon=True)
    thread.start()
    cmdlines: list[str] = []
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            try:
                raw = Path(f"/proc/{child.pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"locust" in raw:
                cmdlines.append(raw.decode(errors="replace"))
        time.sleep(0.2)
    thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not thread.is_alive() and result["summary"]["status"] == "ok", result
    assert cmdlines, "never saw Locust's process"
    return cmdlines


def test_locust_publishes_as_the_publisher_from_its_environment_never_its_argv(site, tmp_path, monkeypatch):
    traffic = publish_only(tmp_path)
    site.expect = ("publisher", NASTY)
    cmdlines = run_locust(site, tmp_path / "with", traffic, ("publisher", NASTY), tmp_path / "leaky")
    posts = site.posts()
    assert len(posts) >= 5 and set(posts) == {header("publisher", NASTY)}, posts[:3]
    secret_forms = {f.encode() for f in forms(NASTY) | forms(header("publisher", NASTY).split()[1]) if len(f) >= 4}
    for line in cmdlines:
        assert not [f for f in secret_forms if f in line.encode()], "the password is in Locust's argv"
    files = [p for p in (tmp_path / "with").rglob("*") if p.is_file()]
    assert {"summary.json", "timeline.jsonl", "locust.log"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        assert not [f for f in secret_forms if f in data], f"{path.name} holds the password"
    assert f"leak: {redact.MASK}" in (tmp_path / "with" / "locust-console.log").read_text()  # printed, then masked
    timeline = [json.loads(line) for line in (tmp_path / "with" / "timeline.jsonl").read_text().splitlines()]
    assert sum(r["failures"] for r in timeline if r.get("group") == "publish") == 0  # 202 each: accepted

    # no credentials for the target: none sent, even with the variable in the runner's own environment
    site.seen.clear()
    monkeypatch.setenv(runner.PUBLISHER_USER_ENV, "publisher")
    monkeypatch.setenv(runner.PUBLISHER_PASSWORD_ENV, "a-password-nobody-registered")
    run_locust(site, tmp_path / "without", traffic, None, tmp_path / "leaky")
    assert len(site.posts()) >= 5 and set(site.posts()) == {None}
    assert "leak: None" in (tmp_path / "without" / "locust-console.log").read_text()
