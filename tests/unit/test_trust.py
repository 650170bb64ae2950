"""The environment's ``trust:`` CAs: one bundle for this process and its children, verified, never off."""

from __future__ import annotations

import os
import subprocess
import sys

import certifi
import pytest

from gameday.errors import UsageError
from gameday.targets import trust
from gameday.targets.environment import from_mapping

PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_a_ca_file_and_a_secret_join_certifis_roots_for_this_process_and_its_children(clean_env):
    ca = clean_env / "ca.pem"
    ca.write_text(PEM)
    secrets = {("search", "es-http-certs-public"): {"ca.crt": PEM.replace("fake", "other")}}
    path = trust.install([{"file": str(ca)}, {"secret": "search/es-http-certs-public", "key": "ca.crt"}],
                         lambda ns, name: secrets[(ns, name)], "env.yaml")
    text = path.read_text()
    assert text.startswith(open(certifi.where()).read()[:200]) and "MIIBfake" in text and "MIIBother" in text
    assert all(os.environ[var] == str(path) for var in trust.ENV_VARS)
    assert trust.verify() == str(path)  # what a session with trust_env = False verifies with
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['REQUESTS_CA_BUNDLE'])"],
                           capture_output=True, text=True, timeout=30)
    assert child.stdout.strip() == str(path)
    assert trust.install([{"file": str(ca)}, {"secret": "search/es-http-certs-public", "key": "ca.crt"}],
                         lambda ns, name: secrets[(ns, name)], "env.yaml") == path  # content-addressed: same file


def test_no_ca_named_leaves_the_system_roots(clean_env):
    assert trust.install([], None, "env.yaml") is None
    assert not any(var in os.environ for var in trust.ENV_VARS)
    assert trust.verify() is True  # the system's roots: never False


def test_bad_references_are_clear_errors(clean_env):
    (clean_env / "notes.txt").write_text("not a certificate")
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        trust.install([{"file": str(clean_env / "notes.txt")}], None, "env.yaml")
    with pytest.raises(UsageError, match="is not readable"):
        trust.install([{"file": str(clean_env / "missing.pem")}], None, "env.yaml")
    with pytest.raises(UsageError, match="names no cluster"):
        trust.install([{"secret": "a/b", "key": "ca.crt"}], None, "env.yaml")
    with pytest.raises(UsageError, match="has no key 'ca.crt'"):
        trust.install([{"secret": "a/b", "key": "ca.crt"}], lambda ns, name: {"tls.crt": PEM}, "env.yaml")


def test_the_trust_block_takes_one_source_per_entry():
    base = {"name": "x", "kind": "sandbox", "allowed": True}
    assert from_mapping({**base, "trust": [{"file": "/ca.pem"}]}, "t").trust == [{"file": "/ca.pem"}]
    for bad in ({"file": "/ca.pem", "secret": "a/b", "key": "k"}, {"secret": "a/b"}, {"file": "/a", "key": "k"}, {}):
        with pytest.raises(UsageError, match="trust"):
            from_mapping({**base, "trust": [bad]}, "t")
