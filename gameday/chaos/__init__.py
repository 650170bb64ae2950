"""gameday's Chaos Toolkit extension: faults and probes per platform layer, and safety controls.

Layout (like chaostoolkit-kubernetes): ``gameday/chaos/<layer>/actions.py`` and ``probes.py`` for
each layer in :data:`LAYERS`, ``gcp/probes.py`` (the load balancer's SLO from Cloud Monitoring), and
``controls/`` (``guard``: allow-list, lock, undo records and
argument checks before anything is touched; ``safeguard``: abort when the site's error rate passes
the emergency threshold). ``discover()`` and :func:`activities` walk the package, so the activity
list cannot drift from the code.

Experiments call activities as ``{"type": "python", "module": "gameday.chaos.kafka.actions",
"func": "kill_broker", "arguments": {"role": "partition-leader"}}`` and pass the target with
``--var-file environments/<target>.yaml``.
"""

import importlib
import pkgutil
from typing import Any, Dict, List

from chaoslib.discovery.discover import discover_activities, initialize_discovery_result

from .. import __version__

__all__ = ["discover", "activities", "LAYERS"]

LAYERS = ("web", "kafka", "search", "db", "network", "site")


def _activity_modules() -> List[tuple]:
    found = []
    for layer in pkgutil.iter_modules(__path__):
        if not layer.ispkg or layer.name == "controls":
            continue
        sub = importlib.import_module(f"{__name__}.{layer.name}")
        for mod in pkgutil.iter_modules(sub.__path__):
            if mod.name in ("actions", "probes"):
                found.append((f"{__name__}.{layer.name}.{mod.name}", mod.name[:-1]))
    return sorted(found)


def activities() -> List[Dict[str, Any]]:
    """Every exported action and probe, found by walking the package."""
    out: List[Dict[str, Any]] = []
    for module, kind in _activity_modules():
        out.extend(discover_activities(module, kind))
    return out


def discover(discover_system: bool = True) -> Dict[str, Any]:
    """Chaos Toolkit discovery entry point (``chaos discover gameday``)."""
    discovery = initialize_discovery_result("gameday", __version__, "gameday")
    discovery["activities"].extend(activities())
    return discovery
