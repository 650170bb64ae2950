"""Google Cloud names the environment file's blocks share (``cloud_sql``, ``regions.front``)."""

from __future__ import annotations

import re

GCP_PROJECT = r"^([a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$"


def check_project(value: str) -> str:
    """A Google Cloud project id, for a ``field_validator`` (a project number, the usual slip, is
    named as such): ``return check_project(value)``."""
    if value.isdigit():
        raise ValueError("is a project number -> give the project id (gcloud projects list, PROJECT_ID)")
    if not re.match(GCP_PROJECT, value):
        raise ValueError("is not a Google Cloud project id -> 6 to 30 lowercase letters, digits and hyphens, "
                         "starting with a letter, e.g. sps-staging (gcloud projects list)")
    return value
