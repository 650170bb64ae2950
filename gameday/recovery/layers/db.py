"""The database: fail over to the replica when the primary is lost (:mod:`.db_failover`); start or
restart it, verify it answers SQL as the site's user; rebuild the old primary as the new replica;
restore content a bad deploy destroyed to the moment before it (:mod:`.db_content`); after a failover or
a restore, empty the site's object cache and ban its CDN (:mod:`.site_caches`); verify the site."""

from __future__ import annotations

from ..context import Context, DatabaseDown
from ..engine import Check, Finding, Part, Step
from . import db_failover, site_caches, site_probe
from .common import member_findings, member_steps
from .db_content import CODE as CONTENT_LOST
from .db_content import content_findings, content_restored, matches_backup, restore_content

DB_GRACE_S = 60.0


def diagnose(ctx: Context) -> list[Finding]:
    found = db_failover.failover_findings(ctx) + member_findings(ctx, "db", grace_s=DB_GRACE_S)
    view = ctx.target.view("db")
    try:
        ctx.db_query("SELECT 1", timeout=3)
    except DatabaseDown as err:
        running_ready = [m.name for m in view.members if m.running and m.ready]
        code = "db.sql-failing" if running_ready and not found else "db.unreachable"
        found.append(Finding(code, f"the database does not answer SQL: {err}", {"members": running_ready}))
        return found
    return found + content_findings(ctx)


def restart_if_sql_failing(ctx: Context) -> str:
    try:
        ctx.db_query("SELECT 1", timeout=3)
        return "the database answers SQL again: nothing to restart"
    except DatabaseDown as err:
        for m in ctx.target.view("db").members:
            if m.running:
                ctx.target.replace_member(m.name)
        return f"restarted the database ({err})"


def answers_sql(ctx: Context) -> Check:
    try:
        n = ctx.article_count()
    except DatabaseDown as err:
        return Check(False, str(err))
    return Check(True, f"{ctx.target.content_schema().count_sql()} = {n} as the site's user")


# the site's caches still hold what the lost primary or the destroyed content said (R8): emptied right after
# the promotion and repoint (before the old primary's rebuild, which changes nothing the site reads), and
# right after a content restore
FLUSH_AFTER_FAILOVER = site_caches.step("flush-site-caches-after-failover", (db_failover.LOST,))
FLUSH_AFTER_RESTORE = site_caches.step("flush-site-caches", (CONTENT_LOST,))

STEPS = db_failover.STEPS + (FLUSH_AFTER_FAILOVER,) + member_steps("db", grace_s=DB_GRACE_S, deadline_s=150, what="database") + (
    db_failover.REBUILD,
    Step("restart-db", "Restart a database that runs but does not answer SQL", deadline_s=150,
         when=("db.sql-failing",), act=restart_if_sql_failing, check=answers_sql),
    Step("restore-db-content", "Restore destroyed content: the newest backup, then the change log up to the "
         "destructive statement and everything after it except that statement", deadline_s=300,
         when=(CONTENT_LOST,), act=restore_content, check=content_restored),
    FLUSH_AFTER_RESTORE,
    Step("verify-db", "The database answers SQL as the site's user", deadline_s=90, kind="verify", check=answers_sql),
    Step("verify-db-content", "Every article id the newest backup held is there (row count and id range)",
         deadline_s=60, kind="verify", check=matches_backup),
    db_failover.VERIFY,
)
VERIFY_SITE = Step("verify-site-after-db", "The site meets its SLO through the load balancer", deadline_s=90,
                   kind="verify", check=site_probe.meets_slo)

CORE = Part("db", diagnose, STEPS)  # for the whole-site playbook, which verifies the site at the end
PART = Part("db", diagnose, STEPS + (VERIFY_SITE,))
