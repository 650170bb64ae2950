"""The search-cluster-loss drill's logic that needs no running cluster: the index-to-database
comparison (count and checksum of ids and versions, as of a cut), the twin's storage operations on
search nodes (the snapshot repository survives), the playbook's plan for a lost cluster, and the
Kubernetes target's part: every claim, then every pod, at once; pods without claims refused. The drill itself runs in
tests/integration/test_search_cluster_loss.py."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from chaoslib.exceptions import ActivityFailed

from gameday import index_match
from gameday.content import ARTICLES_TABLE
from gameday.chaos.search.actions import lose_search_cluster
from gameday.errors import GamedayError, UsageError
from gameday.recovery import Finding, load_playbook
from gameday.sandbox import storage
from gameday.sandbox.members import search
from gameday.targets import kubernetes as k8s
from gameday.targets.environment import from_mapping

ROOT = Path(__file__).resolve().parents[2]


# ---- index vs database ---------------------------------------------------------------------------
def test_the_checksum_is_over_ids_and_versions_in_id_order():
    assert index_match.digest({2: 1, 1: 3}) == index_match.digest({1: 3, 2: 1})
    assert index_match.digest({1: 3, 2: 1}) == hashlib.sha256(b"1:3\n2:1\n").hexdigest()
    assert index_match.digest({1: 3, 2: 1}) != index_match.digest({1: 3, 2: 2})  # a version differs
    assert index_match.digest({1: 3}) != index_match.digest({1: 3, 2: 1})


def test_equal_sides_match_and_say_so():
    db = {i: 1 + i % 3 for i in range(1, 2001)}
    match = index_match.compare(db, dict(db), cut="2026-12-03T17:00:00.123")
    assert match.ok and match.db_count == match.index_count == 2000
    assert match.describe().endswith(": equal") and "before 2026-12-03T17:00:00.123" in match.describe()
    assert match.to_dict()["db_sha256"] == match.to_dict()["index_sha256"]


def test_a_difference_names_missing_extra_and_stale_ids():
    db = {1: 1, 2: 2, 3: 1, 4: 1}
    index = {1: 1, 2: 1, 3: 1, 9: 1}  # 4 missing, 9 extra, 2 stale; the counts are equal all the same
    match = index_match.compare(db, index)
    assert not match.ok and match.db_count == match.index_count
    assert (match.missing, match.extra, match.stale) == ([4], [9], [2])
    assert "missing 1 (e.g. 4)" in match.describe() and "extra 1 (e.g. 9)" in match.describe()
    assert "stale 1 (e.g. 2)" in match.describe()
    assert not index_match.compare({1: 1}, {}).ok


def test_the_cut_keeps_whole_milliseconds_as_opensearch_does():
    cut = index_match.cut_ms(dt.datetime(2026, 12, 3, 17, 0, 0, 123999))
    assert cut == dt.datetime(2026, 12, 3, 17, 0, 0, 123000)
    assert cut.isoformat(timespec="milliseconds") == "2026-12-03T17:00:00.123"


class Pages:
    """Answers a scroll the way OpenSearch does (the request shapes the module sends)."""

    def __init__(self, docs: dict[int, int], page: int):
        self.docs, self.page, self.sent, self.cleared = sorted(docs.items()), page, 0, False

    def request(self, method, path, ok=(200,), **kwargs):
        if method == "DELETE":
            self.cleared = True
            return {}
        if path.endswith("/_search"):
            assert kwargs["params"] == {"scroll": index_match.SCROLL}
            assert kwargs["json"]["query"]["range"]["updated_at"]["lt"] == "2026-12-03T17:00:00.123"
        chunk = self.docs[self.sent:self.sent + self.page]
        self.sent += len(chunk)
        return {"_scroll_id": "s1", "hits": {"total": {"value": len(self.docs)},
                                             "hits": [{"_id": str(i), "fields": {"version": [v]}} for i, v in chunk]}}


def test_the_index_side_is_scrolled_to_the_end_and_the_scroll_cleared(monkeypatch):
    monkeypatch.setattr(index_match, "PAGE", 3)
    docs = {i: i % 4 + 1 for i in range(1, 11)}
    api = Pages(docs, page=3)
    assert index_match.index_versions(api, "content", dt.datetime(2026, 12, 3, 17, 0, 0, 123000)) == docs
    assert api.cleared


def test_the_database_side_reads_articles_updated_before_the_cut():
    seen = {}

    def query(sql, args, timeout):
        seen.update(sql=sql, args=args)
        return [(1, 2), (5, 1)]
    cut = dt.datetime(2026, 12, 3, 17, 0, 0, 123000)
    assert index_match.db_versions(query, cut, ARTICLES_TABLE) == {1: 2, 5: 1}
    assert seen["sql"] == "SELECT id, version FROM articles WHERE updated_at < %s" and seen["args"] == (cut,)


# ---- the twin's search storage --------------------------------------------------------------------
def fake_twin(tmp_path: Path):
    """A twin's directory layout for search nodes (config, data) and the snapshot repository."""
    data = tmp_path / "data"
    for i in (1, 2, 3):
        (data / f"search-{i}" / "config").mkdir(parents=True)
        (data / f"search-{i}" / "data" / "nodes" / "0").mkdir(parents=True)
    (data / "snapshots" / "indices").mkdir(parents=True)
    return SimpleNamespace(paths=SimpleNamespace(data=data, conf=tmp_path / "conf"))


def test_the_twin_loses_every_search_nodes_data_but_never_the_snapshots(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "run_as", lambda: None)  # no chown to the system user in a unit test
    twin = fake_twin(tmp_path)
    assert storage.lost(twin, "search") == []
    for i in (1, 2, 3):
        gone = storage.lose(twin, f"search-{i}")
        assert gone == {"member": f"search-{i}", "node_id": i, "data_dir": str(twin.paths.data / f"search-{i}" / "data")}
    assert storage.lost(twin, "search") == ["search-1", "search-2", "search-3"]
    assert all((twin.paths.data / f"search-{i}" / "config").is_dir() for i in (1, 2, 3))  # config stays
    assert (twin.paths.data / "snapshots" / "indices").is_dir()  # the repository survives
    assert storage.describe(twin, "search-2")["exists"] is False
    made = storage.restore(twin, "search-2")
    assert Path(made["data_dir"]).is_dir() and not any(Path(made["data_dir"]).iterdir())  # empty: a new volume
    assert storage.lost(twin, "search") == ["search-1", "search-3"]


def test_a_node_never_laid_out_has_lost_nothing(tmp_path):
    twin = SimpleNamespace(paths=SimpleNamespace(data=tmp_path / "data", conf=tmp_path / "conf"))
    assert storage.lost(twin, "search") == []


def test_a_snapshot_repository_inside_a_nodes_data_is_refused(tmp_path, monkeypatch):
    twin = fake_twin(tmp_path)
    monkeypatch.setattr(search, "snapshot_dir", lambda t: t.paths.data / "search-1" / "data" / "snaps")
    with pytest.raises(GamedayError, match="snapshot repository .* lies inside"):
        storage.lose(twin, "search-1")
    assert (twin.paths.data / "search-1" / "data").is_dir()


@pytest.mark.parametrize("member", ["search-0", "search-4", "search-1x", "lb-1"])
def test_other_names_have_no_storage(tmp_path, member):
    with pytest.raises(UsageError, match="has no storage the twin can lose or restore"):
        storage.lose(fake_twin(tmp_path), member)


# ---- the playbook's plan ---------------------------------------------------------------------------
def test_a_lost_cluster_is_rebuilt_restored_replayed_and_matched_in_that_order():
    findings = [Finding("search.storage-lost", "x"), Finding("search.cluster-lost", "x"),
                Finding("search.members-missing", "x"), Finding("search.unreachable", "x")]
    plan = [step.name for _part, step in load_playbook("search").plan(findings)]
    assert plan == ["restore-node-storage", "start-search", "register-snapshot-repository", "pause-indexer",
                    "restore-snapshot", "replay-events", "resume-indexer", "wait-index-matches-database",
                    "verify-green", "verify-count"]


def test_one_node_that_lost_its_data_is_not_a_cluster_restore():
    plan = [step.name for _part, step in load_playbook("search").plan([Finding("search.storage-lost", "x")])]
    assert plan == ["restore-node-storage", "verify-green", "verify-count"]


# ---- Kubernetes: the whole search cluster lost as ECK loses it (claims, then pods, all at once) -----------------
def rehearsal_target(pods=None):
    raw = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    target = k8s.KubernetesTarget(from_mapping(copy.deepcopy(raw["configuration"]["gameday_environment"]), "test"))
    if pods is not None:
        target._pods = lambda layer: pods  # what the API would list for the layer's selector
    return raw, target


def pod(name, *claims, deleting=False):
    meta = {"name": name, "uid": f"uid-{name}", **({"deletionTimestamp": "2026-12-05T21:00:00Z"} if deleting else {})}
    return {"metadata": meta, "spec": {"volumes": [{"name": "config", "emptyDir": {}}] + [
        {"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]}}


def test_pods_without_claims_are_named_and_a_layer_with_no_live_pod_too():
    from gameday.targets.kubernetes_storage import without_claims
    with_claims = [pod(f"search-{i}", f"elasticsearch-data-search-{i}") for i in (1, 2, 3)]
    assert without_claims(with_claims) == []
    assert without_claims([*with_claims[:2], pod("search-3")]) == ["search-3"]
    assert without_claims([pod("search-1", "x", deleting=True)]) == ["(no pod)"]  # being deleted: not live


def test_the_kubernetes_target_refuses_search_pods_without_claims_and_touches_nothing():
    _raw, target = rehearsal_target([pod("search-1", "elasticsearch-data-search-1"), pod("search-2")])
    with pytest.raises(GamedayError, match="every node's PersistentVolumeClaims.*search-2 mounts none; nothing was touched"):
        target.check_storage_drill("search")
    with pytest.raises(GamedayError, match="Kafka brokers and search nodes only, not 'web'"):
        target.check_storage_drill("web")
    _raw, target = rehearsal_target([pod(f"search-{i}", f"elasticsearch-data-search-{i}") for i in (1, 2, 3)])
    target.check_storage_drill("search")  # every node on a claim: allowed
    assert target.lost_storage("search") == []  # the nodes come back on new claims by themselves


def test_the_action_refuses_on_kubernetes_before_any_lock_cap_or_record(monkeypatch):
    raw, kube = rehearsal_target([pod(f"search-{i}") for i in (1, 2, 3)])
    touched = []

    def target(configuration, *, lock=True):  # the target the kubeconfig would give, without one
        touched.extend(["lock"] if lock else [])
        return kube
    monkeypatch.setattr("gameday.chaos.search.actions.target", target)
    monkeypatch.setattr("gameday.chaos.search.actions.lock_for", lambda env: touched.append("lock"))
    monkeypatch.setattr("gameday.chaos.caps.check", lambda *a, **k: touched.append("caps"))
    monkeypatch.setattr("gameday.chaos.ledger.write", lambda *a, **k: touched.append("ledger"))
    with pytest.raises(ActivityFailed, match="search-1, search-2, search-3 mounts none; nothing was touched"):
        lose_search_cluster(configuration=copy.deepcopy(raw["configuration"]))
    assert touched == []


class FakeCore:
    """The CoreV1Api calls the storage mixin makes, recorded; objects vanish once deleted."""

    def __init__(self, calls):
        self.calls = calls

    def delete_namespaced_persistent_volume_claim(self, name, namespace, **kwargs):
        self.calls.append(("delete claim", name))

    def delete_namespaced_pod(self, name, namespace, **kwargs):
        self.calls.append(("delete pod", name, kwargs.get("grace_period_seconds")))


def test_the_whole_cluster_loses_every_claim_first_then_every_pod_in_one_burst_then_waits(monkeypatch):
    calls = []
    live = {n: pod(n, f"elasticsearch-data-{n}") for n in ("search-1", "search-2", "search-3")}
    _raw, target = rehearsal_target()
    monkeypatch.setattr(type(target), "core", property(lambda self: FakeCore(calls)))
    target._call = lambda fn, *args, **kwargs: fn(*args, **kwargs)
    deleted = lambda kind, name: any(c[0] == f"delete {kind}" and c[1] == name for c in calls)  # noqa: E731
    target._pod = lambda ns, name: None if deleted("pod", name) else live.get(name)
    target._claim = lambda ns, name: None if deleted("claim", name) else {"metadata": {"uid": f"uid-{name}"}}
    lost = target.lose_layer_storage("search", list(live))
    assert calls == [("delete claim", "elasticsearch-data-search-1"), ("delete claim", "elasticsearch-data-search-2"),
                     ("delete claim", "elasticsearch-data-search-3"), ("delete pod", "search-1", 0),
                     ("delete pod", "search-2", 0), ("delete pod", "search-3", 0)]
    assert [x["member"] for x in lost] == list(live) and lost[1]["data_dir"] == "claim gameday/elasticsearch-data-search-2"
    assert "new cluster" in lost[0]["how"]


def test_a_missing_pod_is_refused_before_any_claim_goes(monkeypatch):
    calls = []
    _raw, target = rehearsal_target()
    monkeypatch.setattr(type(target), "core", property(lambda self: FakeCore(calls)))
    target._pod = lambda ns, name: pod(name, f"elasticsearch-data-{name}") if name != "search-3" else None
    with pytest.raises(UsageError, match="no live search pod gameday/search-3; nothing was touched"):
        target.lose_layer_storage("search", ["search-1", "search-2", "search-3"])
    assert calls == []


def test_the_snapshot_repository_comes_from_the_environment():
    _raw, target = rehearsal_target()
    assert target.search_snapshot_repository() == {
        "type": "fs", "settings": {"location": "/var/lib/gameday/default/data/snapshots", "compress": True}}
    target.block = {**target.block, "search": {k: v for k, v in target.block["search"].items() if k != "snapshot_repository"}}
    with pytest.raises(GamedayError, match="where the search snapshots live is not in the environment"):
        target.search_snapshot_repository()


def test_a_gcs_repository_needs_its_bucket():
    from gameday.schema.environment import SnapshotRepository
    assert SnapshotRepository(type="gcs", settings={"bucket": "b", "base_path": "p"}).settings["bucket"] == "b"
    with pytest.raises(ValueError, match="where the snapshots are"):
        SnapshotRepository(type="gcs", settings={"base_path": "p"})


# ---- the playbook on a cluster already rebuilt from nothing (Kubernetes) -----------------------------------------
class FakeSearch:
    def __init__(self, repositories):
        self.repositories = repositories

    def request(self, method, path, ok=(200,)):
        if path == "/":
            return {"cluster_uuid": "new-uuid"}
        name = path.rsplit("/", 1)[1]
        return {name: {"type": "fs"}} if name in self.repositories else {"error": "repository_missing_exception"}


def test_a_cluster_without_its_repository_and_index_is_a_lost_cluster_to_restore():
    from gameday.recovery.layers.search_cluster import rebuilt_findings
    (found,) = rebuilt_findings(None, FakeSearch([]))
    assert found.code == "search.cluster-lost" and "new-uuid" in found.text
    assert rebuilt_findings(None, FakeSearch(["gameday-fs"])) == []  # the index alone lost: the index-loss path
    plan = [step.name for _part, step in load_playbook("search").plan([found, Finding("search.index-missing", "x")])]
    assert plan == ["restore-node-storage", "register-snapshot-repository", "pause-indexer", "restore-snapshot",
                    "replay-events", "resume-indexer", "wait-index-matches-database", "verify-green", "verify-count"]


def test_the_rebuild_reports_its_milestones_from_the_fault():
    from gameday.chaos.search.actions import _milestones
    steps = {"restore-node-storage": {"ended_at": 1030.0}, "restore-snapshot": {"ended_at": 1041.26},
             "wait-index-matches-database": {"ended_at": 1052.0}}
    assert _milestones(steps, 1000.0) == {"cluster_formed": 30.0, "index_restored": 41.3, "index_matches_database": 52.0}
    assert _milestones({}, 1000.0) == {"cluster_formed": None, "index_restored": None, "index_matches_database": None}


def test_the_rebuild_waits_only_for_members_the_platform_brings_back_itself(monkeypatch):
    """On Kubernetes nothing is held after the loss: the undo waits until the pods are ready so the
    playbook sees the new cluster; held or scaled-away members are the playbook's, no wait; members
    never ready end the wait, and the playbook runs anyway (its diagnosis says what is wrong)."""
    from gameday.chaos import undo
    views, polls = [], []

    class Target:
        def view(self, layer):
            polls.append(layer)
            return views.pop(0) if len(views) > 1 else views[0]

    def fake_wait(condition, **kwargs):  # the real wait_until, without the clock: three polls
        if not any(condition() for _ in range(3)):
            raise undo.DeadlineExceeded("not back")

    def view(*members, held=()):
        return SimpleNamespace(scaled_down={}, held=list(held), members=list(members))

    def member(ready):
        return SimpleNamespace(running=ready, ready=ready)

    monkeypatch.setattr(undo, "wait_until", fake_wait)
    views[:] = [view(member(False)), view(member(True))]
    undo._wait_for_members_back(Target(), "search")  # starting, then ready
    assert len(polls) == 2
    views[:] = [view(member(False), held=[member(False)])]
    undo._wait_for_members_back(Target(), "search")  # held: nothing to wait for
    assert len(polls) == 3
    views[:] = [view(member(False))]
    undo._wait_for_members_back(Target(), "search")  # never ready: returns, no error
    assert len(polls) == 6
