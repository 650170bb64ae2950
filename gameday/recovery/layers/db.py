"""The database: start or restart it, verify it answers SQL as the site's user, verify the site."""

from __future__ import annotations

from ..context import Context, DatabaseDown
from ..engine import Check, Finding, Part, Step
from . import site_probe
from .common import member_findings, member_steps

DB_GRACE_S = 60.0


def diagnose(ctx: Context) -> list[Finding]:
    found = member_findings(ctx, "db", grace_s=DB_GRACE_S)
    view = ctx.target.view("db")
    try:
        ctx.db_query("SELECT 1", timeout=3)
    except DatabaseDown as err:
        running_ready = [m.name for m in view.members if m.running and m.ready]
        code = "db.sql-failing" if running_ready and not found else "db.unreachable"
        found.append(Finding(code, f"the database does not answer SQL: {err}", {"members": running_ready}))
    return found


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
    return Check(True, f"SELECT COUNT(*) FROM articles = {n} as the site's user")


STEPS = member_steps("db", grace_s=DB_GRACE_S, deadline_s=150, what="database") + (
    Step("restart-db", "Restart a database that runs but does not answer SQL", deadline_s=150,
         when=("db.sql-failing",), act=restart_if_sql_failing, check=answers_sql),
    Step("verify-db", "The database answers SQL as the site's user", deadline_s=90, kind="verify", check=answers_sql),
)
VERIFY_SITE = Step("verify-site-after-db", "The site meets its SLO through the load balancer", deadline_s=90,
                   kind="verify", check=site_probe.meets_slo)

CORE = Part("db", diagnose, STEPS)  # for the whole-site playbook, which verifies the site at the end
PART = Part("db", diagnose, STEPS + (VERIFY_SITE,))
