"""Where the sandbox keeps things.

- The download cache (Kafka jars, the OpenSearch distribution, the toxiproxy binary) is shared by
  every sandbox and every clone: ``$GAMEDAY_CACHE``, else ``/var/cache/gameday`` for root, else
  ``~/.cache/gameday``.
- A sandbox's state (configs, data, logs, the supervisor's socket) lives in
  ``$GAMEDAY_STATE_DIR/<name>``, else ``/var/lib/gameday/<name>`` for root, else
  ``~/.local/state/gameday/<name>``. It sits outside the project so that OpenSearch, which runs as an
  unprivileged system user, can reach its files even when the clone lives in a private directory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..statedir import state_root


def _is_root() -> bool:
    return os.geteuid() == 0


def cache_dir() -> Path:
    """The shared download cache (created on demand)."""
    env = os.environ.get("GAMEDAY_CACHE")
    if env:
        return Path(env)
    if _is_root():
        return Path("/var/cache/gameday")
    return Path.home() / ".cache" / "gameday"




@dataclass(frozen=True)
class SandboxPaths:
    """The files of one named sandbox. Build with ``SandboxPaths.for_name("default")``."""

    name: str
    home: Path

    @classmethod
    def for_name(cls, name: str) -> "SandboxPaths":
        return cls(name=name, home=state_root() / name)

    @property
    def sandbox_id(self) -> str:
        """A stable marker put into every member's environment, so that ``down`` can find and stop
        every process this sandbox started even after the supervisor crashed."""
        return hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def topology_file(self) -> Path:
        return self.home / "topology.json"

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisor_pid_file(self) -> Path:
        return self.run / "supervisor.pid"

    @property
    def supervisor_log(self) -> Path:
        return self.logs / "supervisor.log"

    def member_log(self, member: str) -> Path:
        return self.logs / f"{member}.log"

    def ensure(self) -> None:
        for d in (self.conf, self.data, self.logs, self.run, self.secrets):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.secrets, 0o700)
        # OpenSearch runs as an unprivileged user and must traverse to its own directories.
        for d in (self.home.parent, self.home, self.conf, self.data, self.logs):
            os.chmod(d, os.stat(d).st_mode | 0o011)
