"""``gameday export cloud-monitoring REPORT_DIR``: a game day's results as Cloud Monitoring custom metrics."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from .output import console, print_json


@click.group()
def export() -> None:
    """Send a finished game day's results to a monitoring system."""


@export.command("cloud-monitoring")
@click.argument("report_dir", type=click.Path(path_type=Path))
@click.option("--project", help="Google Cloud project id (default: cloud_monitoring.project of --env).")
@click.option("--env", "env_name", help="Environment file whose cloud_monitoring.project to use.")
@click.option("--now", is_flag=True, help="Stamp the figures with the current time (a report older than 25 hours).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def cloud_monitoring(report_dir: Path, project: str | None, env_name: str | None, now: bool, as_json: bool) -> None:
    """Write RTO, RPO, availability and pass/fail per scenario, and the score, as
    custom.googleapis.com/gameday/* metrics.

    \b
    Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth
    application-default login`, or Workload Identity in GKE); the caller needs
    roles/monitoring.metricWriter. Each game day is exported once (points are written in order).
    """
    from ..gcp import export as exporter

    report = exporter.read_summary(report_dir)
    if not project and env_name:
        from ..targets.environment import load as load_environment
        env = load_environment(env_name)
        project = (env.cloud_monitoring or {}).get("project")
        if not project:
            raise UsageError(f"environment {env.name!r} has no cloud_monitoring.project", hint="pass --project")
    if not project:
        raise UsageError("which Google Cloud project? none given", hint="pass --project PROJECT_ID (or --env ENV)")
    result = exporter.export_report(report, project, now=now)
    if as_json:
        print_json(result)
        return
    console.print(f"exported game day {result['run_id']} to project {project}: {result['series_written']} series "
                  f"in {result['calls']} call(s)" + (f", {len(result['descriptors_created'])} metric descriptors created"
                                                   if result["descriptors_created"] else ""), highlight=False)
    for item in result["skipped"]:
        console.print(f"  not exported: {item}", highlight=False)
