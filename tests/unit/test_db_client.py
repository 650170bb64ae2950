"""How gameday's connections to the site's database use TLS (gameday.db_client), and where the setting
comes from (``kubernetes.db.tls``). The connections themselves, against a real MariaDB with the twin's
certificate: tests/integration/test_db_tls.py."""

from __future__ import annotations

import ssl
from pathlib import Path

import pymysql
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gameday.db_client import DbTls, _tls_problem
from gameday.errors import GamedayError, UsageError
from gameday.kube.pki import _builder, _name
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget

ROOT = Path(__file__).resolve().parents[2]


def test_each_mode_is_a_context_that_verifies_or_no_tls_at_all():
    identity, ca = DbTls().context(), DbTls(mode="verify-ca").context()
    assert identity.verify_mode == ssl.CERT_REQUIRED and identity.check_hostname
    assert ca.verify_mode == ssl.CERT_REQUIRED and not ca.check_hostname
    assert DbTls(mode="disabled").context() is None
    assert DbTls(mode="verify-ca").context() is ca  # one per setting per process (a context costs ~30 ms)
    with pytest.raises(GamedayError, match="not one of verify-identity, verify-ca, disabled"):
        DbTls(mode="required")  # encryption without verification is not offered


def test_tls_failures_are_named_and_other_failures_are_left_to_the_caller():
    assert _tls_problem(pymysql.err.OperationalError(2026, "SSL connection error: SSL is required but the server "
                                                           "doesn't support it")).startswith("offers no TLS")
    mismatch = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '10.0.0.5' "
                                                  "(SSLCertVerificationError(1, \"[SSL: CERTIFICATE_VERIFY_FAILED] "
                                                  "certificate verify failed: IP address mismatch, certificate is not "
                                                  "valid for '10.0.0.5'. (_ssl.c:1006)\"))")
    assert _tls_problem(mismatch) == ("presented a certificate that did not verify (IP address mismatch, certificate "
                                      "is not valid for '10.0.0.5'.)")
    refused = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '10.0.0.5' ([Errno 111] refused)")
    assert _tls_problem(refused) is None
    assert _tls_problem(pymysql.err.OperationalError(1045, "Access denied for user 'sps'")) is None


def _rehearsal() -> dict:
    return yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())["configuration"]["gameday_environment"]


def test_a_kubernetes_environment_says_the_mode_and_trust_says_the_ca(tmp_path, monkeypatch):
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    ca = tmp_path / "ca.pem"
    ca.write_text(_a_ca_pem())
    data = _rehearsal()
    data["trust"] = [{"file": str(ca)}]
    default = KubernetesTarget(from_mapping(data, "test")).db_tls()
    assert default.mode == "verify-identity" and default.ca_file and Path(default.ca_file).read_text().endswith(
        ca.read_text().strip() + "\n")  # certifi's roots plus the environment's CA: one bundle
    assert "kubernetes.db.tls" in default.where
    data["kubernetes"]["db"]["tls"] = "verify-ca"
    assert KubernetesTarget(from_mapping(data, "test")).db_tls().mode == "verify-ca"
    data["kubernetes"]["db"]["tls"] = "off"
    with pytest.raises(UsageError) as bad:
        from_mapping(data, "test")
    assert "kubernetes.db.tls" in str(bad.value) and "verify-identity" in str(bad.value)


def test_the_cloud_sql_examples_verify_the_ca_and_say_where_it_comes_from():
    for name in ("gke-staging.example", "gke-production.example", "gke-production-dr.example"):
        text = (ROOT / "environments" / f"{name}.yaml").read_text()
        data = yaml.safe_load(text)["configuration"]["gameday_environment"]
        assert data["kubernetes"]["db"]["tls"] == "verify-ca", name
        assert "serverCaCert" in text or "server CA" in text, name


def _a_ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("test CA")
    cert = (_builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()
