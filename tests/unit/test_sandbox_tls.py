"""The twin's CA and TLS front (gameday.sandbox.tls), HAProxy's config for it, and the Kubernetes
Secrets that hand its credentials to an environment. Certificates are checked by real TLS handshakes."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from gameday.kube import workloads
from gameday.sandbox import tls
from gameday.sandbox.members import lb
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


def test_haproxy_accepts_the_tls_front_and_holds_only_a_hash_of_the_search_password(twin):
    lb.prepare(twin)
    member = lb.workload(twin).members[0]
    configs = [member.argv[i + 1] for i, a in enumerate(member.argv) if a == "-f"]
    site, search = (open(c).read() for c in configs)
    password = twin.search_password()
    for c in configs:
        assert password not in open(c).read() and os.stat(c).st_mode & 0o777 == 0o600
    assert "user elastic password $6$" in search
    assert "bind 127.77.10.1:443 ssl crt" in site and "bind 127.77.10.1:9200 ssl crt" in search
    assert "bind 127.77.10.1:8080\n" in site  # the plain front stays
    assert "option httpchk GET /_cluster/health?local=true" in search
    assert all(f"server search-{i} 127.77.50.{i}:9200 check" in search for i in (1, 2, 3))
    check = subprocess.run(["haproxy", "-c", *(x for c in configs for x in ("-f", c))],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    # the hash is of this password: crypt(3) through openssl, with the hash's own salt
    hashed = search.split("user elastic password ", 1)[1].split()[0]
    salt = hashed.split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password + "\n",
                           capture_output=True, text=True, timeout=10).stdout.strip()
    assert again == hashed
    assert member.ports["https"] == 443 and member.ports["search"] == 9200
    assert password not in " ".join(member.argv)
    assert twin.search_password() == password and twin.search_env_file.stat().st_mode & 0o777 == 0o600


def test_kubernetes_secrets_carry_the_twin_credentials_under_the_platform_names(twin):
    objs = {o["metadata"]["name"]: o for o in workloads.credential_objects(twin)}
    assert objs["search-es-elastic-user"]["stringData"] == {"elastic": twin.search_password()}
    assert objs["twin-ca"]["stringData"] == {"ca.crt": tls.ca_bundle_path(twin).read_text()}
    assert all(o["metadata"]["namespace"] == workloads.NAMESPACE for o in objs.values())
    db = next(o for o in workloads.objects(twin, part="web") if o["kind"] == "Secret")
    assert db["metadata"]["name"] == "sandbox-db"
    assert db["stringData"] == {"GAMEDAY_DB_PASSWORD": twin.db_password(), "username": DB_USER,
                                "password": twin.db_password()}
