"""Issue 15, drill 4: the whole search cluster lost, on the real twin (127.20.x.y).

Plain ``chaos run experiments/search/lose-cluster.yaml``: a scheduled snapshot, editors publish, then
every search node is stopped abruptly and kept stopped and every data directory deleted (the
snapshot repository survives). The method rebuilds through the search playbook (the undo it
recorded): empty nodes form a new cluster, the repository is registered again, the latest snapshot
is restored, Kafka replayed, and the index must match the database.

Checked here independently of the playbook's own checks: all three data directories were seen
gone at once, the cluster is green with a NEW cluster UUID, the index matches the database (count
and a SHA-256 of (id, version), both sides queried by this test), the RPO canaries lost no
acknowledged record. Prints the RTO for search readers and the time until the index matched the
database. Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_search_cluster_loss.py``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pymysql
import pytest
import requests

from gameday.chaos import ledger
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.recovery import Context
from gameday.sandbox.members import search as twin_search
from gameday.targets import for_environment
from gameday.targets.base import Node
from gameday.targets.environment import load as load_env
from tests.integration.test_chaos import ENV_FILE, chaos_run, outputs
from tests.support.undo import rerun
from tests.support import search
from tests.support.chaos_journal import assert_steady_before

ROOT = Path(__file__).resolve().parents[2]
ENV = "sandbox-test"
EXPERIMENT = ROOT / "experiments" / "search" / "lose-cluster.yaml"
NODES = ("search-1", "search-2", "search-3")


@pytest.fixture
def target(steady_twin):
    return for_environment(load_env(ENV))


class Watch(threading.Thread):
    """Every 0.2 s: are the three data directories gone (all at once)? Does the site's search
    answer (200)? Stops when told; every loop bounded by ``limit_s``."""

    def __init__(self, twin, limit_s: float = 400):
        super().__init__(daemon=True)
        self.dirs = [twin_search.data_dir(twin, i) for i in (1, 2, 3)]
        self.url = f"{twin.lb_url}/search?q=apixaban"
        self.limit_s = limit_s
        self.stopping = threading.Event()
        self.all_gone_at: float | None = None
        self.search: list[tuple[float, bool]] = []

    def run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        ends = time.monotonic() + self.limit_s
        while not self.stopping.is_set() and time.monotonic() < ends:
            if self.all_gone_at is None and not any(d.exists() for d in self.dirs):
                self.all_gone_at = time.time()
            try:
                ok = session.get(self.url, timeout=3).status_code == 200
            except requests.RequestException:
                ok = False
            self.search.append((time.time(), ok))
            self.stopping.wait(0.2)

    def readers_rto(self, fault_at: float) -> float | None:
        """Seconds from the fault to the first good search answer after the last bad one."""
        bad = [t for t, ok in self.search if t >= fault_at and not ok]
        if not bad:
            return 0.0
        good = [t for t, ok in self.search if t > bad[-1] and ok]
        return round(good[0] - fault_at, 1) if good else None


def db_pairs(twin) -> dict[int, int]:
    conn = pymysql.connect(host=twin.address("db"), port=3306, user="sps", password=twin.db_password(),
                           database="sps", connect_timeout=3, read_timeout=30)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id, version FROM articles")
        return {int(i): int(v) for i, v in cur.fetchall()}


def index_pairs(twin) -> dict[int, int]:
    """Every document's id and _version (the external version the indexer writes), in one request."""
    base, http = twin.search_urls()[0], search.session(twin)
    http.post(f"{base}/content/_refresh", timeout=30).raise_for_status()
    r = http.post(f"{base}/content/_search", timeout=30,
                      json={"size": 10000, "version": True, "_source": ["version"], "query": {"match_all": {}}})
    r.raise_for_status()
    hits = r.json()["hits"]["hits"]
    assert all(h["_version"] == h["_source"]["version"] for h in hits), "a document's _version is not its version"
    return {int(h["_id"]): int(h["_version"]) for h in hits}


def sha(pairs: dict[int, int]) -> str:
    return hashlib.sha256("".join(f"{k}={pairs[k]};" for k in sorted(pairs)).encode()).hexdigest()


def assert_index_matches_database(twin, timeout: float = 90) -> tuple[int, str]:
    """Writers stopped: wait (bounded) until count and checksum are equal on both sides."""
    ends = time.monotonic() + timeout
    db, index = db_pairs(twin), index_pairs(twin)
    while (len(db), sha(db)) != (len(index), sha(index)) and time.monotonic() < ends:
        time.sleep(2)  # an update may still be in the outbox or the indexer's batch
        db, index = db_pairs(twin), index_pairs(twin)
    missing = sorted(set(db) - set(index))[:10]
    stale = sorted(i for i in set(db) & set(index) if db[i] != index[i])[:10]
    assert (len(db), sha(db)) == (len(index), sha(index)), f"missing {missing}, stale {stale}, " \
        f"extra {sorted(set(index) - set(db))[:10]}"
    return len(db), sha(db)


def repair(target) -> None:
    """After a failed test: the recorded rebuild (the search playbook) again, the nodes started."""
    rerun(target.env, "rebuild_search_cluster")
    for member in target.lost_storage("search"):
        target.restore_member_storage(member)
    for member in NODES:
        if not target.client.member(member)["desired"]:
            target.start(Node(name=member, layer="search"))


def test_chaos_run_loses_the_whole_search_cluster_and_the_playbook_rebuilds_it_to_match_the_database(
        steady_twin, target, tmp_path):
    twin = steady_twin
    base, http = twin.search_urls()[0], search.session(twin)
    uuid_before = http.get(base, timeout=5).json()["cluster_uuid"]
    snapshots = twin_search.snapshot_dir(twin)
    ctx = Context.for_environment(target.env)
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    watch = Watch(twin)
    watch.start()
    started = time.monotonic()
    try:
        proc, journal = chaos_run(EXPERIMENT, tmp_path, var_file=ENV_FILE, timeout=420)
        print(f"chaos run: {time.monotonic() - started:.1f}s")
        watch.stopping.set()
        watch.join(timeout=10)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert_steady_before(proc, journal)
        assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
        out = outputs(journal)
        fault = out["lose-the-whole-search-cluster"]
        assert fault["target"] == ENV and fault["touched"] == list(NODES) and fault["cluster_uuid"] == uuid_before
        assert fault["data_dirs"] == [str(twin_search.data_dir(twin, i)) for i in (1, 2, 3)]
        # the data was really gone (seen by this test), and the snapshots were not
        assert watch.all_gone_at is not None and watch.all_gone_at >= fault["fault_at"] - 1
        assert out["search-nodes-whose-storage-is-lost"] == list(NODES)
        assert snapshots.is_dir() and any(snapshots.iterdir())
        # search pages degraded, and readers told so (X-Gameday-Degraded: search): the Python site answers 503,
        # WordPress 200 from its own MySQL search (D6, docs/web-tier-switch.md)
        during = out["readers-during-the-loss"]
        assert during["degraded_by"].get("search", 0) > 0, during

        rebuilt = out["rebuild-the-cluster-with-the-search-playbook"]["rebuilt"]
        assert len(rebuilt) == 1 and rebuilt[0]["outcome"] == "restored", rebuilt
        steps = rebuilt[0]["steps"]
        assert all(s["status"] == "ok" for s in steps.values()), steps
        assert out["the-scheduled-snapshot"]["snapshot"] in steps["restore-snapshot"]["did"]
        assert "replayed" in steps["replay-events"]["did"] and "replayed 0 events" not in steps["replay-events"]["did"]
        assert steps["wait-index-matches-database"]["detail"].endswith(": equal"), steps["wait-index-matches-database"]

        health = http.get(f"{base}/_cluster/health", timeout=5).json()
        uuid_after = http.get(base, timeout=5).json()["cluster_uuid"]
        assert health["status"] == "green" and health["number_of_nodes"] == 3, health
        assert uuid_after != uuid_before and rebuilt[0]["cluster_uuid"] == uuid_after
        assert all(twin_search.data_dir(twin, i).is_dir() for i in (1, 2, 3))
        assert ledger.pending(target.env) == [], "the lost cluster's undo record must be consumed"

        fault_at = fault["fault_at"]
        matched_s = steps["wait-index-matches-database"]["ended_at"] - fault_at
        milestones = rebuilt[0]["after_fault_s"]
        assert abs(milestones["index_matches_database"] - matched_s) < 5, milestones
        print(f"cluster {uuid_before} lost; new cluster {uuid_after}; RTO for search readers "
              f"{watch.readers_rto(fault_at)}s; after the fault: {milestones}; steps: "
              + ", ".join(f"{name} {s['seconds']}s" for name, s in steps.items()))
    finally:
        watch.stopping.set()
        if target.lost_storage("search") or ledger.matching(target.env, "rebuild_search_cluster"):
            repair(target)
    reports = canaries.verify(timeout=120)
    for layer, report in reports.items():
        assert report.acknowledged > 0, report.to_dict()
        assert report.lost == [], f"{layer}: lost acknowledged records {report.lost} ({report.to_dict()})"
    count, checksum = assert_index_matches_database(twin)
    print(f"index = database: {count} articles, sha256 {checksum[:16]}; canaries: "
          + ", ".join(f"{k} {r.acknowledged} acknowledged, 0 lost" for k, r in reports.items()))
