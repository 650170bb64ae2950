"""The twin's TLS front, reached as a production environment reaches its platform: by host name
(resolved through /etc/hosts), over HTTPS verified against the twin's CA; and search secured by the
nodes themselves (the OpenSearch security plugin: HTTPS and basic auth), HAProxy passing TCP through
as a Kubernetes Service in front of ECK does."""

from __future__ import annotations

import socket
import ssl

import psutil
import pytest
import requests
from cryptography import x509

from gameday.deadline import wait_until
from gameday.sandbox import names, tls


@pytest.fixture
def http(twin):
    session = requests.Session()
    session.trust_env = False  # straight to the twin, whatever proxy the environment names
    session.verify = str(tls.ca_bundle_path(twin))
    yield session
    session.close()


def test_the_site_answers_over_https_at_its_name_through_etc_hosts(twin, http):
    site = names.site_host(twin)
    assert site == f"site.{twin.name}.gameday.test"
    assert {info[4][0] for info in socket.getaddrinfo(site, 443, proto=socket.IPPROTO_TCP)} == {twin.address("lb")}
    assert socket.gethostbyname(names.search_host(twin)) == twin.address("lb")
    for host, address in names.hostnames(twin).items():
        assert socket.gethostbyname(host) == address
    page = http.get(f"https://{site}/", timeout=5)
    assert page.status_code == 200 and "<html" in page.text.lower()
    with pytest.raises(requests.exceptions.SSLError):  # the twin CA's front, not a public one
        requests.get(f"https://{site}/", timeout=5)
    assert requests.get(f"{twin.lb_url}/", timeout=5).status_code == 200  # the plain front stays


def _peer_subject(host: str, port: int, cafile: str) -> str:
    """The subject of the certificate served at ``host:port``, verified for ``host`` against ``cafile``."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw, server_hostname=host) as conn:
        return x509.load_der_x509_certificate(conn.getpeercert(binary_form=True)).subject.rfc4514_string()


def test_search_nodes_want_the_elastic_user_and_its_password_over_https(twin, http):
    password = twin.search_password()
    by_name = f"https://{names.search_host(twin)}:9200"
    node, via_toxiproxy = twin.search_urls()[0], twin.search_urls_via_proxy()[0]
    # HAProxy passes TCP through: the certificate at the search name is the nodes' own
    assert _peer_subject(names.search_host(twin), 9200, twin.search_ca()) == "CN=search-node,OU=twin,O=gameday"

    def answered():  # HAProxy's checks may still be marking the nodes up right after a start
        r = http.get(f"{by_name}/_cluster/health", auth=("elastic", password), timeout=5)
        return r if r.status_code == 200 else None
    wait_until(answered, timeout=20, interval=0.5, what="search behind its name")
    for base in (by_name, node, via_toxiproxy):
        refused = http.get(f"{base}/_cluster/health", timeout=5)  # the node itself challenges
        assert refused.status_code == 401, (base, refused.status_code)
        assert refused.headers.get("WWW-Authenticate") == 'Basic realm="OpenSearch Security"'
        assert http.get(f"{base}/_cluster/health", auth=("elastic", password + "x"), timeout=5).status_code == 401
        health = http.get(f"{base}/_cluster/health", auth=("elastic", password), timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "green", (base, health.text[:200])
        assert health.json()["number_of_nodes"] == 3
    with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP on the search port
        requests.get(f"{node.replace('https://', 'http://')}/_cluster/health", auth=("elastic", password), timeout=5)
    with pytest.raises(requests.exceptions.SSLError):  # the twin CA's certificate, not a public one
        requests.get(f"{by_name}/", timeout=5)
    # the password is in no process's arguments (the nodes hold only a bcrypt hash of it)
    for proc in psutil.process_iter(["cmdline"]):
        assert password not in " ".join(proc.info["cmdline"] or [])
