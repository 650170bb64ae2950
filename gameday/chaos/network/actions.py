"""Network faults between web and a dependency: latency, bandwidth cut, connection reset, blackhole.

Every toxic is named ``gameday-<kind>`` and recorded on disk before it is added, so it is removed
by the rollback, by the next run, or by ``gameday cleanup``, even if this process is killed.
"""

import time
from typing import Any, Dict, List

import requests

from ...errors import GamedayError, UsageError
from .. import ledger
from ..context import activity, target

__all__ = ["add_latency", "cut_bandwidth", "reset_connections", "blackhole", "remove_toxics"]

DEPENDENCIES = ("db", "search", "kafka")


def _proxies(api: str, dependency: str) -> List[str]:
    if dependency not in DEPENDENCIES:
        raise UsageError(f"dependency must be one of {', '.join(DEPENDENCIES)}, not {dependency!r}")
    r = requests.get(f"{api}/proxies", timeout=5)
    r.raise_for_status()
    names = sorted(n for n in r.json() if n == dependency or n.startswith(f"{dependency}-"))
    if not names:
        raise UsageError(f"toxiproxy has no proxy for {dependency!r}")
    return names


def _inject(configuration, dependency: str, kind: str, toxic_type: str, attributes: Dict[str, Any],
            dry_run: bool, stream: str = "downstream") -> Dict[str, Any]:
    tgt = target(configuration, lock=not dry_run)
    api = tgt.toxiproxy_api()
    if api is None:
        raise UsageError(f"target {tgt.name!r} has no network-fault API (toxiproxy)",
                         hint="name one with kubernetes.toxiproxy_api in the environment file (a toxiproxy "
                              "the web tier talks to its dependencies through), or run network faults on the sandbox")
    proxies = _proxies(api, dependency)
    if dry_run:
        return {"target": tgt.name, "layer": "network", "would_touch": proxies}
    name = f"gameday-{kind}"
    fault_at = time.time()
    for proxy in proxies:
        with ledger.pending_undo(tgt.env, "remove_toxic", {"proxy": proxy, "toxic": name},
                                 reason=f"{kind} on web->{proxy}"):
            body = {"name": name, "type": toxic_type, "stream": stream, "toxicity": 1.0, "attributes": attributes}
            r = requests.post(f"{api}/proxies/{proxy}/toxics", json=body, timeout=5)
            if r.status_code == 409:
                raise UsageError(f"{proxy} already has a {name} toxic", hint="run `gameday cleanup` first")
            if r.status_code >= 300:
                raise GamedayError(f"toxiproxy refused {name} on {proxy}: {r.status_code} {r.text[:200]}")
    return {"target": tgt.name, "layer": "network", "touched": proxies, "toxic": name, "attributes": attributes,
            "fault_at": fault_at, "how": f"toxiproxy {toxic_type}"}


@activity
def add_latency(dependency: str = "search", latency_ms: int = 1000, jitter_ms: int = 0, dry_run: bool = False,
                configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Delay every response from ``dependency`` (db, search or kafka) to the web tier."""
    return _inject(configuration, dependency, "latency", "latency",
                   {"latency": int(latency_ms), "jitter": int(jitter_ms)}, dry_run)


@activity
def cut_bandwidth(dependency: str = "search", rate_kb: int = 1, dry_run: bool = False,
                  configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Limit the dependency's responses to ``rate_kb`` KB/s (0: nothing gets through)."""
    return _inject(configuration, dependency, "bandwidth", "bandwidth", {"rate": int(rate_kb)}, dry_run)


@activity
def reset_connections(dependency: str = "db", dry_run: bool = False, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Reset every connection to the dependency (TCP RST), new ones included, until removed."""
    return _inject(configuration, dependency, "reset", "reset_peer", {"timeout": 0}, dry_run)


@activity
def blackhole(dependency: str = "db", dry_run: bool = False, configuration: Dict[str, Any] = None,
              secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Cut the network to the dependency: connections open but no data flows (a partition, not a refusal)."""
    return _inject(configuration, dependency, "blackhole", "timeout", {"timeout": 0}, dry_run)


@activity
def remove_toxics(dependency: str = None, configuration: Dict[str, Any] = None,
                  secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback: remove every gameday toxic (of one dependency, or all) recorded for this target."""
    tgt = target(configuration)
    removed = []
    for record in ledger.pending(tgt.env):
        proxy = record["kwargs"].get("proxy", "")
        if record["undo"] == "remove_toxic" and (dependency is None or proxy.split("-")[0] == dependency):
            removed.append(ledger.run_record(record)["result"]["removed"])
    return {"target": tgt.name, "removed": removed}
