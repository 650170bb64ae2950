"""Environment files (``environments/<name>.yaml``): how to reach a target, and what it allows.

An environment file is a Chaos Toolkit var file, so the same file serves ``chaos run --var-file`` and
``gameday`` commands::

    configuration:
      gameday_environment:
        name: sandbox
        kind: sandbox            # sandbox | kubernetes
        allowed: true            # the allow-list: nothing runs against a target without it
        production: false        # true: every destructive command also needs --i-mean-production
        sandbox: default         # kind=sandbox: which twin
        limits: {web_max_percent: 50, kafka_max_brokers: 2, search_max_nodes: 1}

Kind ``kubernetes`` (GKE) adds ``kubernetes:`` (context, namespaces, label selectors, endpoints; see
:mod:`gameday.targets.kubernetes_config`), ``credentials:`` (references only; see
:mod:`gameday.targets.credentials`) and optionally ``cloud_monitoring:`` (project and load balancer
for the SLO probes and the result export). ``environments/gke-staging.example.yaml`` is complete.

``load(name_or_path)`` validates it (models: :mod:`gameday.schema.environment`; JSON Schema:
``schemas/environment.schema.json``) and returns an :class:`Environment`; one UsageError lists every
problem with its key path and fix (a typo gets the closest valid key). A ``site_url`` with
``user:password@`` is refused without repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schema.base import check
from ..schema.environment import EnvironmentFile, EnvironmentModel
from ..yamlfile import read_named
from ..project import root as project_root

ROOT = project_root()
ENVIRONMENTS = ROOT / "environments"
KINDS = ("sandbox", "kubernetes")
SCHEMA = "environment"  # schemas/environment.schema.json (the models: gameday.schema.environment)
LIMIT_DEFAULTS = {"web_max_percent": 50, "kafka_max_brokers": 2, "search_max_nodes": 1, "emergency_error_ratio": 0.9}


@dataclass(frozen=True)
class Environment:
    name: str
    kind: str
    allowed: bool
    production: bool
    sandbox: str = "default"
    net: int | None = None  # kind=sandbox: the twin's loopback network (127.<net>.x.y)
    site_url: str | None = None
    limits: dict[str, float] = field(default_factory=lambda: dict(LIMIT_DEFAULTS))
    kubernetes: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)  # references, never values
    cloud_monitoring: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)  # {workers: N, master_bind: HOST:PORT}: distributed Locust
    trust: list[dict[str, Any]] = field(default_factory=list)  # CA references: {file: ...} or {secret: ns/name, key: ...}
    health: dict[str, dict[str, Any]] = field(default_factory=dict)  # layer -> {path, port, scheme}, as written

    def health_check(self, layer: str, *, port: int = 80, path: str = "/readyz", scheme: str = "http") -> dict[str, Any]:
        """How ``layer``'s members say they are healthy: the environment's ``health.<layer>``, each
        field defaulting to the target's own (keyword arguments)::

            check = env.health_check("web", port=8000)      # {"path": "/readyz", "port": 8000, "scheme": "http"}
        """
        given = self.health.get(layer) or {}
        return {"path": given.get("path", path), "port": int(given.get("port", port)), "scheme": given.get("scheme", scheme)}

    def as_configuration(self) -> dict[str, Any]:
        """The dict Chaos Toolkit passes to activities as ``configuration["gameday_environment"]``."""
        return {"name": self.name, "kind": self.kind, "allowed": self.allowed, "production": self.production,
                "sandbox": self.sandbox, "net": self.net, "site_url": self.site_url, "limits": dict(self.limits),
                "kubernetes": dict(self.kubernetes), "credentials": dict(self.credentials),
                "cloud_monitoring": dict(self.cloud_monitoring), "load": dict(self.load),
                "trust": [dict(r) for r in self.trust], "health": {k: dict(v) for k, v in self.health.items()}}


def from_mapping(data: Any, source: str) -> Environment:
    """Validate the ``gameday_environment`` mapping (as found in a var file, an experiment or an
    undo record) and return its :class:`Environment`; one UsageError lists every problem."""
    return _environment(check(EnvironmentModel, data, source, schema=SCHEMA), data, source)


def load(name_or_path: str | Path) -> Environment:
    """Load ``environments/<name>.yaml`` (a bare name: no '/', no '..') or a ``.yaml`` path, and validate it."""
    path, raw = read_named(name_or_path, ENVIRONMENTS, "environment")
    checked = check(EnvironmentFile, raw, str(path), schema=SCHEMA)
    return _environment(checked.configuration.gameday_environment,
                        raw["configuration"]["gameday_environment"], str(path))


def _environment(env: EnvironmentModel, data: dict[str, Any], source: str) -> Environment:
    """The dataclass callers use, from a checked model (blocks kept as written, limits with defaults)."""
    limits = {**LIMIT_DEFAULTS, **(data.get("limits") or {})}  # checked: known keys, numbers in range
    load_block = {}
    if env.load is not None:
        load_block = {"workers": env.load.workers, "master_bind": env.load.master_bind}
    return Environment(
        name=env.name, kind=env.kind, allowed=env.allowed, production=env.production, sandbox=env.sandbox,
        net=env.net, site_url=env.site_url, limits=limits,
        kubernetes=dict(data["kubernetes"]) if env.kubernetes is not None else {},
        source=source, credentials={str(k): dict(v) for k, v in (data.get("credentials") or {}).items()},
        cloud_monitoring=dict(data["cloud_monitoring"]) if env.cloud_monitoring is not None else {},
        load=load_block,
        trust=[dict(r) for r in data.get("trust") or []],
        health={str(k): dict(v) for k, v in (data.get("health") or {}).items()},
    )


def from_configuration(configuration: dict[str, Any] | None) -> Environment:
    """The environment of a running experiment: a mapping from ``--var-file``, or a name/path string."""
    value = (configuration or {}).get("gameday_environment", "sandbox")
    if isinstance(value, dict):
        return from_mapping(value, "configuration.gameday_environment")
    return load(str(value))
