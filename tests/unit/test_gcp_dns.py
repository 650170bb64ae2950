"""The regions' front on Cloud DNS: Google's official client (google-cloud-dns) against a local server
speaking the Cloud DNS v1 REST protocol (tests/support/clouddns.py). Each test asserts the requests the
client sent and the outcome."""

from __future__ import annotations

import copy
import time

import pytest

from gameday.errors import DeadlineExceeded, UsageError
from gameday.gcp import dns
from gameday.targets.environment import load
from tests.support.clouddns import CloudDnsServer

RECORD = "www.sps.example.nhs.uk."
R1, R2 = ["203.0.113.10"], ["198.51.100.20"]
ZONE_PATH = "/dns/v1/projects/sps-production/managedZones/sps-example-nhs-uk"


def front(**changes) -> dict:
    """environments/gke-production.example.yaml's front, quick to poll."""
    data = copy.deepcopy(load("gke-production.example").regions["front"])
    return {**data, "poll_s": 0.05, "timeout_s": 10, **changes}


@pytest.fixture
def server(monkeypatch):
    srv = CloudDnsServer().start()
    monkeypatch.setenv(dns.ENDPOINT_ENV, srv.endpoint)
    yield srv
    srv.stop()


def test_current_reads_the_record_by_name_and_names_its_region(server):
    server.add_record(RECORD, "A", R1)
    server.add_record("other.sps.example.nhs.uk.", "A", R2)
    assert dns.current(front()) == {"record": RECORD, "type": "A", "ttl": 60, "rrdatas": R1, "region": "europe-west2"}
    [call] = server.requests
    assert (call["method"], call["path"], call["query"]["name"]) == ("GET", f"{ZONE_PATH}/rrsets", RECORD)
    assert call["auth"] is None  # anonymous credentials to the local endpoint: no token is sent or fetched
    server.rrsets[-2]["rrdatas"] = ["192.0.2.99"]
    assert dns.current(front())["region"] is None  # pointing at neither region


def test_switch_replaces_the_record_in_one_change_and_waits_until_done_then_back(server):
    server.add_record(RECORD, "A", R1, ttl=300)
    out = dns.switch(front(), "europe-west1")
    assert (out["from"], out["to"], out["change_id"]) == ("europe-west2", "europe-west1", "1")
    assert 0 <= out["seconds"] < 5
    [create] = server.calls("POST")
    assert create["path"] == f"{ZONE_PATH}/changes"
    assert create["body"] == {"deletions": [{"name": RECORD, "type": "A", "ttl": "300", "rrdatas": R1}],
                              "additions": [{"name": RECORD, "type": "A", "ttl": "60", "rrdatas": R2}]}
    polls = server.calls("GET", "/changes/1")
    assert len(polls) == server.polls_to_done and server.changes["1"]["status"] == "done"
    assert server.record(RECORD, "A")["rrdatas"] == R2 and server.record(RECORD, "A")["ttl"] == 60
    assert dns.current(front())["region"] == "europe-west1"

    back = dns.switch(front(), "europe-west2")
    assert (back["from"], back["to"], back["change_id"]) == ("europe-west1", "europe-west2", "2")
    assert server.record(RECORD, "A")["rrdatas"] == R1
    before = len(server.calls("POST"))
    again = dns.switch(front(), "europe-west2")  # already there: nothing is sent
    assert again["change_id"] is None and again["from"] == "europe-west2" and len(server.calls("POST")) == before


def test_the_client_reaches_the_server_through_client_options_too(server, monkeypatch):
    monkeypatch.delenv(dns.ENDPOINT_ENV)
    server.add_record(RECORD, "A", R2)
    client = dns.dns_client("sps-production", server.endpoint)
    assert client._connection.API_BASE_URL == server.endpoint
    assert dns.current(front(), client=client)["region"] == "europe-west1"


def test_a_missing_record_names_the_project_zone_record_and_how_to_create_it(server):
    with pytest.raises(UsageError) as err:
        dns.switch(front(), "europe-west1")
    text = str(err.value)
    assert "project sps-production, zone sps-example-nhs-uk, record www.sps.example.nhs.uk. (A)" in text
    assert "has no A record" in text
    assert "gcloud dns record-sets create www.sps.example.nhs.uk. --zone sps-example-nhs-uk" in text
    server.add_record(RECORD, "CNAME", ["lb.sps.example.nhs.uk."])
    with pytest.raises(UsageError, match=r"has no A record www.sps.example.nhs.uk. \(it has CNAME\)"):
        dns.current(front())
    assert not server.calls("POST")


def test_a_change_that_stays_pending_is_waited_for_no_longer_than_timeout_s(server):
    server.add_record(RECORD, "A", R1)
    server.script(never=True)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as err:
        dns.switch(front(timeout_s=1), "europe-west1")
    took = time.monotonic() - started
    assert 1 <= took < 10, took  # waited its timeout_s, then stopped (the margin is for a loaded machine)
    text = str(err.value)
    assert "Cloud DNS change 1" in text and "last status pending" in text
    assert "gcloud dns record-sets changes describe 1 --zone sps-example-nhs-uk --project sps-production" in text
    assert len(server.calls("GET", "/changes/1")) >= 5  # polled every poll_s until the deadline


def test_refusals_name_the_fix_and_nothing_is_sent_for_an_unknown_region(server):
    server.add_record(RECORD, "A", R1)
    with pytest.raises(UsageError, match=r"no target for region 'us-east1'.*europe-west2, europe-west1"):
        dns.switch(front(), "us-east1")
    assert not server.requests
    server.fail("POST", "/changes", 403, "Forbidden")
    with pytest.raises(dns.DnsError, match=r"denied permission to switch the record to region europe-west1.*roles/dns.admin"):
        dns.switch(front(), "europe-west1")
    with pytest.raises(UsageError, match=r"zone sps-example-typo.*no such zone.*gcloud dns managed-zones list"):
        dns.current(front(managed_zone="sps-example-typo"))
    assert server.record(RECORD, "A")["rrdatas"] == R1  # the refused change touched nothing


def test_a_record_changed_between_read_and_change_is_refused_by_its_deletion(server):
    server.add_record(RECORD, "A", R1)
    client = dns.dns_client("sps-production")
    rs = dns._record_set(front(), client)
    server.record(RECORD, "A")["rrdatas"] = ["192.0.2.1"]  # someone else moved it meanwhile
    change = rs.zone.changes()
    change.delete_record_set(rs)
    change.add_record_set(rs.zone.resource_record_set(RECORD, "A", 60, R2))
    with pytest.raises(dns.DnsError, match=r"the record changed meanwhile.*Precondition not met"):
        with dns.translated("switch the record", front()):
            change.create()
    assert server.record(RECORD, "A")["rrdatas"] == ["192.0.2.1"]


def test_a_plaintext_endpoint_must_be_loopback(monkeypatch):
    monkeypatch.setenv(dns.ENDPOINT_ENV, "http://dns.example.com:8080")
    with pytest.raises(UsageError, match="must be http://<loopback address>:PORT"):
        dns.dns_client("sps-production")
