"""The twin's TLS front, reached as a production environment reaches its platform: by host name
(resolved through /etc/hosts), over HTTPS verified against the twin's CA, search behind basic auth."""

from __future__ import annotations

import socket

import psutil
import pytest
import requests

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


def test_search_wants_the_elastic_user_and_its_password(twin, http):
    url = f"https://{names.search_host(twin)}:9200/_cluster/health"
    password = twin.search_password()
    refused = http.get(url, timeout=5)
    assert refused.status_code == 401 and 'realm="search"' in refused.headers.get("WWW-Authenticate", "")
    assert http.get(url, auth=("elastic", password + "x"), timeout=5).status_code == 401

    def answered():  # HAProxy's checks may still be marking the nodes up right after a start
        r = http.get(url, auth=("elastic", password), timeout=5)
        return r if r.status_code == 200 else None
    health = wait_until(answered, timeout=20, interval=0.5, what="search behind the TLS front")
    assert health.json()["number_of_nodes"] == 3
    # the password is in no process's arguments (the front's config holds only a hash of it)
    for proc in psutil.process_iter(["cmdline"]):
        assert password not in " ".join(proc.info["cmdline"] or [])
