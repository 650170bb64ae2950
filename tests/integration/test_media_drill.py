"""Issue 17's drill "media uploads lost and restored from backup, with the lost files counted", run as a
game day runs it: its chaos activities (``gameday.chaos.media``) and the media playbook
(``recovery_playbooks/media.py``) through a real SandboxTarget, against a small twin of its own on net
72: MariaDB (``db-1``, its stable endpoint through ``toxiproxy-1`` as on the twin), the WordPress
bootstrap, one replica ``wp-1`` and the scheduled media backup ``media-backup-1`` as a WordPress twin
runs it. The twin's shape says WordPress (``sandbox up --web wordpress``).

Asserted on data: N files uploaded through WordPress's REST API (``POST /wp-json/wp/v2/media``, the
publisher's credentials from the target), a media backup, M more uploaded, the uploads deleted (the
undo written before). The playbook brings the N back, each with the bytes uploaded (SHA-256 of what
was sent, and the manifest's), readers get 200 for them, and exactly the M (uploaded after the backup)
are counted and named as lost, 404 to readers. A second test loses half the files and undoes the fault
as another process would (the ledger's record). The schedule's test: the member's first backup was
taken at ``up``; at a 5 s interval it backs up a file uploaded since and prunes to ``keep``. About 50 s
on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import requests
import yaml

from gameday.chaos import ledger
from gameday.chaos.lock import lock_for
from gameday.chaos.media import actions, probes
from gameday.deadline import wait_until
from gameday.sandbox import install, lifecycle, media, media_backup_schedule
from gameday.sandbox.members import db, toxiproxy, wordpress
from gameday.sandbox.shape import Shape
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets.environment import from_mapping
from tests.support import wordpress_stack as stack

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))
NET = 72
NAME = "media-drill"
SEED_N = 10
N, M = 6, 3


def png(seed: int) -> bytes:
    """An 8x8 RGB PNG of one colour (smaller than every image size WordPress makes: no subsizes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + bytes([seed * 37 % 256, seed * 91 % 256, seed * 13 % 256]) * 8
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * 8)) + chunk(b"IEND", b""))


def pdf(seed: int) -> bytes:
    body = f"BT /F1 12 Tf 20 40 Td (leaflet {seed}) Tj ET".encode()
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 80]/Contents 4 0 R>>endobj\n"
            + f"4 0 obj<</Length {len(body)}>>stream\n".encode() + body + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture(scope="module")
def media_twin():
    install.install_all()  # a no-op when installed
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=2.0,
                        workloads=[toxiproxy.workload(twin), db.workload(twin),
                                   wordpress.bootstrap(twin, n=SEED_N, after=["db"]),
                                   wordpress.workload(twin, replicas=1, max_replicas=1),
                                   media_backup_schedule.workload(twin, after=("wp-bootstrap",))])

    def prepare():
        stack.prepare(twin, home=wordpress.url(twin))
        toxiproxy.prepare(twin)  # the database's stable endpoint, at db-1
        Shape(web="wordpress", web_replicas=1).save(twin.paths)  # what `sandbox up --web wordpress` keeps
        media_backup_schedule.SCHEDULE.ensure(twin)  # the defaults: half the web layer's backup_age_s (12 h), keep 5

    try:
        lifecycle.up(twin.paths, topology, prepare=prepare, timeout=150)
        yield Twin.create(NAME, net=NET)
    finally:
        lifecycle.down(twin.paths, wipe=True)


@pytest.fixture
def drill(media_twin, monkeypatch, tmp_path):
    monkeypatch.setenv(ledger.RUN_LOG_ENV, str(tmp_path / "run.jsonl"))
    mapping = {"name": f"{NAME}-drill", "kind": "sandbox", "allowed": True, "production": False,
               "sandbox": NAME, "net": NET, "site_url": wordpress.url(media_twin).rstrip("/")}
    env = from_mapping(mapping, "test_media_drill")
    target = for_environment(env)
    try:
        yield {"gameday_environment": mapping}, env, target
    finally:
        for record in ledger.pending(env):  # a failed test's record goes with it (the files restored)
            ledger.run_record(record)
        lock_for(env).release()


def upload(target, name: str, body: bytes, mime: str) -> dict:
    """One file through WordPress's REST API as the publisher: ``{"id", "file", "sha256"}``."""
    r = requests.post(f"{target.site_url()}/wp-json/wp/v2/media", data=body, auth=target.publisher_auth(), timeout=30,
                      headers={"Content-Type": mime, "Content-Disposition": f'attachment; filename="{name}"'},
                      allow_redirects=False)
    assert r.status_code == 201, (r.status_code, r.text[:300])
    answer = r.json()
    return {"id": answer["id"], "file": answer["media_details"].get("file") or answer["source_url"].split("/uploads/", 1)[1],
            "sha256": hashlib.sha256(body).hexdigest(), "body": body}


def uploads(target, prefix: str, n: int, start: int = 0) -> list[dict]:
    return [upload(target, f"{prefix}-{i}.pdf", pdf(i), "application/pdf") if i % 3 == 2
            else upload(target, f"{prefix}-{i}.png", png(i), "image/png") for i in range(start, start + n)]


def fetch(target, row: dict) -> requests.Response:
    return requests.get(target.media_url(row["file"]), timeout=10, allow_redirects=False)


def test_media_lost_restored_from_the_backup_and_the_files_uploaded_after_it_counted_and_named(drill):
    configuration, env, target = drill
    kept = uploads(target, "leaflet", N)
    assert all(fetch(target, r).status_code == 200 for r in kept)
    backup = actions.take_media_backup(configuration=configuration)
    assert backup["files"] >= N
    age = probes.media_backup_age(max_age_s=600, configuration=configuration)
    assert age["status"] == "ok" and age["id"] == backup["id"] and age["age_s"] < 60, age
    late = uploads(target, "late", M, start=N)
    status = probes.media_status(configuration=configuration)
    assert {r["id"] for r in kept + late} <= {r["id"] for r in target.media_attachments()}
    assert status["attachments"] == N + M and status["matching"] == N and status["not_in_backup_but_present"] == M
    assert status["missing"] == [] and status["lost"] == [] and status["backup"]["id"] == backup["id"]

    lost = actions.lose_media_uploads(fraction=1.0, configuration=configuration)
    [record] = ledger.pending(env)  # written before the files went: any process can undo it
    assert record["undo"] == "restore_media" and record["kwargs"] == {"layer": "media"}
    assert {r["file"] for r in kept + late} <= set(lost["lost"]) and target.media_files() == {}
    assert fetch(target, kept[0]).status_code == 404

    done = actions.apply_media_playbook(configuration=configuration)
    assert done["outcome"] != "failed", done
    codes = [f["code"] for f in done["findings"]]
    assert codes == ["media.files-missing", "media.files-lost"], done["findings"]
    steps = done["steps"]
    assert list(steps) == ["restore-media-from-backup", "count-lost-media", "verify-media-served"], list(steps)
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert done["settled"]["records"] == [record["id"]] and ledger.pending(env) == []

    # the N uploaded before the backup: back, byte for byte as uploaded and as the manifest holds them
    manifest = target.media_backup_manifest(backup["id"])
    now = target.media_files()
    for row in kept:
        assert now[row["file"]]["sha256"] == row["sha256"] == manifest[row["file"]]["sha256"], row["file"]
        answer = fetch(target, row)
        assert answer.status_code == 200 and hashlib.sha256(answer.content).hexdigest() == row["sha256"]
    # the M uploaded after it: exactly those counted and named as lost, by the playbook and the probe
    after = probes.media_status(configuration=configuration)
    assert sorted(r["file"] for r in after["lost"]) == sorted(r["file"] for r in late)
    assert {r["id"] for r in after["lost"]} == {r["id"] for r in late}
    assert after["missing"] == [] and after["changed"] == []
    detail = steps["count-lost-media"]["detail"]
    assert f"{M} lost" in detail and all(r["file"] in detail for r in late), detail
    assert all(fetch(target, r).status_code == 404 for r in late)
    assert target.publisher_auth()[1] not in str(done)
    print(f"\n[figure] media lost: {len(lost['lost'])} files deleted; playbook restored "
          f"{N} attachments in {steps['restore-media-from-backup']['seconds']:.1f} s; {detail}")


def test_half_the_uploads_lost_are_restored_by_the_undo_record_as_another_process_would(drill):
    configuration, env, target = drill
    actions.take_media_backup(configuration=configuration)
    before = target.media_files()
    assert before
    lost = actions.lose_media_uploads(fraction=0.5, configuration=configuration)
    assert len(lost["lost"]) == -(-len(before) // 2) and len(target.media_files()) == len(before) - len(lost["lost"])
    [record] = ledger.pending(env)
    ledger.run_pending(env)  # what `gameday cleanup` does from any process
    assert target.media_files() == before and ledger.pending(env) == []
    rolled = actions.restore_media_uploads(configuration=configuration)  # the rollback: nothing left to do
    assert rolled["restored"] == []
    assert record["undo"] == "restore_media"


def test_the_experiment_file_runs_under_chaos_toolkit_and_its_playbook_restores(drill, tmp_path):
    """``chaos run experiments/web/lose-media-uploads.yaml`` as a game day runs it (controls, the guard's dry
    run before the method's backup, the rollback strategy always): the method's playbook step succeeds,
    every file is back, nothing is left pending."""
    configuration, env, target = drill
    before = target.media_files()
    assert before
    var_file = tmp_path / "env.yaml"
    var_file.write_text(yaml.safe_dump({"configuration": configuration}))
    journal = tmp_path / "journal.json"
    proc = subprocess.run([CHAOS, "--no-log-file", "run", str(ROOT / "experiments/web/lose-media-uploads.yaml"),
                           "--rollback-strategy", "always", "--var-file", str(var_file), "--journal-path", str(journal)],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    data = json.loads(journal.read_text())
    assert proc.returncode == 0 and data["status"] == "completed", (proc.stdout[-2000:], proc.stderr[-2000:])
    out = {r["activity"]["name"]: r for r in data["run"]}
    assert all(r["status"] == "succeeded" for r in out.values()), {k: r["status"] for k, r in out.items()}
    assert out["media-backup-age"]["output"]["status"] == "ok"
    assert out["media-while-lost"]["output"]["present"] == 0
    playbook = out["the-media-playbook-restores-and-counts-the-lost"]["output"]
    assert playbook["outcome"] != "failed" and "restore-media-from-backup" in playbook["steps"]
    after = out["media-after"]["output"]
    # rows whose file was already gone before the run (the first test's late uploads) stay counted as lost
    gone_before = {r["file"] for r in target.media_attachments() if r["file"] not in before}
    assert after["missing"] == [] and after["changed"] == [] and {r["file"] for r in after["lost"]} == gone_before
    assert after["present"] == after["attachments"] - len(gone_before)
    assert target.media_files() == before and ledger.pending(env) == []


def test_preflight_reads_the_newest_media_backups_age_beside_the_database_backups(drill, tmp_path):
    """The game day's preflight (GameDay.check_backups) on a WordPress twin lists the media backup, judged
    against the web layer's backup_age_s (targets.yaml: a day), as it lists the database backup."""
    from gameday.runner import suite as suites
    from gameday.runner.gameday import GameDay
    _configuration, env, target = drill
    said: list[str] = []
    run = GameDay(suites.load("wordpress"), env, tmp_path / "reports", said.append)
    newest = target.take_media_backup()
    run.check_backups()
    by_layer = {b.layer: b for b in run.backups}
    assert set(by_layer) == {"db", "search", "media"}
    media_age = by_layer["media"]
    assert (media_age.status, media_age.id, media_age.objective, media_age.max_age_s) == \
        ("ok", newest["id"], "backup_age_s", 86400.0)
    assert any(f"last media backup {newest['id']}" in line for line in said), said


def test_the_schedule_backed_up_at_up_and_backs_up_new_uploads_keeping_its_count(drill, media_twin):
    """``media-backup-1``: its first backup was taken when the twin came up (ready only after its first
    pass), at the defaults; set to every 5 s keeping 2, it takes a backup holding a file uploaded since,
    with that file's SHA-256, and prunes the older ones to 2. The settings are put back after."""
    _configuration, _env, target = drill
    settings = media_backup_schedule.SCHEDULE.load(media_twin)
    assert (settings.interval_s, settings.keep) == (43200.0, media.KEEP)  # targets.yaml web backup_age_s 86400 / 2
    first = media_backup_schedule.SCHEDULE.last(media_twin)  # its first pass found no backup and took one
    assert first and first["ok"] and first["id"].startswith("media-") and first["files"] >= 0, first
    new = upload(target, "scheduled-0.png", png(40), "image/png")
    since = media.newest(media_twin)["at"]
    try:
        media_backup_schedule.SCHEDULE.configure(media_twin, interval_s=5, keep=2)
        wait_until(lambda: (media.newest(media_twin) or {}).get("at", 0) > since, timeout=30, interval=0.5,
                   what="the schedule's next media backup")
        newest = media.newest(media_twin)
        assert media.manifest(media_twin, newest["id"])[new["file"]]["sha256"] == new["sha256"]
        wait_until(lambda: len(media.backups(media_twin)) == 2 and media.newest(media_twin)["id"] != newest["id"],
                   timeout=30, interval=0.5, what="a second scheduled backup, the older ones pruned to 2")
        status = media_backup_schedule.status(media_twin)
        assert status["count"] == 2 and status["last"]["ok"] and status["newest"]["age_s"] < 30, status
        assert "media backups: every 5 s, keeping 2 (2 now)" in media_backup_schedule.summary(media_twin)
    finally:
        media_backup_schedule.SCHEDULE.configure(media_twin, interval_s=settings.interval_s, keep=settings.keep)
