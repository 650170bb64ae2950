"""The playbooks' site-cache step (issue 17, R8): where the db and region playbooks plan it, and what it
says. Its effect on real servers: tests/integration/test_object_cache.py (Redis behind WordPress) and
tests/integration/test_cdn.py (Varnish)."""

from __future__ import annotations

from gameday.recovery.engine import Finding
from gameday.recovery.layers import site_caches
from gameday.recovery import load_playbook


def _plan(playbook: str, *codes: str) -> list[str]:
    return [step.name for _part, step in load_playbook(playbook).plan([Finding(c, "x") for c in codes])]


def test_the_db_playbook_flushes_right_after_a_failover_and_after_a_content_restore():
    failover = _plan("db", "db.primary-lost")
    assert failover.index("repoint-db-endpoint") + 1 == failover.index("flush-site-caches-after-failover")
    assert failover.index("flush-site-caches-after-failover") < failover.index("rebuild-old-db-primary")
    restore = _plan("db", "db.content-lost")
    assert restore[:2] == ["restore-db-content", "flush-site-caches"]
    for codes in (("db.members-missing",), ("db.sql-failing",), ("db.replica-fenced",)):  # nothing the site read changed
        assert not [s for s in _plan("db", *codes) if s.startswith("flush-site-caches")], codes


def test_the_region_playbook_flushes_the_promoted_region_once_writes_resume():
    for code in ("region.active-lost", "region.switchover-requested"):
        plan = _plan("region", code)
        assert plan[plan.index("resume-writes") + 1] == "flush-site-caches", plan
    assert "flush-site-caches" not in _plan("region", "region.standby-not-replicating")


def test_the_step_says_what_it_did_and_what_the_environment_has_none_of():
    assert site_caches.words({"object_cache": None, "cdn": None}) == (
        "object cache: none in this environment, nothing to empty; CDN: none in this environment, nothing to ban")
    done = {"object_cache": {"members": {"cache-1": {"flushed": True, "keys_before": 812},
                                         "cache-2": {"flushed": False, "why": "not running: it comes back empty"}}},
            "cdn": {"members": {"cdn-1": {"banned": True, "objects_before": 40}}}}
    assert site_caches.words(done) == ("object cache: cache-1 emptied (812 keys); cache-2 left alone (not running: "
                                       "it comes back empty); CDN: cdn-1 banned (40 objects cached)")


def test_a_dry_run_says_which_caches_the_step_will_clear_without_contacting_them():
    import copy
    from pathlib import Path

    import yaml

    from gameday.recovery.layers import db
    from gameday.sandbox import site_caches as twin_caches
    from gameday.targets.environment import from_mapping
    from gameday.targets.kubernetes import KubernetesTarget

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "environments" / "gke-staging.example.yaml").read_text())
    env = from_mapping(copy.deepcopy(raw["configuration"]["gameday_environment"]), "gke-staging")
    # nothing listens at the example's addresses and no credential is set: the plan reads the environment only
    assert site_caches.foreseen(KubernetesTarget(env)) == (
        "object cache: will empty memorystore (10.20.0.9:6378); CDN: will clear Cloud CDN's cached /* "
        "(url map k8s2-um-1a2b3c4d-wordpress-sps-5e6f7g8h, project sps-staging)")
    assert db.FLUSH_AFTER_RESTORE.foresee is not None and db.FLUSH_AFTER_FAILOVER.foresee is not None
    # the twin's: its members the supervisor wants (a stopped one is flushed as "left alone"; one not wanted is not)
    status = {"members": [{"name": "cache-1", "workload": "cache"}, {"name": "cdn-1", "workload": "cdn"},
                          {"name": "cdn-2", "workload": "cdn", "desired": False}, {"name": "web-1", "workload": "web"}]}
    assert twin_caches.members(status) == {"object_cache": ["cache-1"], "cdn": ["cdn-1"]}
    assert twin_caches.members({"members": [{"name": "web-1", "workload": "web"}]}) == {"object_cache": None, "cdn": None}
