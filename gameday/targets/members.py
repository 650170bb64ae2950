"""What a playbook sees of a layer: its members, including those stopped on purpose (held) or
scaled away, and the replica counts the platform runs now and is meant to run.

``Target.nodes`` lists desired nodes only, so a held member (``gameday sandbox stop``, a pod
gameday stopped) is invisible there; a playbook must see exactly those. Every target answers
``target.view(layer)`` with a :class:`LayerView`::

    view = target.view("kafka")
    view.scaled_down                      # {"kafka": (2, 3)}: runs 2 of its baseline 3
    [m.name for m in view.held]           # ["kafka-3"]: nothing will start it again
    target.start_member("kafka-3")        # the member controls take the names seen here
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Member:
    """One member of a layer's baseline, running or not."""

    name: str
    workload: str
    layer: str
    index: int
    state: str  # running | stopped | backoff | pending | stopping | succeeded | gone
    ready: bool
    running: bool
    held: bool  # stopped on purpose: nothing brings it back until started
    wanted: bool  # within the workload's baseline replica count
    up_s: float | None  # seconds since its process (container) started
    restarts: int
    address: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LayerView:
    """A layer's workloads and members at one instant (``Target.view``)."""

    layer: str
    replicas: dict[str, int]  # workload -> replicas it runs now
    baseline: dict[str, int]  # workload -> replicas it should run
    members: tuple[Member, ...]  # the members the baseline wants, in order

    @property
    def scaled_down(self) -> dict[str, tuple[int, int]]:
        """workload -> (replicas now, baseline) for each workload running fewer than its baseline."""
        return {w: (self.replicas.get(w, 0), n) for w, n in self.baseline.items() if self.replicas.get(w, 0) < n}

    @property
    def held(self) -> list[Member]:
        return [m for m in self.members if m.held]

    def not_ready(self) -> list[Member]:
        return [m for m in self.members if m.running and not m.ready and not m.held]

    def stuck(self, grace_s: float) -> list[Member]:
        """Running for longer than ``grace_s`` and still not ready."""
        return [m for m in self.not_ready() if m.up_s is not None and m.up_s > grace_s]

    def restarting(self) -> list[Member]:
        """Crashed members the platform is restarting (with back-off) by itself."""
        return [m for m in self.members if not m.running and not m.held and m.index <= self.replicas.get(m.workload, 0)]
