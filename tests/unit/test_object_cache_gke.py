"""A GKE environment's object cache (Memorystore for Redis, ``kubernetes.object_cache``) emptied by the
playbooks' flush-site-caches step, reached as Memorystore is: by its name, over TLS verified with the
environment's ``trust:``, with the AUTH string from ``credentials.object_cache``. A real redis-server
(Debian's, TLS on 127.0.0.1, a certificate from a CA made here) stands in for Memorystore."""

from __future__ import annotations

import copy
import datetime
import ipaddress
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gameday import object_cache
from gameday.deadline import wait_until
from gameday.errors import GamedayError
from gameday.recovery.layers import site_caches
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget

ROOT = Path(__file__).resolve().parents[2]
AUTH = "memorystore auth 'string' with \"quotes\" and spaces"  # whatever its characters, it is sent in AUTH only
REDIS_SERVER = "/usr/bin/redis-server"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _certificate(subject: str, issuer: x509.Name, key, signer, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def memorystore(tmp_path, monkeypatch):
    """A redis-server speaking only TLS, with a password (in a 0600 file, not its argv)."""
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    for var in trust.ENV_VARS:  # the target installs the environment's trust in this process: undone after
        monkeypatch.delenv(var, raising=False)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("memorystore-server-ca", _name("memorystore-server-ca"), ca_key, ca_key, ca=True)
    files = {"ca.pem": _pem(ca), "server.pem": _pem(_certificate("localhost", ca.subject, key, ca_key, ca=False)),
             "server.key": _pem(key)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    port = _free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f'port 0\ntls-port {port}\nbind 127.0.0.1\ntls-cert-file {tmp_path}/server.pem\n'
                    f'tls-key-file {tmp_path}/server.key\ntls-ca-cert-file {tmp_path}/ca.pem\ntls-auth-clients no\n'
                    f'save ""\nappendonly no\ndir {tmp_path}\nrequirepass "{AUTH.replace(chr(34), chr(92) + chr(34))}"\n')
    conf.chmod(0o600)
    proc = subprocess.Popen([REDIS_SERVER, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = object_cache.Server(host="localhost", port=port, tls=True, name="memorystore")
    trust.install([{"file": str(tmp_path / "ca.pem")}], None, "test")  # for this fixture's own look, as the target does

    def answers() -> bool:
        try:
            return object_cache.commands(server, ("PING",), password=AUTH) == ["PONG"]
        except GamedayError:
            return False

    try:
        wait_until(answers, timeout=15, what="redis-server with TLS to answer")
        for var in trust.ENV_VARS:
            monkeypatch.delenv(var, raising=False)  # the target must install the trust itself
        yield server, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _environment(port: int, tmp_path: Path, monkeypatch, *, auth: str = AUTH, with_trust: bool = True) -> dict:
    raw = yaml.safe_load((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    env = copy.deepcopy(raw["configuration"]["gameday_environment"])
    env.pop("cloud_cdn", None)
    env["kubernetes"]["object_cache"].update(host="localhost", port=port)  # the example's, on this machine
    assert env["credentials"]["object_cache"] == {"env": "MEMORYSTORE_AUTH"}  # the example's reference
    monkeypatch.setenv("MEMORYSTORE_AUTH", auth)
    env["trust"] = [{"file": str(tmp_path / "ca.pem")}] if with_trust else []
    return env


def test_the_flush_step_empties_memorystore_by_name_over_tls_with_the_auth_string_from_credentials(memorystore,
                                                                                                    monkeypatch):
    server, tmp_path = memorystore
    trust.install([{"file": str(tmp_path / "ca.pem")}], None, "test")
    object_cache.commands(server, *[("SET", f"wp:post:{i}", "cached") for i in range(3)], password=AUTH)
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    target = KubernetesTarget(from_mapping(_environment(server.port, tmp_path, monkeypatch), "gke-staging"))
    said = site_caches.flushed(target)
    assert said == ("object cache: memorystore emptied (3 keys); CDN: none in this environment, nothing to ban"), said
    assert object_cache.commands(server, ("DBSIZE",), password=AUTH) == ["0"]  # emptied, as Redis itself says
    started = time.monotonic()
    assert "memorystore" in site_caches.flushed(target) and time.monotonic() - started < 5  # an empty one: fine


def test_a_wrong_auth_string_or_an_untrusted_ca_fails_the_step_naming_the_fix_and_no_secret(memorystore, monkeypatch):
    server, tmp_path = memorystore
    wrong = "not-the-auth-string-" + "x" * 8
    target = KubernetesTarget(from_mapping(_environment(server.port, tmp_path, monkeypatch, auth=wrong), "gke"))
    with pytest.raises(GamedayError) as err:
        target.flush_site_caches()
    assert "object cache memorystore (localhost:" in str(err.value) and "refused the password" in str(err.value)
    assert wrong not in str(err.value) + (err.value.hint or "") and AUTH not in str(err.value)
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    untrusted = KubernetesTarget(from_mapping(_environment(server.port, tmp_path, monkeypatch, with_trust=False), "gke"))
    with pytest.raises(GamedayError) as err:
        untrusted.flush_site_caches()
    assert "its TLS certificate did not verify" in str(err.value) and "trust:" in err.value.hint


def test_a_server_that_asks_for_a_password_not_given_flushes_nothing_and_says_why(memorystore):
    server, tmp_path = memorystore
    trust.install([{"file": str(tmp_path / "ca.pem")}], None, "test")
    with pytest.raises(GamedayError) as err:
        object_cache.flush(server)  # no credential named: NOAUTH
    assert "the sentinel key was not written" in str(err.value) and "NOAUTH" in str(err.value)
    assert "credential" in err.value.hint
