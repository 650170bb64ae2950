"""Which twin database member is the primary, which replicate from it, and the replication mode.

Kept in ``<state>/data/db-roles.json`` (no secrets; any process can read it): the one record of the
roles, read by the members' init files (:func:`role_sql`, rewritten on every change), by the stable
endpoint's upstream (toxiproxy's ``mariadb-primary`` proxy) and by the target::

    roles = load(twin)          # Roles(primary='db-1', replicas=['db-2'], fenced=[], lost=[], mode='async')
    roles.primary

``fenced`` members are read-only and do not replicate (an old primary back after a failover, until
the db playbook rebuilds it as a replica); ``lost`` members were lost by a fault (held stopped: the
playbook promotes a replica rather than wait for them).

A warm standby region (:mod:`gameday.sandbox.regions`) records its **upstream**: the active region's
stable database endpoint (``host:port``). Its primary then stays read-only and replicates from there
(asynchronous, GTID), its own replicas from it as usual; :func:`ensure` takes the upstream from the
twin's shape, :mod:`gameday.sandbox.db_region` changes both when it promotes or demotes the region.
``region_fenced``: the region was switched away from (a planned promotion of the other one) and its
primary stays read-only, replicating from nowhere, until it is demoted to a standby.

The replication **mode** is a setting of the twin: ``async`` (the default) or ``semisync``
(MariaDB's built-in semi-synchronous replication, ``AFTER_SYNC``: a commit is acknowledged once a
replica has it, falling back to asynchronous after :data:`SEMISYNC_TIMEOUT_MS` without a replica so
the primary never hangs). Chosen with ``GAMEDAY_DB_REPLICATION`` when the twin is brought up (kept
from then on), or at run time through the target (``SandboxTarget.set_db_replication``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

from ..errors import UsageError

MODES = ("async", "semisync")
ENV_VAR = "GAMEDAY_DB_REPLICATION"
SEMISYNC_TIMEOUT_MS = 2000


def check_mode(value, *, source: str = "the replication mode") -> str:
    """``value`` if it names a mode, else a UsageError saying which modes there are."""
    if value not in MODES:
        raise UsageError(f"{source} must be one of {', '.join(MODES)}, not {value!r}",
                         hint=f"e.g. {ENV_VAR}=semisync gameday sandbox up")
    return value


def mode_from_env() -> str | None:
    """The mode ``GAMEDAY_DB_REPLICATION`` asks for, or None when it is unset (empty counts as unset)."""
    value = os.environ.get(ENV_VAR, "").strip()
    return check_mode(value, source=ENV_VAR) if value else None


@dataclass
class Roles:
    primary: str = "db-1"
    replicas: list[str] = field(default_factory=lambda: ["db-2"])
    fenced: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    mode: str = "async"
    epoch: int = 0  # +1 at every change of primary
    promoted_at_gtid: str | None = None  # the new primary's GTID position when it was promoted
    upstream: str | None = None  # a standby region: the active region's stable endpoint, host:port
    region_fenced: bool = False  # the region was switched away from: its primary stays read-only
    changed_at: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _path(twin):
    return twin.paths.data / "db-roles.json"


def load(twin) -> Roles:
    """The recorded roles, or a new twin's (db-1 primary, db-2 its replica, the environment's mode)."""
    path = _path(twin)
    if not path.exists():
        return Roles(mode=mode_from_env() or "async")
    raw = json.loads(path.read_text())
    roles = Roles(**{k: raw[k] for k in Roles.__dataclass_fields__ if k in raw})
    check_mode(roles.mode, source=f"mode in {path}")
    return roles


def save(twin, roles: Roles) -> None:
    """Write the record whole (a reader never sees half of it)."""
    path = _path(twin)
    path.parent.mkdir(parents=True, exist_ok=True)
    roles.changed_at = time.time()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(roles.to_dict(), indent=1))
    tmp.replace(path)


def upstream_of(twin) -> str | None:
    """The stable database endpoint (``host:port``) of the region ``twin``'s shape says it replicates
    from, or None for a region of its own (:class:`~gameday.sandbox.shape.Shape`)."""
    up = twin.shape.upstream
    if up is None:
        return None
    from .twin import Twin
    return Twin.create(up.twin, up.net).db_addr()


def ensure(twin) -> Roles:
    """At ``up``: the record exists, with ``GAMEDAY_DB_REPLICATION``'s mode when it is set, and the
    upstream the twin's shape names (a standby region) or none."""
    roles = load(twin)
    wanted = mode_from_env()
    upstream = upstream_of(twin)
    if wanted and wanted != roles.mode or not _path(twin).exists() or roles.upstream != upstream:
        roles.mode = wanted or roles.mode
        roles.upstream = upstream
        if upstream:
            roles.region_fenced = False
        save(twin, roles)
    return roles


def mode_sql(mode: str) -> str:
    """The statements that put a member in ``mode`` (either role: both halves are set, each server
    uses the half its role needs)."""
    on = "ON" if check_mode(mode) == "semisync" else "OFF"
    return (f"SET GLOBAL rpl_semi_sync_master_enabled = {on};\n"
            f"SET GLOBAL rpl_semi_sync_slave_enabled = {on};\n"
            f"SET GLOBAL rpl_semi_sync_master_timeout = {SEMISYNC_TIMEOUT_MS};\n"
            "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC';\n")
