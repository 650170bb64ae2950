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

Either kind may add ``regions:`` (:mod:`gameday.schema.regions`): this environment's region, its
``standby`` (another environment file of the same kind, in the same folder) and the ``front`` that
sends readers to the active region (``{kind: twin}``, or a Cloud DNS record: :mod:`gameday.gcp.dns`)::

    env = load("gke-production")
    env.regions["front"]["kind"]        # "cloud-dns"
    dr = standby(env)                   # the standby region's Environment (gke-production-dr)

``load(name_or_path)`` validates it (models: :mod:`gameday.schema.environment`; JSON Schema:
``schemas/environment.schema.json``) and returns an :class:`Environment`; one UsageError lists every
problem with its key path and fix (a typo gets the closest valid key). A ``site_url`` with
``user:password@`` is refused without repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GamedayError, UsageError
from ..schema.base import Problem, check, invalid
from ..schema.environment import EnvironmentFile, EnvironmentModel
from ..yamlfile import read_named, read_yaml
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
    cloud_cdn: dict[str, Any] = field(default_factory=dict)  # {project, url_map, path, host, timeout_s}; {}: none declared
    load: dict[str, Any] = field(default_factory=dict)  # {workers: N, master_bind: HOST:PORT, through_cdn: bool}
    trust: list[dict[str, Any]] = field(default_factory=list)  # CA references: {file: ...} or {secret: ns/name, key: ...}
    health: dict[str, dict[str, Any]] = field(default_factory=dict)  # layer -> {path, port, scheme}, as written
    regions: dict[str, Any] = field(default_factory=dict)  # {name, standby, front: {kind, ...}, decision_s}; {}: one region

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
                "cloud_monitoring": dict(self.cloud_monitoring), "cloud_cdn": dict(self.cloud_cdn), "load": dict(self.load),
                "trust": [dict(r) for r in self.trust], "health": {k: dict(v) for k, v in self.health.items()},
                "regions": _copy(self.regions)}


def from_mapping(data: Any, source: str) -> Environment:
    """Validate the ``gameday_environment`` mapping (as found in a var file, an experiment or an
    undo record) and return its :class:`Environment`; one UsageError lists every problem."""
    return _environment(check(EnvironmentModel, data, source, schema=SCHEMA), data, source)


def load(name_or_path: str | Path) -> Environment:
    """Load ``environments/<name>.yaml`` (a bare name: no '/', no '..') or a ``.yaml`` path, and validate it."""
    path, raw = read_named(name_or_path, ENVIRONMENTS, "environment")
    checked = check(EnvironmentFile, raw, str(path), schema=SCHEMA)
    data = raw["configuration"]["gameday_environment"]
    problems = standby_problems(data, path)
    if problems:
        raise invalid(problems, str(path), SCHEMA)
    return _environment(checked.configuration.gameday_environment, data, str(path))


def standby(env: Environment) -> Environment:
    """The standby region's environment of ``env`` (its ``regions.standby``), loaded from the folder
    ``env`` was read from (``environments/`` for one given as a mapping)::

        dr = standby(load("gke-production"))      # environments/gke-production-dr.yaml
    """
    if not env.regions:
        raise UsageError(f"environment {env.name!r} has no regions block, so no standby region",
                         hint="add regions: {name, standby, front}; see environments/gke-production.example.yaml")
    return load(_folder(env.source) / f"{env.regions['standby']}.yaml")


def standby_problems(data: dict[str, Any], path: Path) -> list[Problem]:
    """``regions.standby`` of the (checked) ``data`` read from ``path``: an existing environment file
    beside it, not this one, of the same kind; its region has a front target. [] without regions."""
    regions = data.get("regions")
    if not regions:
        return []
    at = "configuration.gameday_environment.regions"
    name = regions["standby"]
    other = path.parent / f"{name}.yaml"
    if not other.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml") if p.resolve() != path.resolve())
        return [Problem(f"{at}.standby names no environment file: {other} does not exist",
                        f"name the standby region's environment (known: {', '.join(known) or 'none'})")]
    if other.resolve() == path.resolve():
        return [Problem(f"{at}.standby names this file itself ({name!r})",
                        "name the standby region's environment file (another cluster), e.g. gke-production-dr")]
    try:
        raw = read_yaml(other, "environment")
    except GamedayError as err:
        return [Problem(f"{at}.standby {name!r} cannot be read: {err.message}", err.hint or "")]
    theirs = raw.get("configuration") if isinstance(raw, dict) else None
    theirs = theirs.get("gameday_environment") if isinstance(theirs, dict) else None
    if not isinstance(theirs, dict):
        return [Problem(f"{at}.standby {name!r} is not an environment file (no configuration.gameday_environment)",
                        "name an environment file of environments/")]
    out = []
    if theirs.get("kind") != data["kind"]:
        out.append(Problem(f"{at}.standby {name!r} is a kind: {theirs.get('kind')} environment, this one is kind: "
                           f"{data['kind']}", "the standby region is the same kind of target (a second cluster, "
                                              "or the twin's second region)"))
    their_region = (theirs.get("regions") or {}).get("name") if isinstance(theirs.get("regions"), dict) else None
    if isinstance(their_region, str):
        if their_region == regions["name"]:
            out.append(Problem(f"{at}.name {their_region!r} is also the standby's region ({name!r})",
                               "two regions have two names, e.g. europe-west2 and europe-west1"))
        targets = regions["front"].get("targets")
        if isinstance(targets, dict) and their_region not in targets:
            out.append(Problem(f"{at}.front.targets has no entry for the standby's region ({their_region!r})",
                               f"add {at.rsplit('.', 1)[-1]}.front.targets.{their_region}: the record's data when "
                               "the standby is active"))
    return out


def _folder(source: str) -> Path:
    path = Path(source) if source else None
    return path.parent if path is not None and path.suffix in (".yaml", ".yml") and path.is_file() else ENVIRONMENTS


def _copy(value: Any) -> Any:
    """A deep copy of a block of plain dicts and lists (what as_configuration hands out)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _environment(env: EnvironmentModel, data: dict[str, Any], source: str) -> Environment:
    """The dataclass callers use, from a checked model (blocks kept as written, limits with defaults)."""
    limits = {**LIMIT_DEFAULTS, **(data.get("limits") or {})}  # checked: known keys, numbers in range
    load_block = {}
    if env.load is not None:
        load_block = {"workers": env.load.workers, "master_bind": env.load.master_bind, "through_cdn": env.load.through_cdn}
    return Environment(
        name=env.name, kind=env.kind, allowed=env.allowed, production=env.production, sandbox=env.sandbox,
        net=env.net, site_url=env.site_url, limits=limits,
        kubernetes=dict(data["kubernetes"]) if env.kubernetes is not None else {},
        source=source, credentials={str(k): dict(v) for k, v in (data.get("credentials") or {}).items()},
        cloud_monitoring=dict(data["cloud_monitoring"]) if env.cloud_monitoring is not None else {},
        cloud_cdn=env.cloud_cdn.model_dump(exclude_none=True) if env.cloud_cdn is not None else {},
        load=load_block,
        trust=[dict(r) for r in data.get("trust") or []],
        health={str(k): dict(v) for k, v in (data.get("health") or {}).items()},
        regions=env.regions.model_dump(exclude_none=True) if env.regions is not None else {},
    )


def from_configuration(configuration: dict[str, Any] | None) -> Environment:
    """The environment of a running experiment: a mapping from ``--var-file``, or a name/path string."""
    value = (configuration or {}).get("gameday_environment", "sandbox")
    if isinstance(value, dict):
        return from_mapping(value, "configuration.gameday_environment")
    return load(str(value))
