"""Network probes: which toxics are active."""

from typing import Any, Dict, List

import requests

from ..context import activity, target

__all__ = ["active_toxics"]


@activity
def active_toxics(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> List[str]:
    """Every toxic currently active, as ``proxy/toxic`` (empty in a healthy steady state)."""
    api = target(configuration, lock=False).toxiproxy_api()
    if api is None:
        return []
    r = requests.get(f"{api}/proxies", timeout=5)
    r.raise_for_status()
    return sorted(f"{name}/{t['name']}" for name, p in r.json().items() for t in p.get("toxics", []))
