"""Reading the YAML files users write (environments, suites), with errors that say what to fix.

    path, data = read_named("default", SUITES, "suite")    # a name in the folder, or a path
    raise unknown_key(key, VALID, where)                    # "unknown key 'limts' -> did you mean 'limits'?"
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError


def read_named(name_or_path: str | Path, directory: Path, what: str) -> tuple[Path, Any]:
    """``directory/<name>.yaml`` for a bare name, else the path; parsed, or a UsageError."""
    path = Path(name_or_path)
    if not path.suffix or (len(path.parts) == 1 and path.suffix not in (".yaml", ".yml")):
        path = directory / f"{name_or_path}.yaml"  # a bare name, also one with a dot (gke-staging.example)
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise UsageError(f"no {what} file {path}", hint=f"known: {', '.join(known) or 'none'}")
    try:
        return path, yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UsageError(f"{path} is not valid YAML: {err}") from err


def unknown_key(key: str, valid: set[str], where: str) -> UsageError:
    close = difflib.get_close_matches(key, sorted(valid), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(sorted(valid))}"
    return UsageError(f"{where}: unknown key {key!r}", hint=hint)
