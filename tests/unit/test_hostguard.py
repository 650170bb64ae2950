"""The one host guard: loopback and the environment's declared site only, parsed as the senders
parse (requests/urllib3 and Locust's urllib.parse), never an ambiguous URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from urllib3.util import parse_url

from gameday import hostguard
from gameday.errors import UsageError
from gameday.hostguard import check_url, site_hosts
from gameday.load import runner
from gameday.targets.environment import from_mapping

SITE = "staging.sps.example.nhs.uk"


@pytest.mark.parametrize("url, sent_to", [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://127.50.10.1:8080/", "http://127.50.10.1:8080"),
    ("HTTP://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("hTTps://LOCALHOST:9/", "https://localhost:9"),
    ("http://[::1]", "http://[::1]"),
    ("https://[::1]:8443/base/", "https://[::1]:8443/base"),
    ("http://127.255.255.254:80", "http://127.255.255.254:80"),
    (f"https://{SITE}", f"https://{SITE}"),
    (f"https://{SITE.upper()}:443/", f"https://{SITE}:443"),
])
def test_loopback_and_the_declared_site_are_allowed(url, sent_to):
    assert check_url(url, allow=(SITE,)) == sent_to
    assert parse_url(sent_to).host == parse_url(url).host  # the guard's answer is where requests sends


@pytest.mark.parametrize("url, why", [
    ("http://x.invalid\\@127.0.0.1:9", "credentials"),  # requests sends to x.invalid
    ("http://x.invalid\\.127.0.0.1:9", "backslash"),
    ("http://127.0.0.1@example.org", "credentials"),  # a prefix check would let this through
    ("http://127.0.0.1:80@evil", "credentials"),
    ("http://user:p%40ss@127.0.0.1:8080", "credentials"),  # a password in argv, ps and reports
    ("http://@127.0.0.1", "credentials"),
    ("http://127.0.0.1:8080#@evil", "credentials"),
    ("http://127.0.0.1:8080/?next=x", "query or fragment"),
    ("http://127.0.0.1:8080#top", "query or fragment"),
    ("http://evil.example/127.0.0.1", "not allowed"),
    (f"http://{SITE}.evil.example", "not allowed"),
    ("http://localhost.", "not allowed"),
    ("http://2130706433", "not allowed"),  # the resolver reads it as 127.0.0.1; the guard never guesses
    ("http://127.1", "not allowed"),
    ("http://[::ffff:127.0.0.1]", "not allowed"),
    ("http://10.0.0.5:8080", "not allowed"),
    ("http://128.0.0.1", "not allowed"),
    ("ftp://127.0.0.1/", "only http"),
    ("file:///etc/passwd", "only http"),
    ("127.0.0.1:8080", "only http"),
    ("//127.0.0.1:8080", "only http"),
    ("http:/127.0.0.1", "no host"),
    ("http://127.0.0.1:99999", "not a valid URL"),
    ("http://127.0.0.1 :80", "whitespace"),
    ("http://127.0.0.1\n.evil", "whitespace"),
    ("https://exämple.org", "non-ASCII"),
])
def test_tricky_urls_are_refused(url, why):
    with pytest.raises(UsageError, match=why):
        check_url(url, allow=(SITE,))


def test_a_refusal_never_repeats_credentials():
    with pytest.raises(UsageError) as err:
        check_url("https://admin:Hunter2-pw@" + SITE)
    assert "Hunter2-pw" not in str(err.value) and "admin" not in str(err.value)


def test_a_site_host_is_allowed_only_when_declared_by_an_allow_listed_environment():
    k8s = {"name": "gke-x", "kind": "kubernetes", "allowed": True, "site_url": f"https://{SITE}/",
           "kubernetes": {"context": "c", "web": {"namespace": "w", "deployment": "wordpress", "selector": "app=wp"},
                          "kafka": {"namespace": "k", "cluster": "c", "brokers": "a=b", "controllers": "a=c",
                                    "bootstrap": "k:9092"},
                          "search": {"namespace": "s", "cluster": "c", "nodes": "a=d", "url": "https://s:9200"}}}
    assert site_hosts(from_mapping(k8s, "test")) == (SITE,)
    assert site_hosts(from_mapping({**k8s, "allowed": False}, "test")) == ()
    with pytest.raises(UsageError, match="not allowed"):
        check_url("https://www.example.org", site_hosts(from_mapping(k8s, "test")))


def test_site_slo_and_locust_use_the_same_guard():
    from gameday import site_slo
    with pytest.raises(UsageError, match="credentials"):
        site_slo.measure("http://127.0.0.1@example.org", window_s=0.1, rate=1)
    with pytest.raises(UsageError, match="not allowed"):
        site_slo.measure(f"https://{SITE}", window_s=0.1, rate=1)  # not declared here: refused before sending
    with pytest.raises(UsageError, match="must be a path"):
        site_slo.measure("http://127.0.0.1:9", paths=["@evil.example/"], window_s=0.1, rate=1)
    with pytest.raises(UsageError, match="credentials"):
        runner.check_host("http://x.invalid\\@127.0.0.1:9")
    assert hostguard.is_loopback("[::1]") and not hostguard.is_loopback("localhost.evil")


def test_the_load_summary_is_written_for_an_allowed_site_host(tmp_path: Path):
    """Issue 13: the summary re-checked the host without the environment's allowed hosts, after Locust
    had run, so load/summary.json was never written for a real site. Nothing is sent here."""
    run = runner.prepare(runner.RunOptions(profile="smoke", host=f"https://{SITE}/", out_dir=tmp_path / "load",
                                           allow_hosts=(SITE,)), check_target=False)
    assert run.command[run.command.index("--host") + 1] == f"https://{SITE}"
    summary = runner.summarise(run, started=1.0, ended=2.0, exit_code=0, status="ok", cpu={},
                               console_log=run.out_dir / "locust-console.log")
    runner._write_summary(run, summary)
    written = json.loads((run.out_dir / "summary.json").read_text())
    assert written["host"] == f"https://{SITE}" and written["locust"]["command"] == run.command


def test_canaries_send_only_where_the_guard_allows():
    from gameday.measure.canary import CanaryEndpoints, SearchCanary
    ep = dict(kafka_bootstrap="127.0.0.1:9", db_host="127.0.0.1", db_port=9, db_user="u", db_password="p",
              db_name="d", search_urls=("http://127.0.0.1:9200",))
    with pytest.raises(UsageError, match="credentials"):
        SearchCanary(CanaryEndpoints(site_url="http://127.0.0.1:8080@evil.example", **ep), "run", 1.0).setup()
    with pytest.raises(UsageError, match="not allowed"):
        SearchCanary(CanaryEndpoints(site_url=f"https://{SITE}", **ep), "run", 1.0).setup()
    writer = SearchCanary(CanaryEndpoints(site_url=f"https://{SITE}/", allow_hosts=(SITE,), **ep), "run", 1.0)
    writer.setup()
    assert writer.site == f"https://{SITE}" and writer.search == ["http://127.0.0.1:9200"]
