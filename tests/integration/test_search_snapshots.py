"""Issue 15, drill 6 for search: the twin's ``search-snapshot-1`` snapshots the content index into
``gameday-fs`` on a schedule, and that snapshot is what the game day's preflight reads the age of, on
the real twin (127.20.x.y).

With a 5 s interval and keep 1 set at run time through the target
(``SandboxTarget.set_search_snapshot_schedule``): a new snapshot of ``content`` appears, taken by the
member (its state file names it), restores (renamed, beside the live index) to exactly the documents
the member counted when it took it, and the member's older snapshots (its first, taken as it started)
are pruned; a drill's snapshot would not be. Then preflight's ``search_snapshot_age`` reports it, with
no warning, and ``gameday sandbox status`` shows the schedule. A SIGTERM stops the member cleanly
(exit 0); the supervisor restarts it and it takes no extra snapshot (the interval counts from the
newest); the target's ``search_snapshot_schedule()`` shows the settings put back. Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_search_snapshots.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time

from gameday.deadline import wait_until
from gameday.measure import backup_age
from gameday.recovery import targets_yaml
from gameday.sandbox import search_snapshot_schedule as sss
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.twin import CONTENT_INDEX, SNAPSHOT_REPOSITORY
from gameday.targets import for_environment
from gameday.targets.environment import load as load_env

ENV = "sandbox-test"
CHECK_INDEX = "snapshot-check-content"  # the snapshot restored beside the live index, then deleted


def restored_count(api, snapshot: str) -> int:
    """Restore ``snapshot``'s content index as :data:`CHECK_INDEX` (no replica) and count it."""
    api.delete_index(CHECK_INDEX)
    api.request("POST", f"/_snapshot/{SNAPSHOT_REPOSITORY}/{snapshot}/_restore", params={"wait_for_completion": "true"},
                json={"indices": CONTENT_INDEX, "include_global_state": False, "rename_pattern": CONTENT_INDEX,
                      "rename_replacement": CHECK_INDEX, "index_settings": {"index.number_of_replicas": 0}})
    try:
        return api.count(CHECK_INDEX)
    finally:
        api.delete_index(CHECK_INDEX)


def test_the_schedule_snapshots_the_index_prunes_and_is_what_preflight_reads(twin):
    started = time.monotonic()
    api = sss.admin(twin, timeout=60)
    settings = sss.load(twin)
    assert settings.interval_s >= 3600 and settings.keep >= 1, settings  # half targets.yaml's 86400 s
    mine = sss.ours(api.snapshots(SNAPSHOT_REPOSITORY))
    first = [s["snapshot"] for s in mine]
    assert first, "the member's first snapshot, taken as it started, is listed"
    ready = [m["ready_since"] for m in SandboxClient(twin.paths).status()["members"]
             if m["kind"] == "service" and m["ready_since"] and not m["restarts"]]
    print(f"first snapshot ended {mine[0]['end_time_in_millis'] / 1000 - max(ready):+.1f} s after the last member "
          "that never restarted became ready (negative: before `sandbox up` returned)")
    target = for_environment(load_env(ENV))
    try:
        assert target.set_search_snapshot_schedule(interval_s=5, keep=1) == {"interval_s": 5.0, "keep": 1}

        def taken():
            last = sss.SCHEDULE.last(twin)
            return last if last and last.get("ok") and last["id"] not in first else None
        last = wait_until(taken, timeout=20, what="a snapshot taken by search-snapshot-1", interval=0.3)
    finally:
        target.set_search_snapshot_schedule(interval_s=settings.interval_s, keep=settings.keep)
    waited = time.monotonic() - started
    listing = api.snapshots(SNAPSHOT_REPOSITORY)
    snap = next(s for s in listing if s["snapshot"] == last["id"])
    assert snap["state"] == "SUCCESS" and snap["indices"] == [CONTENT_INDEX], snap
    assert set(first) <= set(last["pruned"]), last  # keep 1: every older one of the member's own deleted
    assert [s["snapshot"] for s in sss.ours(listing)] == [last["id"]], sss.ours(listing)
    assert last["documents"] > 0 and restored_count(api, last["id"]) == last["documents"], last

    # preflight reads it: the newest snapshot in any registered repository, within the search layer's limit
    objective, max_age_s = targets_yaml.load().for_layer("search", environment=ENV).backup_limit()
    age = backup_age.search_snapshot_age(target.search_admin(timeout=5), max_age_s=max_age_s, objective=objective)
    assert (age.status, age.id, age.warning) == (backup_age.OK, last["id"], None), age
    assert age.age_s < 60 and age.where == f"repository {SNAPSHOT_REPOSITORY}", age

    # a SIGTERM: exit 0, restarted by the supervisor, no extra snapshot (the newest is seconds old)
    client = SandboxClient(twin.paths)
    restarts = client.member(sss.NAME)["restarts"]
    client.kill(sss.NAME, "TERM", by="test")
    member = wait_until(lambda: (m := client.member(sss.NAME))["restarts"] > restarts and m["ready"] and m,
                        timeout=20, what="search-snapshot-1 restarted and ready", interval=0.3)
    assert member["last_exit"]["code"] == 0, member["last_exit"]
    status = target.search_snapshot_schedule()
    assert status["newest"]["id"] == last["id"] and status["count"] == 1, status
    assert (status["interval_s"], status["keep"]) == (settings.interval_s, settings.keep), status

    out = subprocess.run([sys.executable, "-m", "gameday", "sandbox", "--name", twin.name, "status"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "search-snapshot-1" in out.stdout and "search snapshots: every" in out.stdout, \
        out.stdout[-2000:]
    print(f"snapshot {last['id']} of {last['documents']} documents in {last['seconds']} s, {waited:.1f} s after "
          f"the 5 s interval was set; preflight: {age.status}, {age.age_s} s old; {time.monotonic() - started:.1f} s")
