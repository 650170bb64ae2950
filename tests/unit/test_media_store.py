"""The twin's media store (gameday.sandbox.media) on real files in a temporary state directory, and the
account of attachment rows against the store and a backup (gameday.media.account): backups are whole or
absent, the fault deletes the share asked, the restore brings back exactly the manifest's bytes, and a
file uploaded after the backup is counted as lost, never restored or forgotten."""

from __future__ import annotations

import pytest

from gameday.errors import GamedayError
from gameday.measure import backup_age
from gameday.media import account, names
from gameday.sandbox import media
from gameday.sandbox.twin import Twin


@pytest.fixture
def twin(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    t = Twin.create("media-unit", net=77)
    media.uploads_dir(t).mkdir(parents=True)
    return t


def put(twin: Twin, rel: str, body: bytes) -> None:
    path = media.uploads_dir(twin) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def test_backup_lose_restore_and_the_file_uploaded_after_the_backup_is_lost(twin):
    for i in range(4):
        put(twin, f"2026/12/a-{i}.png", bytes([i]) * (10 + i))
    assert media.newest(twin) is None
    b = media.take(twin)
    assert (b["files"], b["bytes"]) == (4, 10 + 11 + 12 + 13) and media.newest(twin)["id"] == b["id"]
    assert not [p for p in media.backups_dir(twin).iterdir() if p.name.endswith(media.PARTIAL)]
    put(twin, "2026/12/late.pdf", b"%PDF late")
    put(twin, "2026/12/a-1.png", b"changed under the backup")
    before = media.files(twin)

    lost = media.lose(twin, 0.5)
    assert len(lost) == 3 and len(media.files(twin)) == 2
    lost_all = media.lose(twin, 1.0)
    assert media.files(twin) == {} and not (media.uploads_dir(twin) / "2026").exists() and len(lost_all) == 2

    r = media.restore(twin)
    assert (r["backup"], r["restored"], r["unchanged"]) == (b["id"], 4, 0)
    now = media.files(twin)
    assert now == {k: v for k, v in media.manifest(twin, b["id"]).items()}
    assert "2026/12/late.pdf" not in now and now["2026/12/a-1.png"] != before["2026/12/a-1.png"]
    assert media.restore(twin)["restored"] == 0  # idempotent, as an undo must be

    rows = [{"id": 10 + i, "file": f"2026/12/a-{i}.png", "title": f"a-{i}"} for i in range(4)]
    rows.append({"id": 20, "file": "2026/12/late.pdf", "title": "late"})
    acc = account(rows, now, media.manifest(twin, b["id"]))
    assert (acc["attachments"], acc["matching"], acc["missing"], acc["changed"]) == (5, 4, [], [])
    assert acc["lost"] == [rows[4]] and "2026/12/late.pdf (#20)" in names(acc["lost"])


def test_the_account_tells_missing_from_lost_and_changed(twin):
    manifest = {"x.png": {"sha256": "a" * 64, "size": 1}, "y.png": {"sha256": "b" * 64, "size": 1}}
    present = {"y.png": {"sha256": "c" * 64, "size": 1}, "z.png": {"sha256": "d" * 64, "size": 1}}
    rows = [{"id": i, "file": f, "title": f} for i, f in enumerate(["x.png", "y.png", "z.png", "w.png"])]
    acc = account(rows, present, manifest)
    assert [r["file"] for r in acc["missing"]] == ["x.png"] and [r["file"] for r in acc["changed"]] == ["y.png"]
    assert [r["file"] for r in acc["lost"]] == ["w.png"] and acc["not_in_backup_but_present"] == 1
    no_backup = account(rows, present, None)
    assert [r["file"] for r in no_backup["lost"]] == ["x.png", "w.png"]  # nothing assumed: gone and in no backup


def test_bad_input_is_refused_with_a_clear_error(twin):
    with pytest.raises(GamedayError, match="fraction"):
        media.lose(twin, 0)
    with pytest.raises(GamedayError, match="no media backup to restore"):
        media.restore(twin)
    with pytest.raises(GamedayError, match="not a media backup id"):
        media.manifest(twin, "../etc")
    put(twin, "ok.png", b"1")
    b = media.take(twin)
    path = media.backups_dir(twin) / b["id"] / media.MANIFEST
    path.write_text(path.read_text().replace('"ok.png"', '"../../escape.png"'))
    with pytest.raises(GamedayError, match="not a plain path"):
        media.restore(twin, b["id"])
    assert media.newest(twin) is None  # a damaged backup is no backup


def test_the_media_backup_age_is_judged_as_the_database_backups(twin):
    put(twin, "ok.png", b"1")
    b = media.take(twin)
    ok = backup_age.media_backup_age(lambda: media.newest(twin), max_age_s=600, now=b["at"] + 30)
    assert (ok.status, ok.id, ok.what, ok.warning) == ("ok", b["id"], "media backup", None)
    stale = backup_age.media_backup_age(lambda: media.newest(twin), max_age_s=600, now=b["at"] + 3600)
    assert stale.status == "stale" and "media backup" in stale.warning
    assert "every file uploaded in the last 1 h 00 min" in stale.warning and "writes" not in stale.warning, stale.warning
    none = backup_age.media_backup_age(lambda: None, max_age_s=600)
    assert none.status == "none"


def test_the_media_drill_refuses_a_target_without_a_media_store_saying_why_for_that_target(tmp_path, monkeypatch):
    """A GKE environment is told the drill is not built for its kind (not that it runs the Python site); a
    Python twin is told its web tier keeps no uploads. Both before anything is touched (a dry run: no lock),
    as the refusal that stops the experiment."""
    import copy
    from pathlib import Path

    import yaml
    from chaoslib.exceptions import InterruptExecution

    from gameday.chaos import context
    from gameday.chaos.media import actions

    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "environments" / "gke-staging.example.yaml").read_text())
    gke = copy.deepcopy(raw["configuration"]["gameday_environment"])
    kubeconfig = tmp_path / "kubeconfig"  # never dialled: the refusal comes before any call to the cluster
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gke",
        "clusters": [{"name": "gke", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "gke", "user": {"token": "not-used"}}],
        "contexts": [{"name": "gke", "context": {"cluster": "gke", "user": "gke"}}]}))
    gke["kubernetes"].update(kubeconfig=str(kubeconfig), context="gke")
    for ref in gke["credentials"].values():  # the example's secrets come from the environment: any value here
        if isinstance(ref, dict) and "env" in ref:
            monkeypatch.setenv(ref["env"], "not-used")

    def refusal(environment: dict) -> str:
        with pytest.raises(InterruptExecution) as err:
            actions.lose_media_uploads(dry_run=True, configuration={"gameday_environment": environment})
        assert context.take_refusal() is not None  # recorded for the guard, as every refusal
        return str(err.value)

    said = refusal(gke)
    assert "no media store to back up or lose (the media drill is not built for targets of kind 'kubernetes'" in said, said
    assert "nothing was touched" in said and "Python site" not in said, said
    assert "gameday sandbox up --web wordpress" in said, said

    twin = Twin.create("media-python", net=78)  # never started: the default web tier, the Python site
    assert twin.shape.web == "python"
    said = refusal({"name": "media-python", "kind": "sandbox", "allowed": True, "sandbox": twin.name, "net": 78})
    assert "the twin 'media-python' runs the Python site as its web tier, which keeps no uploads" in said, said
