"""The JSON Schemas of the files users write, generated from the models into ``schemas/``.

    python -m gameday.schema            # (re)write schemas/*.schema.json
    python -m gameday.schema --check    # exit 1 when a committed schema differs from the models

Editors validate as you type when told which schema a file follows, e.g. VS Code's YAML extension
(``yaml.schemas`` in settings) or a first line ``# yaml-language-server: $schema=../schemas/suite.schema.json``.
A test (tests/unit/test_validation.py) keeps the committed files equal to what the models generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..project import root as project_root
from .environment import EnvironmentFile
from .platform import PlatformFile
from .suite import SuiteFile
from .targets import TargetsFile
from .traffic import TrafficFile

ROOT = project_root()
SCHEMAS_DIR = ROOT / "schemas"
# schema name -> (model, the files it describes)
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "environment": (EnvironmentFile, "environments/*.yaml"),
    "suite": (SuiteFile, "experiments/suites/*.yaml"),
    "targets": (TargetsFile, "targets.yaml"),
    "traffic": (TrafficFile, "loadtests/traffic.yaml"),
    "platform": (PlatformFile, "platform.yaml, inventory/*.yaml"),
}


def generate(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of schema ``name``, as pydantic generates it from the model."""
    model, files = SCHEMAS[name]
    schema = model.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{name}.schema.json",
            "$comment": f"GENERATED from {model.__module__}.{model.__name__} by `python -m gameday.schema`; "
                        f"describes {files}. Do not edit.", **schema}


def text(name: str) -> str:
    """The file content of ``schemas/<name>.schema.json``."""
    return json.dumps(generate(name), indent=2, ensure_ascii=False) + "\n"


def stale(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Names whose committed file is missing or differs from the models."""
    return [n for n in SCHEMAS if not (directory / f"{n}.schema.json").is_file()
            or (directory / f"{n}.schema.json").read_text() != text(n)]


def write(directory: Path = SCHEMAS_DIR) -> list[Path]:
    """Write every schema into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name in SCHEMAS:
        path = directory / f"{name}.schema.json"
        path.write_text(text(name))
        out.append(path)
    return out
