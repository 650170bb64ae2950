"""Issue 16: two regions of the twin (``gameday sandbox up --regions 2``): a planned switchover and an
unplanned failover with its failback, each as the catalog experiment ``chaos run`` runs it.
r1 is made smaller than a full twin (:data:`PRIMARY`: 2 web, 2 indexers, 2 search nodes), and so is
the size each drill scales the promoted region to (the set keeps r1's first size).

Twin ``rgtest`` (region r1, 127.50.x.y), its warm standby ``rgtest-r2`` (r2, 127.51.x.y: one web, one
indexer, one search node, a database replica of r1's, Kafka fed by MirrorMaker 2) and the global front
``rgtest-global`` (127.52.x.y), environments ``regions-test`` / ``regions-test-r2``. The switchover
moves the site to r2 and must lose nothing (RPO 0: every acknowledged canary record read back from
r2); the failover loses r2 whole and promotes r1, and its RPO is whatever the canaries could not read
back from r1, by name; the failback brings r2 back fenced, rebuilds it as the standby and switches
back to it. Figures (RTO by phase, writes refused) are printed; the budgets are benchmarks' business.

The set runs the web tier ``GAMEDAY_SANDBOX_WEB`` names (as ``gameday sandbox up --web`` reads it;
the Python site when unset): with ``wordpress`` the standby runs no WordPress install and no outbox
relay, its index is filled from the replicated WordPress content, the relay follows the region that
is active, a publish with the publisher's credentials is accepted in the promoted region, and
WordPress answers readers at the global front as the front (no redirect to a region's own address).

Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_regions.py``
(``GAMEDAY_SANDBOX_WEB=wordpress flock ...`` for the WordPress tier).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pymysql
import pytest
import requests
from click.testing import CliRunner

from gameday.chaos import ledger
from gameday.chaos.lock import TargetLock
from gameday.cli import cli
from gameday.deadline import wait_until
from gameday.errors import GamedayError
from gameday.report import regions
from gameday.sandbox import regions as region_set
from gameday.sandbox import search_resize, topology
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import event_relay, wordpress
from gameday.sandbox.regions import Regions
from gameday.sandbox.shape import WEB_TIERS, Shape
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin
from gameday.targets import regions as region_pairs
from gameday.targets.environment import load as load_env
from tests.conftest import pause_session_twin
from tests.integration.test_chaos import chaos_run, outputs
from tests.support.chaos_journal import assert_steady_before

ROOT = Path(__file__).resolve().parents[2]
NAME, NET = "rgtest", 50
ENV = "regions-test"
ENV_FILE = ROOT / "environments" / "regions-test.yaml"
# r1 as made, and the size a promoted region is scaled to: smaller than a full twin (3 web, 2 indexers,
# 3 search nodes) and still bigger than the standby in every scaled workload: each scale-up starts a
# web replica, an indexer and one search node that joins the cluster (not two: one JVM less to start
# on two cores, three times per module) and a scale-down moves shards off one node, not two
PRIMARY = Shape(web_replicas=2, indexer_replicas=2, search_nodes=2)


def _web_tier() -> str:
    """The web tier ``GAMEDAY_SANDBOX_WEB`` names (``sandbox up --web``'s variable), the default when unset."""
    web = os.environ.get("GAMEDAY_SANDBOX_WEB") or WEB_TIERS[0]
    if web not in WEB_TIERS:
        raise pytest.UsageError(f"GAMEDAY_SANDBOX_WEB={web!r}: expected one of {', '.join(WEB_TIERS)}")
    return web


WORDPRESS = _web_tier() == "wordpress"


@pytest.fixture(scope="module")
def two_regions():
    pause_session_twin()  # three twins of their own; a fourth idle on two cores slows every drill
    rs = Regions.of(Twin.create(NAME, NET))
    region_set.down(rs, wipe=True)  # what a killed earlier run left
    rs.write_shapes(dataclasses.replace(PRIMARY, web=_web_tier()))
    try:
        result = region_set.up(rs, timeout=600)
        print(f"\nregions up: {json.dumps(result['seconds'])}; link {json.dumps(result['link'], default=str)[:300]}")
        yield rs.reload()
    finally:
        region_set.down(rs, wipe=True)


def _pair():
    return region_pairs.for_environment(load_env(ENV))


def _workloads(twin: Twin) -> dict[str, int]:
    return {w["name"]: w["replicas"] for w in SandboxClient(twin.paths).status()["workloads"]}


def _relays(rs: Regions) -> dict[str, int]:
    """``{region: relay replicas}`` (WordPress's outbox relay runs in the active region only)."""
    return {region: _workloads(t).get(event_relay.WORKLOAD) for region, t in rs.reload().regions.items()}


def _relay_leads(twin: Twin) -> None:
    """Wait until one of ``twin``'s relays answers and holds the outbox lock (it relays; the other stands by)."""
    def leads() -> bool:
        for index in range(1, topology.RELAY_REPLICAS + 1):
            try:
                if event_relay.status(twin, index).get("leader"):
                    return True
            except GamedayError:
                continue
        return False
    wait_until(leads, timeout=90, what=f"one of {twin.name}'s relays to relay the outbox")


def _publish_at_the_front(rs: Regions, target) -> requests.Response:
    """A publish through the global front with the serving region's publisher credentials (none on the
    Python site), as the canary and the editors send it."""
    article = {"kind": "guidance", "title": f"region publish {time.time_ns()}", "category": "Region drills",
               "summary": "published through the global front", "body": "after a region move"}
    return requests.post(f"{rs.front.lb_url}/api/articles", json=article, auth=target.publisher_auth(), timeout=15,
                         allow_redirects=False)


def _site_db(twin: Twin):
    host, port = twin.db_addr().split(":")
    return pymysql.connect(host=host, port=int(port), user=DB_USER, password=twin.db_password(), database=DB_NAME,
                           connect_timeout=5, read_timeout=10, write_timeout=10, autocommit=True)


def test_the_standby_replicates_and_the_front_serves_the_active_region(two_regions):
    rs = two_regions
    pair = _pair()
    assert pair.active() == "r1" and pair.standby() == "r2"
    r = requests.get(f"{rs.front.lb_url}/", timeout=5)
    assert r.status_code == 200 and r.headers["X-Gameday-Region"] == "r1"
    marker = f"region-probe-{time.time_ns()}"
    with _site_db(rs.primary) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS region_probe (v VARCHAR(64) PRIMARY KEY)")
        cur.execute("INSERT INTO region_probe VALUES (%s)", (marker,))

    def arrived() -> bool:
        with _site_db(rs.standby) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM region_probe WHERE v = %s", (marker,))
            return cur.fetchone()[0] == 1
    wait_until(arrived, timeout=30, what="the row written in r1 to reach r2's database")
    rep = pair.target("r2").region_replication()
    assert rep["standby"] == "r2" and rep["db"]["replicating"]
    wait_until(lambda: pair.target("r2").region_replication()["caught_up"], timeout=60,
               what="r2 to have everything r1 logged (database and Kafka)")
    with _site_db(rs.standby) as conn, conn.cursor() as cur:  # the standby refuses writes: one writable region
        with pytest.raises(pymysql.MySQLError):
            cur.execute("INSERT INTO region_probe VALUES ('written-in-the-standby')")
        cur.execute("SELECT COUNT(*) FROM articles")
        articles = cur.fetchone()[0]
    standby = pair.target("r2")  # its index was filled from the replicated articles (its bootstrap wrote nothing)
    url, auth, verify = standby.search_urls()[0], standby.search_auth(), standby.search_verify()
    wait_until(lambda: requests.get(f"{url}/content/_count", auth=auth, verify=verify, timeout=5).json()["count"]
               == articles, timeout=60, what=f"r2's index to hold its {articles} replicated articles")
    assert articles > 0
    for region, t in rs.regions.items():
        assert Shape.load(t.paths).web == _web_tier(), region
    # readers at the front stay at the front: a page answered there, not redirected to a region's address
    home = requests.get(f"{rs.front.lb_url}/", timeout=10, allow_redirects=False)
    assert home.status_code == 200 and home.headers["X-Gameday-Region"] == "r1"
    assert rs.primary.lb_url.removeprefix("http://") not in home.text
    if WORDPRESS:
        # no install job on the standby (its database is a read-only replica) and no relay running there
        members = {m["name"] for m in SandboxClient(rs.standby.paths).status()["members"]}
        assert "wp-bootstrap-1" not in members and "wp-bootstrap-1" in {
            m["name"] for m in SandboxClient(rs.primary.paths).status()["members"]}
        assert _relays(rs) == {"r1": topology.RELAY_REPLICAS, "r2": 0}
        _relay_leads(rs.primary)
        # the standby's WordPress passwords are r1's (their hashes arrive by replication); compared, never shown
        same = all(f(rs.primary).read_bytes() == f(rs.standby).read_bytes()
                   for f in (wordpress.admin_env_file, wordpress.publisher_env_file))
        assert same, "r2's WordPress admin/publisher credential files differ from r1's"
        # WordPress's own links and canonical redirects use the front's address (D5): a post's permalink,
        # asked at the front, is the front's, and answers there without a redirect
        posts = requests.get(f"{rs.front.lb_url}/wp-json/wp/v2/posts", params={"per_page": 1}, timeout=10,
                             allow_redirects=False)
        assert posts.status_code == 200, posts.text[:300]
        url = posts.json()[0]["link"]
        assert url.startswith(f"{rs.front.lb_url}/"), url
        page = requests.get(url, timeout=10, allow_redirects=False)
        assert page.status_code == 200 and page.headers["X-Gameday-Region"] == "r1", (page.status_code, page.headers)
        assert rs.primary.lb_url.removeprefix("http://") not in page.text


def test_a_planned_switchover_loses_nothing(two_regions, tmp_path):
    # the dry run's plan (`gameday playbook region --switchover`, in this process: no CLI start-up to pay)
    # says, before anything is touched, whether stop-writes restarts the database
    dry = CliRunner().invoke(cli, ["playbook", "region", "--switchover", "--env", ENV])
    assert dry.exit_code == 11, dry.output  # needs restore: planned, nothing done
    print(f"\ndry-run plan: {dry.output}")
    assert ("region/stop-writes: Stop writes in the active region (its database read-only) (deadline 30s): will "
            "make r1's database read-only (read_only=on); no restart (MariaDB: SET GLOBAL read_only is a dynamic "
            "variable)") in " ".join(dry.output.split())
    assert _pair().active() == "r1"
    proc, journal = chaos_run(ROOT / "experiments" / "region" / "switchover.yaml", tmp_path, var_file=ENV_FILE,
                              timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
    # the drill released both regions' locks as it ended (the second region's used to stay, and a
    # reused pid then kept it "held": the next drill's actions were refused)
    assert [TargetLock(name).holder() for name in (ENV, f"{ENV}-r2")] == [None, None]
    out = outputs(journal)
    rpo = out["what-was-lost"]
    print(f"\nswitchover RPO: {json.dumps(rpo['layers'], default=str)[:600]}")
    assert rpo["written_to"] == "r1" and rpo["read_from"] == "r2" and rpo["kafka_topic"] == "r1.gameday-canary"
    for layer in ("kafka", "db"):
        assert rpo["layers"][layer]["acknowledged"] > 0, layer
    assert rpo["rpo_records"] == 0 and rpo["lost"] == []
    timeline = out["region-timeline"]
    print(f"switchover timeline: {json.dumps(timeline, default=str)}")
    assert timeline["kind"] == "switchover" and (timeline["from"], timeline["to"]) == ("r1", "r2")
    phases = [p["phase"] for p in timeline["phases"]]
    assert phases[:6] == ["scale-up-standby", "stop-writes", "wait-caught-up", "promote-standby", "switch-front",
                          "resume-writes"] and phases[-2:] == ["rebuild-old-as-standby", "scale-down-old"]
    assert timeline["rto_s"] > 0 and timeline["writes_unavailable_s"] > 0
    assert out["readers-after-the-switchover"]["served_by"] == "r2"
    pair = _pair()
    assert pair.active() == "r2"
    rep = pair.target("r1").region_replication()  # the old region is the standby now, and caught up
    assert rep["standby"] == "r1" and rep["db"]["replicating"] and rep["caught_up"], rep
    # ... and a warm standby's size again: one web replica, one indexer, one search node, green (its
    # shards moved off the two nodes that left, one at a time; no replica a single node cannot hold)
    workloads = {w["name"]: w["replicas"] for w in SandboxClient(two_regions.primary.paths).status()["workloads"]}
    assert (workloads["web"], workloads["indexer"], workloads["search"]) == (1, 1, 1), workloads
    health = search_resize.admin(two_regions.primary).health()
    assert (health["status"], health["number_of_nodes"]) == ("green", 1), health
    # a publish at the front is accepted in r2 with the credentials r2 shares with r1 (WordPress: its
    # relay, started at the promotion, sends the event: 201 acknowledged); r1, the standby now, relays nothing
    published = _publish_at_the_front(two_regions, pair.target("r2"))
    print(f"publish at the front after the switchover: {published.status_code} {published.text[:200]}")
    assert published.status_code in (201, 202) and published.headers["X-Gameday-Region"] == "r2", published.text[:300]
    if WORDPRESS:
        assert published.status_code == 201, published.text[:300]
        assert _relays(two_regions) == {"r1": 0, "r2": topology.RELAY_REPLICAS}
        _relay_leads(two_regions.standby)


def test_a_lost_region_fails_over_then_back_and_names_what_was_lost(two_regions, tmp_path):
    pair = _pair()
    assert pair.active() == "r2"  # after the switchover above
    proc, journal = chaos_run(ROOT / "experiments" / "region" / "lose-region.yaml", tmp_path, var_file=ENV_FILE,
                              timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
    out = outputs(journal)
    fault = out["lose-the-active-region"]
    assert fault["region"] == "r2" and fault["standby"] == "r1" and fault["members"]
    rpo = out["what-was-lost"]
    print(f"\nfailover RPO: {rpo['rpo_records']} records lost: {rpo['lost'][:20]}")
    assert rpo["written_to"] == "r2" and rpo["read_from"] == "r1" and rpo["kafka_topic"] == "r2.gameday-canary"
    assert rpo["rpo_records"] is not None and rpo["rpo_records"] == len(rpo["lost"])  # measured, and named
    for layer in ("kafka", "db"):
        assert rpo["layers"][layer]["acknowledged"] > 0, layer
    # the Kafka records r2 acknowledged and MirrorMaker never copied to r1, named with r2's offsets
    kafka_lost = [name for name in rpo["lost"] if "/kafka/" in name]
    missing = rpo["unmirrored"]
    print(f"unmirrored: {json.dumps(missing)[:400]}")
    if kafka_lost:
        assert (missing["region"], missing["mirrored_to"]) == ("r2", "r1/r2.gameday-canary")
        assert [r["name"] for r in missing["records"]] == kafka_lost and missing["count"] == len(kafka_lost)
        assert all(r["offset"] is not None and r["offset"] > p["copied_through_offset"]
                   for p in missing["partitions"] if p["copied_through_offset"] is not None
                   for r in missing["records"] if r["partition"] == p["partition"])
    else:
        assert missing is None
    timeline = out["region-timeline"]
    print(f"failover timeline: {json.dumps(timeline, default=str)}")
    phases = [p["phase"] for p in timeline["phases"]]
    assert phases[:2] == ["detect", "decide"] and "promote-standby" in phases and "switch-front" in phases
    assert timeline["decision_s"] >= 2 and timeline["rto_without_decision_s"] < timeline["rto_s"]
    assert out["readers-after-the-failover"]["served_by"] == "r1"
    back = out["fail-back"]
    assert back["active"] == "r2" and back["restored"][0]["existed"] is True
    # the failback's own RPO, by canaries written in r1 until its writes stopped and read back from r2
    back_rpo = back["restored"][0]["rpo"]
    print(f"failback RPO: {json.dumps(back_rpo['layers'], default=str)[:600]}")
    assert (back_rpo["written_to"], back_rpo["read_from"], back_rpo["kafka_topic"]) == ("r1", "r2", "r1.gameday-canary")
    for layer in ("kafka", "db"):
        assert back_rpo["layers"][layer]["acknowledged"] > 0, layer
    assert back_rpo["rpo_records"] == 0 and back_rpo["lost"] == [] and back_rpo["unmirrored"] is None
    # the failback as the report shows it: its own drill, each phase timed from its start (gameday.report.regions)
    drills = regions.scenario_drills({"target": {"name": ENV}}, {
        "name": "region-lost", "experiment": "experiments/region/lose-region.yaml", "layer": "region"}, journal)
    [failover] = [d for d in drills if d["kind"] == "failover"]
    assert failover["rpo"]["records"] == rpo["rpo_records"] and failover["rpo"]["unmirrored"] == missing
    if kafka_lost:
        assert "MirrorMaker never copied to r1/r2.gameday-canary" in failover["rpo"]["sentence"]
    [failback] = [d for d in drills if d["kind"] == "failback"]
    print(f"failback phases: {json.dumps([(p['phase'], p['start_s'], p['end_s']) for p in failback['phases']])}")
    figure = {f["name"]: f for f in failback["figures"]}["RPO (acknowledged writes lost)"]
    assert (figure["value"], figure["target"], figure["met"]) == (0, 0, True) and failback["rpo"]["records"] == 0
    assert figure["explain"].startswith("Nothing lost: every one of the ")
    assert (failback["from"], failback["to"]) == ("r1", "r2") and failback["rto_s"] is not None
    assert {"rebuild-standby", "stop-writes", "wait-caught-up", "promote-standby", "switch-front",
            "resume-writes"} <= {p["phase"] for p in failback["phases"]}
    assert failback["started_after_fault_s"] > 0
    assert ledger.pending(ENV) == [] and ledger.pending("regions-test-r2") == []
    wait_until(lambda: _pair().target("r1").region_replication()["caught_up"], timeout=120,
               what="r1 to be r2's caught-up standby again after the failback")
    if WORDPRESS:  # the relays followed each move: r1 ran them while it served, r2 runs them again (its relays,
        # held since r2 was lost, released at its promotion), r1 none
        assert _relays(two_regions) == {"r1": 0, "r2": topology.RELAY_REPLICAS}
        _relay_leads(two_regions.standby)
        published = _publish_at_the_front(two_regions, _pair().target("r2"))
        assert published.status_code == 201 and published.headers["X-Gameday-Region"] == "r2", published.text[:300]
