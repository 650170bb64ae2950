"""`gameday schedule`: a valid CronJob that cannot overlap, and the crontab line."""

import subprocess
import sys

import yaml


def gameday(*args):
    return subprocess.run([sys.executable, "-m", "gameday", "schedule", *args], capture_output=True, text=True,
                          timeout=60)


def test_cronjob_manifest_runs_the_suite_without_overlaps():
    out = gameday("--format", "cronjob", "--suite", "smoke", "--cron", "30 1 * * *")
    assert out.returncode == 0, out.stderr
    job = yaml.safe_load(out.stdout)
    assert job["kind"] == "CronJob" and job["spec"]["schedule"] == "30 1 * * *"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["gameday"] and container["args"][:3] == ["run", "--suite", "smoke"]


def test_both_formats_form_one_valid_yaml_stream_with_the_crontab_line():
    out = gameday()
    docs = list(yaml.safe_load_all(out.stdout))
    assert docs[0]["kind"] == "CronJob"
    assert "# 0 2 * * 1 cd " in out.stdout and "gameday run --suite default --env sandbox" in out.stdout


def test_bad_cron_or_suite_is_refused():
    assert gameday("--cron", "every monday").returncode == 2
    bad = gameday("--suite", "nosuch")
    assert bad.returncode == 2 and "no suite file" in bad.stderr and "known: default" in bad.stderr


def test_a_scheduled_member_is_ready_once_this_process_has_touched_its_file(tmp_path):
    """The members' readiness (``sandbox up`` returns with the first backup decided): a file touched
    since the process started; one left by an earlier process does not count."""
    import os
    import time

    from gameday.sandbox.readiness import check
    path = tmp_path / "db-backup-ready"
    spec = {"type": "file", "path": str(path)}
    assert not check(spec, running_for=5.0)  # not yet
    path.touch()
    assert check(spec, running_for=5.0)
    old = time.time() - 3600
    os.utime(path, (old, old))  # an earlier run's
    assert not check(spec, running_for=5.0)
