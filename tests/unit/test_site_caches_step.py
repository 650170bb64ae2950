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
