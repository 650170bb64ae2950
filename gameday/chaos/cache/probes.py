"""Object cache probes: what the cache holds, and the database's load (queries per second) the site
puts on it, measured from the database's own counters through the target."""

import time
from typing import Any, Dict

from ... import db_load
from ...errors import UsageError
from ..context import activity, target

__all__ = ["object_cache_status", "database_load"]

COUNTERS = ("Questions", "Com_select")


@activity
def object_cache_status(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any] | None:
    """Each object cache member's keys, hits and misses, or whether it answers
    (:meth:`gameday.targets.base.Target.object_cache_status`); None where there is no object cache."""
    return target(configuration, lock=False).object_cache_status()


@activity
def database_load(window_s: float = 5.0, configuration: Dict[str, Any] = None,
                  secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The database's queries per second over ``window_s`` seconds, from ``SHOW GLOBAL STATUS``
    (``Questions``, ``Com_select``) read at both ends: ``{"seconds": 5.0, "Questions": 412.6,
    "Com_select": 301.2}``. Taken before and while the cache is lost, the two give the spike::

        provider: {type: python, module: gameday.chaos.cache.probes, func: database_load, arguments: {window_s: 5}}
    """
    if not 0.5 <= float(window_s) <= 300:
        raise UsageError(f"window_s must be between 0.5 and 300 seconds, not {window_s!r}")
    tgt = target(configuration, lock=False)
    before = tgt.db_counters(COUNTERS)
    time.sleep(float(window_s))
    return db_load.rates(before, tgt.db_counters(COUNTERS))
