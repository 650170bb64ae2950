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

``load(name_or_path)`` validates it and returns an :class:`Environment`; a typo in a key is an error
that names the key and the closest valid one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..yamlfile import read_named, unknown_key
from . import credentials as credential_refs
from . import kubernetes_config

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ROOT / "environments"
KINDS = ("sandbox", "kubernetes")
TOP_KEYS = {"name", "kind", "allowed", "production", "sandbox", "net", "site_url", "limits", "kubernetes",
            "description", "credentials", "cloud_monitoring", "load"}
LOAD_KEYS = {"workers", "master_bind"}
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

    def as_configuration(self) -> dict[str, Any]:
        """The dict Chaos Toolkit passes to activities as ``configuration["gameday_environment"]``."""
        return {"name": self.name, "kind": self.kind, "allowed": self.allowed, "production": self.production,
                "sandbox": self.sandbox, "net": self.net, "site_url": self.site_url, "limits": dict(self.limits),
                "kubernetes": dict(self.kubernetes), "credentials": dict(self.credentials),
                "cloud_monitoring": dict(self.cloud_monitoring), "load": dict(self.load)}


def from_mapping(data: Any, source: str) -> Environment:
    """Validate the ``gameday_environment`` mapping (as found in a var file or an experiment)."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: gameday_environment must be a mapping, not {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise unknown_key(key, TOP_KEYS, source)
    for required in ("name", "kind", "allowed"):
        if required not in data:
            raise UsageError(f"{source}: gameday_environment.{required} is missing",
                             hint="see environments/sandbox.yaml for a complete example")
    if data["kind"] not in KINDS:
        raise UsageError(f"{source}: kind must be one of {', '.join(KINDS)}, not {data['kind']!r}")
    for flag in ("allowed", "production"):
        if flag in data and not isinstance(data[flag], bool):
            raise UsageError(f"{source}: {flag} must be true or false, not {data[flag]!r}")
    limits = dict(LIMIT_DEFAULTS)
    for key, value in (data.get("limits") or {}).items():
        if key not in LIMIT_DEFAULTS:
            raise unknown_key(key, set(LIMIT_DEFAULTS), f"{source}: limits")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise UsageError(f"{source}: limits.{key} must be a non-negative number, not {value!r}")
        limits[key] = value
    kube = kubernetes_config.validate(data.get("kubernetes"), source) if data["kind"] == "kubernetes" else {}
    if data["kind"] == "kubernetes" and not data.get("site_url"):
        raise UsageError(f"{source}: gameday_environment.site_url is missing",
                         hint="the site's public URL, through the load balancer")
    return Environment(
        name=str(data["name"]), kind=data["kind"], allowed=data["allowed"],
        production=bool(data.get("production", False)), sandbox=str(data.get("sandbox", "default")),
        net=int(data["net"]) if data.get("net") is not None else None,
        site_url=data.get("site_url"), limits=limits, kubernetes=kube or dict(data.get("kubernetes") or {}),
        source=source, credentials=credential_refs.validate(data.get("credentials"), source),
        cloud_monitoring=kubernetes_config.validate_cloud_monitoring(data.get("cloud_monitoring"), source),
        load=_load_block(data.get("load"), source),
    )


def _load_block(data: Any, source: str) -> dict[str, Any]:
    """``load: {workers: 2, master_bind: 0.0.0.0:5557}``: a game day's Locust becomes a master that
    waits for ``workers`` external workers (the Locust worker pods of ``deploy/``); absent or
    ``workers: 0`` runs Locust in one local process."""
    where = f"{source}: load"
    if not data:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping (workers, master_bind)")
    for key in data:
        if key not in LOAD_KEYS:
            raise unknown_key(key, LOAD_KEYS, where)
    workers = data.get("workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 0 <= workers <= 100:
        raise UsageError(f"{where}.workers must be a whole number from 0 to 100, not {workers!r}")
    bind = str(data.get("master_bind", "0.0.0.0:5557"))
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{where}.master_bind must be HOST:PORT, not {bind!r}", hint="e.g. 0.0.0.0:5557")
    return {"workers": workers, "master_bind": bind}


def load(name_or_path: str | Path) -> Environment:
    """Load ``environments/<name>.yaml`` (or a path) and validate it."""
    path, raw = read_named(name_or_path, ENVIRONMENTS, "environment")
    if not isinstance(raw, dict) or set(raw) - {"configuration", "secrets"}:
        raise UsageError(f"{path}: a var file has only `configuration:` and `secrets:` at its top level")
    env = (raw.get("configuration") or {}).get("gameday_environment")
    if env is None:
        raise UsageError(f"{path}: configuration.gameday_environment is missing")
    return from_mapping(env, str(path))


def from_configuration(configuration: dict[str, Any] | None) -> Environment:
    """The environment of a running experiment: a mapping from ``--var-file``, or a name/path string."""
    value = (configuration or {}).get("gameday_environment", "sandbox")
    if isinstance(value, dict):
        return from_mapping(value, "configuration.gameday_environment")
    return load(str(value))
