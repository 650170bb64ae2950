"""Web tier probes."""

import time
from typing import Any, Dict

from ...deadline import wait_until
from ..context import activity, target

__all__ = ["web_pods_ready", "all_web_pods_ready", "wait_for_web_pods_ready"]


@activity
def web_pods_ready(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """How many web pods are ready, of how many desired: ``{"ready": 3, "desired": 3, "all_ready": true}``."""
    nodes = target(configuration, lock=False).nodes("web")
    ready = sum(1 for n in nodes if n.ready)
    return {"ready": ready, "desired": len(nodes), "all_ready": ready == len(nodes)}


@activity
def all_web_pods_ready(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """Steady-state probe: True when every desired web pod is ready."""
    return bool(web_pods_ready(configuration=configuration)["all_ready"])


@activity
def wait_for_web_pods_ready(timeout: float = 120, configuration: Dict[str, Any] = None,
                            secrets: Dict[str, Any] = None) -> float:
    """Block until every web pod is ready; returns the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    tgt = target(configuration, lock=False)
    wait_until(lambda: all(n.ready for n in tgt.nodes("web")), timeout=timeout, what="every web pod to be ready")
    return round(time.monotonic() - started, 3)
