"""``gameday schedule``: what to install for scheduled game days (a Kubernetes CronJob, or a crontab line)."""

from __future__ import annotations

import shlex

import click
import yaml

from ..errors import UsageError
from ..project import root as project_root
from ..runner.suite import load as load_suite
from ..targets.environment import load as load_environment

ROOT = project_root()


def _check_cron(expr: str) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise UsageError(f"--cron needs 5 fields (minute hour day month weekday), got {expr!r}",
                         hint="e.g. '0 2 * * 1' for 02:00 every Monday")
    return expr


def cronjob(*, suite: str, env: str, cron: str, image: str, namespace: str) -> dict:
    """The CronJob manifest. ``concurrencyPolicy: Forbid`` and the target lock both prevent overlaps."""
    args = ["run", "--suite", suite, "--env", env, "--no-install", "--reports", "/reports"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"gameday-{suite}", "namespace": namespace, "labels": {"app": "gameday"}},
        "spec": {
            "schedule": cron,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {"spec": {
                "backoffLimit": 0,  # a failed game day is a result to read, not something to retry
                "activeDeadlineSeconds": 4 * 3600,
                "template": {"metadata": {"labels": {"app": "gameday"}}, "spec": {
                    "serviceAccountName": "gameday",
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "gameday", "image": image, "command": ["gameday"], "args": args,
                        "volumeMounts": [{"name": "reports", "mountPath": "/reports"}],
                        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                    }],
                    "volumes": [{"name": "reports", "persistentVolumeClaim": {"claimName": "gameday-reports"}}],
                }},
            }},
        },
    }


@click.command()
@click.option("--suite", default="default", show_default=True, help="Suite to run (experiments/suites/<name>.yaml).")
@click.option("--env", "env_name", default="sandbox", show_default=True, help="Environment the game day targets.")
@click.option("--cron", default="0 2 * * 1", show_default=True, help="When, in cron syntax (02:00 every Monday).")
@click.option("--image", default="gameday:latest", show_default=True, help="Container image with gameday installed.")
@click.option("--namespace", default="gameday", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["both", "cronjob", "crontab"]), default="both", show_default=True)
def schedule(suite: str, env_name: str, cron: str, image: str, namespace: str, fmt: str) -> None:
    """Print what to install for scheduled game days.

    \b
    cronjob: a Kubernetes CronJob running the suite in the cluster (concurrencyPolicy Forbid; the
             target lock prevents overlaps too), reports on a PersistentVolumeClaim.
    crontab: the equivalent line for a VM, run from this checkout, output appended to a log.
    """
    load_suite(suite)
    load_environment(env_name)
    _check_cron(cron)
    if fmt in ("both", "cronjob"):
        if fmt == "both":
            click.echo("# Kubernetes: kubectl apply -f - (needs a `gameday` service account and a `gameday-reports` PVC)")
        click.echo(yaml.safe_dump(cronjob(suite=suite, env=env_name, cron=cron, image=image, namespace=namespace),
                                  sort_keys=False), nl=False)
    if fmt in ("both", "crontab"):
        if fmt == "both":
            click.echo("---\n# A VM: crontab -e, then add")
        command = (f"cd {shlex.quote(str(ROOT))} && .venv/bin/gameday run --suite {shlex.quote(suite)} "
                   f"--env {shlex.quote(env_name)} >> reports/cron.log 2>&1")
        click.echo(("# " if fmt == "both" else "") + f"{cron} {command}")
