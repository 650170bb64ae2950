"""The site's media (WordPress uploads): restore lost files from the newest media backup, then prove
it by data: every attachment row in the database has its file back with the backup manifest's
checksum, the files uploaded after that backup and lost with the rest are counted and named (the RPO,
in files: never assumed none), and readers get 200 for every attachment's URL.

All through the target (:meth:`~gameday.targets.base.Target.media_attachments`, ``media_files``,
``last_media_backup``, ``media_backup_manifest``, ``restore_media``, ``media_url``); the accounting is
:func:`gameday.media.account`. A target that keeps no media (the Python site) finds nothing and does
nothing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from ... import hostguard
from ...errors import GamedayError
from ...measure.backup_age import age_text
from ...media import account, names
from ..context import Context
from ..engine import Check, Finding, Part, Step

LAYER = "media"
MISSING, CHANGED, LOST = "media.files-missing", "media.files-changed", "media.files-lost"
FETCH_CONCURRENCY = 4
MOST_FETCHED = 500  # readers' check: at most this many attachment URLs (every one on the twin's small stores)


def _look(ctx: Context) -> tuple[dict | None, dict]:
    t = ctx.target
    backup = t.last_media_backup()
    manifest = t.media_backup_manifest(backup["id"]) if backup else None
    return backup, account(t.media_attachments(), t.media_files(), manifest)


def _backup_words(backup: dict | None) -> str:
    if backup is None:
        return "no media backup"
    return f"backup {backup['id']} ({backup['files']} files, taken {age_text(time.time() - backup['at'])} ago)"


def diagnose(ctx: Context) -> list[Finding]:
    if not ctx.target.has_media():
        return []  # no media store in this environment
    backup, acc = _look(ctx)
    first = ctx.state.media_found is None
    if first:
        ctx.state.media_found = {"backup": backup, "account": acc}
    found = []
    if acc["missing"]:
        found.append(Finding(MISSING, f"{len(acc['missing'])} of {acc['attachments']} attachments have no file; "
                             f"{_backup_words(backup)} holds them: {names(acc['missing'])}",
                             {"missing": len(acc["missing"]), "backup": backup and backup["id"]}))
    if acc["changed"]:
        found.append(Finding(CHANGED, f"{len(acc['changed'])} attachment files differ from {_backup_words(backup)}: "
                             f"{names(acc['changed'])}", {"changed": len(acc["changed"])}))
    if acc["lost"] and first:  # a fact to count (count-lost-media names them), nothing a later look could restore
        found.append(Finding(LOST, f"{len(acc['lost'])} attachments have no file and are in no backup "
                             f"({_backup_words(backup)}): {names(acc['lost'])}",
                             {"lost": [r["file"] for r in acc["lost"]]}))
    return found


def restore(ctx: Context) -> str:
    backup = (ctx.state.media_found or {}).get("backup") or ctx.target.last_media_backup()
    if backup is None:
        raise GamedayError("no media backup to restore from: the lost files cannot be brought back",
                           hint="take media backups on a schedule (Target.take_media_backup)")
    r = ctx.target.restore_media(backup["id"])
    return (f"restored {r['restored']} files ({r['bytes']} bytes) from backup {r['backup']} in {r['seconds']:.1f} s; "
            f"{r['unchanged']} were intact")


def back_from_backup(ctx: Context) -> Check:
    """Every attachment file the backup holds is back with the manifest's checksum."""
    backup, acc = _look(ctx)
    bad = acc["missing"] + acc["changed"]
    if bad:
        return Check(False, f"{len(bad)} attachment files the backup holds are not back as it holds them: {names(bad)}")
    return Check(True, f"{acc['matching']} attachment files match {_backup_words(backup)}")


def counted(ctx: Context) -> Check:
    """The account, by data: restored files checked against the manifest, the lost ones counted and named."""
    backup, acc = _look(ctx)
    ctx.state.media_lost = acc["lost"]
    bad = acc["missing"] + acc["changed"]
    lost = (f"{len(acc['lost'])} lost (uploaded after the backup, in no backup): {names(acc['lost'])}"
            if acc["lost"] else "0 lost (every attachment's file is in the backup or still here)")
    words = (f"{acc['attachments']} attachment rows: {acc['matching']} files with the checksum of "
             f"{_backup_words(backup)}, {acc['not_in_backup_but_present']} newer than it and still here; {lost}")
    if bad:
        return Check(False, f"{words}; {len(bad)} still missing or changed: {names(bad)}")
    return Check(True, words)


def served(ctx: Context) -> Check:
    """Readers get 200 for every attachment whose file is here (the lost ones are 404 by nature)."""
    t = ctx.target
    present = t.media_files()
    rows = [r for r in t.media_attachments() if r["file"] in present][:MOST_FETCHED]
    if not rows:
        return Check(True, "no attachment file to fetch")
    allow = hostguard.site_hosts(ctx.env)
    session = hostguard.session(refuse=False)

    def one(row: dict) -> int:
        try:
            url = hostguard.check_url(t.media_url(row["file"]), allow)
            return session.get(url, timeout=5, allow_redirects=False).status_code
        except requests.RequestException:
            return 0

    with ThreadPoolExecutor(max_workers=FETCH_CONCURRENCY) as pool:
        codes = list(pool.map(one, rows))
    failed = [(r, c) for r, c in zip(rows, codes, strict=True) if c != 200]
    if failed:
        shown = ", ".join(f"{r['file']}: {c or 'no answer'}" for r, c in failed[:10])
        return Check(False, f"{len(failed)} of {len(rows)} attachment URLs not 200 at {t.reader_url()}: {shown}")
    return Check(True, f"{len(rows)} attachment URLs answered 200 at {t.reader_url()}")


PART = Part(LAYER, diagnose, (
    Step("restore-media-from-backup", "Copy back from the newest media backup every attachment file missing or "
         "changed, each checked against the manifest's checksum", deadline_s=300, when=(MISSING, CHANGED),
         act=restore, check=back_from_backup),
    Step("count-lost-media", "Every attachment row's file is back with the backup's checksum; the files uploaded after "
         "the backup and lost are counted and named", deadline_s=60, kind="verify", check=counted),
    Step("verify-media-served", "Readers get 200 for every attachment whose file is here", deadline_s=60,
         kind="verify", check=served),
))
