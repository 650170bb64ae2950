"""The database's primary lost: promote the replica, repoint the site's one database endpoint, bring
the old primary back fenced (read-only) and rebuild it as the new replica, verify replication.

Its findings and steps are part of the db playbook (``db.PART``), before the member steps (the old
primary is started only once it can no longer come back as a second writable primary)::

    failover_findings(ctx)  # [Finding("db.primary-lost", "db-1, the primary, is lost; db-2 can take over", ...)]

A managed database's own failover still in progress (Cloud SQL's FAILOVER operation, or an HA
primary not RUNNABLE: ``Target.db_failover_state``) is waited for, never started again.

Only a target whose database has replicas (``Target.db_roles()`` not None) has these findings. A
primary merely stopped, or crashed and restarting, is started again by the member steps, as before;
a primary **lost** (the target says so: on the twin, the failover drill's fault records it) is
replaced by its replica. Fenced members (an old primary, read-only and not replicating) and replicas
whose replication stopped on an error are rebuilt: by GTID when their history is a prefix of the
primary's, else re-seeded from it (an asynchronous failover lost commits they still hold).
"""

from __future__ import annotations

from typing import Any

from ...deadline import wait_until
from ...errors import GamedayError
from ..context import Context, DatabaseDown
from ..engine import Check, Finding, Step

LOST = "db.primary-lost"
IN_PROGRESS = "db.failover-in-progress"  # a managed database's own failover (Cloud SQL), not done yet
FENCED = "db.replica-fenced"
BROKEN = "db.replica-broken"

# What the last promotion and rebuilds of each environment's playbook did in this process, for the
# drill's report: {environment name: {"promotion": {...}, "rebuild": [{...}]}}. Read by gameday.chaos.db.
LAST: dict[str, dict[str, Any]] = {}


def describe_state(state: dict[str, Any]) -> str:
    """One line of a managed database's failover state (``Target.db_failover_state``)."""
    ops = "; ".join(f"{o['type']} {o['name']} {o['status']} on {o['instance']}" for o in state["in_progress"])
    where = f"primary in {state['zone']}" + (f", standby in {state['secondary_zone']}" if state.get("secondary_zone") else "")
    return (f"Cloud SQL {state['instance']} is {state['state']}" + ("" if state["runnable"] else " but stopped")
            + f" ({where})" + (f"; in progress: {ops}" if ops else "; no failover in progress"))


def failover_findings(ctx: Context) -> list[Finding]:
    roles = ctx.target.db_roles()
    if roles is None:
        return []
    found = []
    state = ctx.target.db_failover_state()
    if state is not None and (state["in_progress"] or (state["failover"] == "ha" and not state["runnable"])):
        found.append(Finding(IN_PROGRESS, describe_state(state), {"state": state}))
    primary = roles["primary"]
    if primary in roles["lost"]:
        standby = [r for r in roles["replicas"] if r not in roles["lost"]]
        found.append(Finding(LOST, f"{primary}, the primary, is lost" + (
            f"; {', '.join(standby)} can take over" if standby else "; no replica can take over"),
            {"primary": primary, "replicas": standby, "mode": roles["mode"]}))
    fenced = [m for m in roles["fenced"] if m != primary]
    if fenced:
        found.append(Finding(FENCED, f"{', '.join(fenced)} {'is' if len(fenced) == 1 else 'are'} fenced (read-only, "
                             "not replicating): an old primary to rebuild as a replica", {"members": fenced}))
    if primary not in roles["lost"]:
        members = _members(ctx)
        broken = [r for r in roles["replicas"] if r not in roles["lost"] and members.get(r, {}).get("answers")
                  and "No" in (members[r].get("io"), members[r].get("sql"))]
        if broken:
            found.append(Finding(BROKEN, "; ".join(f"{r} stopped replicating: {members[r].get('last_error') or 'stopped'}"
                                                   for r in broken), {"members": broken}))
    return found


def _members(ctx: Context) -> dict[str, dict[str, Any]]:
    try:
        return ctx.target.db_replication()["members"]
    except GamedayError:
        return {}


def promote(ctx: Context) -> str:
    roles = ctx.target.db_roles()
    if roles["primary"] not in roles["lost"]:
        return f"{roles['primary']} is the primary and not lost: nothing to promote"
    done = ctx.target.promote_db_replica()
    LAST.setdefault(ctx.env.name, {})["promotion"] = done
    seconds = done.get("seconds") or {}
    if "catch_up" not in seconds:  # a managed database's promotion (Cloud SQL): its operation, and what is left
        return (f"promoted {done['new_primary']} (was {done['old_primary']}) by {done.get('how')} in "
                f"{done.get('took_s')}s" + (f"; next: {done['next_step']}" if done.get("next_step") else ""))
    return (f"promoted {done['new_primary']} (was {done['old_primary']}, {done['mode']} replication); it applied "
            f"what it had received in {seconds['catch_up']}s; endpoint repointed in {seconds['repoint']}s")


def wait_for_failover(ctx: Context) -> str:
    state = ctx.target.wait_db_failover(ctx.remaining(600))
    return f"waited for the failover: {describe_state(state)}"


def failover_settled(ctx: Context) -> Check:
    state = ctx.target.db_failover_state()
    if state is None:
        return Check(True, "the database has no failover of its own")
    ok = not state["in_progress"] and (state["failover"] != "ha" or state["runnable"])
    return Check(ok, describe_state(state))


def promoted(ctx: Context) -> Check:
    roles = ctx.target.db_roles()
    state = _members(ctx).get(roles["primary"], {})
    if roles["primary"] in roles["lost"]:
        return Check(False, f"{roles['primary']} is still the primary, and lost")
    if not state.get("answers") or state.get("read_only"):
        return Check(False, f"{roles['primary']} is not a writable primary yet ({state.get('error') or 'read-only'})")
    return Check(True, f"{roles['primary']} is the primary, writable")


def repoint(ctx: Context) -> str:
    done = ctx.target.repoint_db_endpoint()
    return f"the database endpoint {done['endpoint']} forwards to {done['primary']} ({done['upstream']})"


def endpoint_writable(ctx: Context) -> Check:
    try:
        server_id, read_only = ctx.db_query("SELECT @@server_id, @@read_only")[0]
    except DatabaseDown as err:
        return Check(False, str(err))
    if int(read_only):
        return Check(False, f"the endpoint reaches server {server_id}, which is read-only")
    return Check(True, f"the endpoint reaches server {server_id}, writable, as the site's user")


def rebuild(ctx: Context) -> str:
    roles = ctx.target.db_roles()
    members = _members(ctx)
    todo = [m for m in roles["fenced"] if m != roles["primary"]]
    broken = [r for r in roles["replicas"] if r not in todo and members.get(r, {}).get("answers")
              and "No" in (members[r].get("io"), members[r].get("sql"))]
    todo += broken
    did, done = [], []
    for member in todo:
        view = ctx.target.view("db")
        m = next((m for m in view.members if m.name == member), None)
        if m is None or not m.running:
            did.append(f"{member} is not running: left fenced")
            continue
        wait_until(lambda name=member: next(x for x in ctx.target.view("db").members if x.name == name).ready,
                   timeout=ctx.remaining(120), what=f"{member} to accept connections")
        # a replica whose replication stopped on an error: its copy is not the primary's, re-seed it
        result = ctx.target.rebuild_db_replica(member, reseed=member in broken)
        done.append(result)
        lost = result["diverged"]["transactions"]
        did.append(f"{member} replicates from {result['primary']} ({result['how']}"
                   + (f"; it held {lost} transaction(s) the new primary never received, discarded" if lost else "")
                   + f"), caught up in {result['caught_up_s']}s")
    if done:
        LAST.setdefault(ctx.env.name, {})["rebuild"] = done
    return "; ".join(did) or "no member to rebuild"


def replication_ok(ctx: Context) -> Check:
    roles = ctx.target.db_roles()
    if roles is None:
        return Check(True, "a single database server: no replication to verify")
    members = _members(ctx)
    bad = []
    if members.get(roles["primary"], {}).get("read_only", True):
        bad.append(f"{roles['primary']} (the primary) is not writable")
    for r in roles["replicas"]:
        state = members.get(r, {})
        if not state.get("replicating"):
            bad.append(f"{r} is not replicating ({state.get('last_error') or state.get('error') or state.get('io')})")
    bad += [f"{m} is fenced" for m in roles["fenced"] if m != roles["primary"]]
    bad += [f"{m} is lost" for m in roles["lost"]]
    if bad:
        return Check(False, "; ".join(bad))
    return Check(True, f"{roles['primary']} is the primary ({roles['mode']}); "
                 + (", ".join(f"{r} replicates from it" for r in roles["replicas"]) or "no replica"))


STEPS = (
    Step("wait-for-db-failover", "Wait until the managed database's own failover (Cloud SQL) is done and its "
         "primary serves", deadline_s=600, when=(IN_PROGRESS,), act=wait_for_failover, check=failover_settled),
    Step("promote-db-replica", "Promote the replica: it applies what it received, stops replicating and takes "
         "writes; the old primary stays fenced", deadline_s=90, when=(LOST,), act=promote, check=promoted),
    Step("repoint-db-endpoint", "Point the site's one database endpoint at the new primary; it answers SQL, "
         "writable, as the site's user", deadline_s=30, when=(LOST,), act=repoint, check=endpoint_writable),
)
REBUILD = Step("rebuild-old-db-primary", "Rebuild the old primary (started fenced, read-only) as the new replica: "
               "GTID from where its history stops, or re-seeded if it diverged; wait until caught up",
               deadline_s=240, when=(LOST, FENCED, BROKEN), act=rebuild, check=replication_ok)
VERIFY = Step("verify-db-replication", "The primary takes writes and every replica replicates from it",
              deadline_s=60, kind="verify", check=replication_ok)
