"""gameday reaches the site's database over TLS, verified, as a production environment says (gameday.db_client).

A MariaDB member and toxiproxy of their own (twin ``dbtls``, 127.44.x.y): the member presents the
certificate the twin's CA issued for ``db.dbtls.gameday.test`` and its addresses
(:func:`gameday.sandbox.tls.ensure_db_server`). Reached through the targets' own ``db_connect``: the
sandbox target, and a Kubernetes target described as a GKE environment describes Cloud SQL (an address,
``trust:`` with the CA, ``kubernetes.db.tls``, the password from the environment): each session is
encrypted (the server's own ``Ssl_cipher``); a certificate from a CA not trusted, or an address the
certificate does not name (a proxy of its own on ``127.44.30.201``) under ``verify-identity``, is refused
with the fix and never falls back to plain text; ``verify-ca`` takes the unnamed address; ``disabled``
is plain text. The chaos probe ``table_rows``
and the drills' counters go the same way.

Small topology on its own network: ``nice -n 5 .venv/bin/pytest -q tests/integration/test_db_tls.py``
(no twin lock needed); about 20 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from gameday.chaos.db import probes
from gameday.db_client import DbTlsError
from gameday.sandbox import db_roles, lifecycle, tls
from gameday.sandbox.members import db, toxiproxy
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import DB_ENDPOINT_INDEX, DB_NAME, DB_USER, PORTS, Twin
from gameday.targets import for_environment
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget

NAME, NET = "dbtls", 44
UNNAMED = f"127.{NET}.30.201"  # a proxy to db-1 at an address its certificate does not name
PASSWORD_ENV = "GAMEDAY_TEST_DBTLS_PASSWORD"
REHEARSAL = Path(__file__).resolve().parents[2] / "environments" / "rehearsal.yaml"


@pytest.fixture(scope="module")
def twin():
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=0.5, backoff_cap=2.0,
                        workloads=[db.workload(twin), toxiproxy.workload(twin)])

    def prepare():
        twin.paths.ensure()
        twin.db_password()
        twin.db_replication_password()
        db_roles.ensure(twin)
        db.prepare(twin, replica=False)
        toxiproxy.prepare(twin)

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=180)
    r = requests.post(f"{twin.toxiproxy_api}/proxies", timeout=10, json={
        "name": "db-unnamed", "listen": f"{UNNAMED}:{PORTS['db']}", "enabled": True,
        "upstream": f"{db.address(twin)}:{PORTS['db']}"})
    assert r.status_code == 201, r.text
    try:
        yield twin
    finally:
        lifecycle.down(twin.paths, wipe=True)


SANDBOX_ENV = {"name": NAME, "kind": "sandbox", "allowed": True, "production": False, "sandbox": NAME, "net": NET,
               "site_url": "http://127.44.1.1:8000"}


@pytest.fixture(autouse=True)
def _trust_undone(monkeypatch):
    """The process-wide CA bundle a Kubernetes target installs (trust.install) is undone after each
    test: later tests of the worker verify with the system's roots as before."""
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def sandbox_target(twin: Twin):
    return for_environment(from_mapping(SANDBOX_ENV, "test_db_tls"))


def kube_target(twin: Twin, monkeypatch, host: str, *, mode: str | None, trusted: bool = True) -> KubernetesTarget:
    """A Kubernetes target whose database is the twin's db-1 at ``host``, as a GKE environment names
    Cloud SQL: ``kubernetes.db`` (host, port, database, tls), ``trust:`` (the twin's CA as a file) and
    ``credentials.db`` from an environment variable."""
    monkeypatch.setenv(PASSWORD_ENV, twin.db_password())
    block = {"host": host, "port": PORTS["db"], "database": DB_NAME, "content": "articles-table"}
    if mode is not None:
        block["tls"] = mode
    env = yaml.safe_load(REHEARSAL.read_text())["configuration"]["gameday_environment"]  # a GKE-shaped file
    env.update(name=f"{NAME}-kube", production=False, trust=[{"file": str(tls.ca_bundle_path(twin))}] if trusted else [])
    env["kubernetes"]["layers"]["db"] = "outside"
    env["kubernetes"]["db"] = block
    env["credentials"]["db"] = {"env": PASSWORD_ENV, "username": DB_USER}
    return KubernetesTarget(from_mapping(env, "test_db_tls"))


def session_tls(conn) -> tuple[str, str]:
    """(cipher, protocol) of this session as the server reports it ('' when it is plain text)."""
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_cipher', 'Ssl_version')")
        got = dict(cur.fetchall())
    return got["Ssl_cipher"], got["Ssl_version"]


def test_the_member_presents_the_twins_certificate_for_its_name_and_addresses(twin):
    dns, ips = tls.db_server_names(twin)
    assert dns[0] == "db.dbtls.gameday.test"
    assert {twin.address("db", DB_ENDPOINT_INDEX), db.address(twin), twin.address("toxiproxy")} <= set(ips)
    assert UNNAMED not in ips
    key = db.tls_dir(twin) / "server.key"
    assert key.stat().st_mode & 0o077 == 0 and key.owner() == "mysql"  # the server's, no one else's
    with db.root_connect(db.socket_path(twin), connect_timeout=5, read_timeout=5, write_timeout=5) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT @@have_ssl")
        assert cur.fetchone()[0] == "YES"


def test_the_sandbox_target_reaches_its_database_encrypted_and_verified(twin):
    target = sandbox_target(twin)
    assert target.db_tls().mode == "verify-identity"
    with target.db_connect(timeout=5) as conn:
        cipher, version = session_tls(conn)
    assert cipher and version.startswith("TLSv1.")
    seen = target.db_session_tls()  # what the game day's preflight shows
    assert seen == {"address": f"{twin.address('db', DB_ENDPOINT_INDEX)}:3306", "mode": "verify-identity",
                    "version": version, "cipher": cipher}
    found = probes.table_rows("gameday_none", {"gameday_environment": SANDBOX_ENV})  # a chaos probe: the same way
    assert found == {"table": "gameday_none", "exists": False, "rows": None, "min_id": None, "max_id": None}


def test_a_kubernetes_target_verifies_the_database_by_its_ca_and_its_name(twin, monkeypatch):
    target = kube_target(twin, monkeypatch, twin.address("db", DB_ENDPOINT_INDEX), mode=None)
    assert target.db_tls().mode == "verify-identity"  # the default
    with target.db_connect(timeout=5) as conn:
        assert session_tls(conn)[0]
    assert target.db_counters(("Questions",))["Questions"] > 0  # the drills' readers go the same way

    unnamed = kube_target(twin, monkeypatch, UNNAMED, mode=None)
    with pytest.raises(DbTlsError) as refused:
        unnamed.db_connect(timeout=5)
    assert "did not verify" in str(refused.value) and "mismatch" in str(refused.value)
    assert "verify-ca" in refused.value.hint and "kubernetes.db.tls" in refused.value.hint
    # verify-ca (Cloud SQL's certificates name the instance, not its address): the CA, not the name
    with kube_target(twin, monkeypatch, UNNAMED, mode="verify-ca").db_connect(timeout=5) as conn:
        assert session_tls(conn)[0]


def test_a_certificate_from_a_ca_not_trusted_is_refused_never_sent_in_plain_text(twin, monkeypatch):
    untrusted = kube_target(twin, monkeypatch, db.address(twin), mode="verify-ca", trusted=False)
    with pytest.raises(DbTlsError) as refused:
        untrusted.db_session_tls()  # the game day's preflight stops here, before any fault
    assert "did not verify" in str(refused.value) and "nothing was sent" in str(refused.value)
    assert "trust:" in refused.value.hint and "serverCaCert" in refused.value.hint


def test_disabled_is_plain_text_for_a_connection_encrypted_on_its_way(twin, monkeypatch):
    target = kube_target(twin, monkeypatch, db.address(twin), mode="disabled")
    with target.db_connect(timeout=5) as conn:
        assert session_tls(conn) == ("", "")
