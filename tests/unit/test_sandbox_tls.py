"""The twin's CA, TLS front and search node certificate (gameday.sandbox.tls), HAProxy's config, the
search nodes' security files, the authenticated readiness check (supervisor and exec-probe forms) and
the Kubernetes Secrets that hand the credentials to an environment. Certificates are checked by real
TLS handshakes."""

from __future__ import annotations

import base64
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading

import bcrypt
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gameday.kube import workloads
from gameday.sandbox import readiness, tls
from gameday.sandbox.members import lb, search
from gameday.sandbox.twin import DB_USER, Twin


@pytest.fixture
def twin(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    t = Twin.create("front-unit", net=77)
    t.paths.ensure()
    return t


def _handshake(pem, cafile, server_hostname: str) -> str:
    """A TLS handshake between a server presenting ``pem`` and a client trusting only ``cafile``;
    returns the subject CN the client verified (raises ssl.SSLCertVerificationError otherwise)."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)
        except (ssl.SSLError, OSError):  # the client refused the certificate: its verdict is what is asserted
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as conn:
                subject = dict(x[0] for x in conn.getpeercert()["subject"])
                return subject["commonName"]
    finally:
        thread.join(5)
        listener.close()


def test_the_front_certificate_verifies_against_the_twin_ca_for_its_names_only(twin):
    files = tls.ensure(twin)
    ca = tls.ca_bundle_path(twin)
    assert ca == twin.paths.conf / "tls" / "ca.crt"
    for name in ("site.front-unit.gameday.test", "search.front-unit.gameday.test", "127.77.10.1"):
        assert _handshake(files.front_pem, ca, name) == "site.front-unit.gameday.test"
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(files.front_pem, ca, "db.front-unit.gameday.test")
    for private in (files.ca_key, files.front_key, files.front_pem):
        assert private.stat().st_mode & 0o777 == 0o600
    assert files.private.stat().st_mode & 0o777 == 0o700


def test_the_ca_is_kept_and_the_front_reissued_only_when_its_names_change(twin, monkeypatch, tmp_path):
    files = tls.ensure(twin)
    ca, front = files.ca_cert.read_bytes(), files.front_pem.read_bytes()
    tls.ensure(twin)
    assert files.ca_cert.read_bytes() == ca and files.front_pem.read_bytes() == front
    moved = Twin.create("front-unit", net=78)  # same twin, another network: new lb address
    tls.ensure(moved)
    assert files.ca_cert.read_bytes() == ca and files.front_pem.read_bytes() != front
    assert _handshake(files.front_pem, tls.ca_bundle_path(moved), "127.78.10.1")
    other = tmp_path / "other-ca.crt"  # another twin's CA does not vouch for this front
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "elsewhere"))
    shutil.copy(tls.ensure(Twin.create("front-unit", net=78)).ca_cert, other)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(files.front_pem, other, "site.front-unit.gameday.test")


def test_the_search_node_certificate_names_every_way_to_a_node_and_its_key_is_pkcs8(twin):
    files = tls.ensure_search_node(twin)
    pem = twin.paths.secrets / "node.pem"  # cert + key, for the test server's load_cert_chain
    pem.write_bytes(files.search_node_cert.read_bytes() + files.search_node_key.read_bytes())
    ca = tls.ca_bundle_path(twin)
    for name in ("search.front-unit.gameday.test", "127.77.50.1", "127.77.50.3", "127.77.70.1", "localhost"):
        assert _handshake(pem, ca, name) == "search-node"
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(pem, ca, "site.front-unit.gameday.test")
    cert = x509.load_pem_x509_certificate(files.search_node_cert.read_bytes())
    assert cert.subject.rfc4514_string() == tls.SEARCH_NODE_DN == "CN=search-node,OU=twin,O=gameday"
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)  # transport: both ends
    assert files.search_node_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as the plugin wants
    assert files.search_node_key.stat().st_mode & 0o777 == 0o600
    key = files.search_node_key.read_bytes()
    assert tls.ensure_search_node(twin).search_node_key.read_bytes() == key  # kept while its names hold


def test_haproxy_passes_search_through_and_holds_no_search_credential(twin):
    lb.prepare(twin)
    member = lb.workload(twin).members[0]
    configs = [member.argv[i + 1] for i, a in enumerate(member.argv) if a == "-f"]
    assert configs == [str(twin.paths.conf / "haproxy.cfg")]
    text = open(configs[0]).read()
    password = twin.search_password()
    assert password not in text and "userlist" not in text and "Authorization" not in text
    assert os.stat(configs[0]).st_mode & 0o777 == 0o600
    assert "bind 127.77.10.1:443 ssl crt" in text and "bind 127.77.10.1:8080\n" in text
    search = text[text.index("frontend search"):]
    assert "mode tcp" in search and "bind 127.77.10.1:9200\n" in search and "ssl crt" not in search  # TLS ends at the nodes
    assert "option httpchk GET /_plugins/_security/health" in search
    assert all(f"server search-{i} 127.77.50.{i}:9200 check check-ssl verify required ca-file "
               f"{tls.ca_bundle_path(twin)}" in search for i in (1, 2, 3))
    # the public front door: the CDN's edges first (each checked on Varnish's own page), the origin last
    door = text[text.index("frontend front_door"):text.index("frontend admin")]
    assert "bind 127.77.10.1:8081\n" in door and "balance first" in door and "option httpchk GET /_cdn/ready" in door
    servers = [line.split()[1:3] for line in door.splitlines() if line.strip().startswith("server ")]
    assert servers == [["cdn-1", "127.77.5.1:8080"], ["cdn-2", "127.77.5.2:8080"], ["origin", "127.77.10.1:8080"]]
    assert lb.front_door_url(twin) == "http://127.77.10.1:8081"
    check = subprocess.run(["haproxy", "-c", "-f", configs[0]], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert member.ports["https"] == 443 and member.ports["search"] == 9200 and member.ports["front_door"] == 8081
    assert twin.search_password() == password and twin.search_env_file.stat().st_mode & 0o777 == 0o600


def test_search_nodes_get_tls_and_only_a_bcrypt_hash_of_the_password(twin):
    search.prepare(twin)
    password = twin.search_password()
    hashes = set()
    for i in (1, 2, 3):
        conf = search.node_dir(twin, i) / "config"
        yml = (conf / "opensearch.yml").read_text()
        assert "plugins.security.ssl.http.enabled: true" in yml
        assert 'plugins.security.nodes_dn: ["CN=search-node,OU=twin,O=gameday"]' in yml
        assert (conf / "certs" / "node-key.pem").read_bytes() == tls.files(twin).search_node_key.read_bytes()
        security = conf / "opensearch-security"
        assert {p.name for p in security.iterdir()} >= {"config.yml", "roles.yml", "roles_mapping.yml",
                                                        "internal_users.yml", "action_groups.yml", "tenants.yml",
                                                        "audit.yml"}  # each one the first init needs
        for private in [*security.iterdir(), *(conf / "certs").iterdir()]:
            assert private.stat().st_mode & 0o777 == 0o600
        users = yaml.safe_load((security / "internal_users.yml").read_text())
        hashes.add(users["elastic"]["hash"])
        assert yaml.safe_load((security / "roles_mapping.yml").read_text())["all_access"]["users"] == ["elastic"]
        assert not any(password in p.read_text(errors="replace") for p in conf.rglob("*") if p.is_file())
    (hashed,) = hashes
    assert hashed.startswith("$2y$12$") and bcrypt.checkpw(password.encode(), ("$2b$" + hashed[4:]).encode())
    search.prepare(twin)  # again: the hash is kept while it is of the password
    assert yaml.safe_load((search.node_dir(twin, 2) / "config/opensearch-security/internal_users.yml").read_text()
                          )["elastic"]["hash"] == hashed
    ready = search.workload(twin).members[0].readiness
    assert ready == {"type": "https", "url": "https://127.77.50.1:9200/_cluster/health", "ca": twin.search_ca(),
                     "auth": {"user": "elastic", "env_file": str(twin.search_env_file)}}


class _Secured(http.server.BaseHTTPRequestHandler):
    """A node's view of basic auth: 401 with the plugin's challenge unless the password is right."""
    password = ""

    def do_GET(self):  # noqa: N802 (http.server's name)
        good = "Basic " + base64.b64encode(f"elastic:{self.password}".encode()).decode()
        if self.headers.get("Authorization") != good:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="OpenSearch Security"')
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_https_readiness_check_logs_in_from_the_secret_file_and_as_an_exec_probe(twin):
    files = tls.ensure_search_node(twin)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.search_node_cert, files.search_node_key)
    _Secured.password = twin.search_password()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Secured)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        spec = {"type": "https", "url": f"https://127.0.0.1:{port}/_cluster/health", "ca": twin.search_ca(),
                "auth": {"user": "elastic", "env_file": str(twin.search_env_file)}}
        assert readiness.check(spec, 0.0)
        assert not readiness.check({**spec, "auth": None}, 0.0)  # 401
        wrong = twin.paths.secrets / "wrong.env"
        wrong.write_text("GAMEDAY_SEARCH_PASSWORD=nope\n")
        assert not readiness.check({**spec, "auth": {"user": "elastic", "env_file": str(wrong)}}, 0.0)
        probe = workloads.probe_from({**spec, "url": f"https://127.77.50.1:{port}/_cluster/health"}, "http")
        command = probe["exec"]["command"]
        env = {"POD_IP": "127.0.0.1", "GAMEDAY_SEARCH_PASSWORD": twin.search_password()}
        assert subprocess.run(command, env=env, timeout=30).returncode == 0
        env["GAMEDAY_SEARCH_PASSWORD"] = "nope"
        assert subprocess.run(command, env=env, timeout=30).returncode == 1
        assert twin.search_password() not in " ".join(command)
    finally:
        server.shutdown()
        server.server_close()


def test_kubernetes_secrets_carry_the_twin_credentials_under_the_platform_names(twin):
    objs = {o["metadata"]["name"]: o for o in workloads.credential_objects(twin)}
    assert objs["search-es-elastic-user"]["stringData"] == {"elastic": twin.search_password()}
    assert objs["twin-ca"]["stringData"] == {"ca.crt": tls.ca_bundle_path(twin).read_text()}
    assert all(o["metadata"]["namespace"] == workloads.NAMESPACE for o in objs.values())
    db = next(o for o in workloads.objects(twin, part="web") if o["kind"] == "Secret")
    assert db["metadata"]["name"] == "sandbox-db"
    assert db["stringData"] == {"GAMEDAY_DB_PASSWORD": twin.db_password(), "username": DB_USER,
                                "password": twin.db_password()}
