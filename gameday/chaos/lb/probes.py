"""Load balancer probes: its instances (one is a single point of failure)."""

from typing import Any, Dict

from ..context import activity, target

__all__ = ["load_balancer_instances"]


@activity
def load_balancer_instances(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """``{"members": ["lb-1"], "ready": 1, "single_point_of_failure": true}``: with one instance, losing
    it loses the whole site however fast it comes back."""
    nodes = target(configuration, lock=False).nodes("lb")
    return {"members": [n.name for n in nodes], "ready": sum(1 for n in nodes if n.ready),
            "single_point_of_failure": len(nodes) == 1}
