"""Event relay probes: the outbox's backlog (rows written and not yet relayed to Kafka)."""

import time
from typing import Any, Dict

from ... import outbox
from ...deadline import wait_until
from ...errors import GamedayError
from ..context import activity, target

__all__ = ["outbox_backlog", "wait_for_outbox_drained"]


@activity
def outbox_backlog(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The outbox rows not yet relayed: ``{"unsent": 30, "first_unsent_id": 121, "max_id": 150,
    "oldest_unsent_s": 12.4}`` (:func:`gameday.outbox.backlog`)."""
    return outbox.backlog(target(configuration, lock=False))


@activity
def wait_for_outbox_drained(timeout: float = 120, configuration: Dict[str, Any] = None,
                            secrets: Dict[str, Any] = None) -> float:
    """Block until no outbox row is unsent (the backlog drained); returns seconds waited. Raises
    DeadlineExceeded after ``timeout`` seconds, naming the rows left."""
    tgt = target(configuration, lock=False)
    started = time.monotonic()
    last: Dict[str, Any] = {}

    def drained() -> bool:
        try:
            last.update(outbox.backlog(tgt))
        except GamedayError:
            return False
        return last["unsent"] == 0

    wait_until(drained, timeout=float(timeout), interval=0.5,
               what="the outbox backlog to drain (no row with sent_at NULL)")
    return round(time.monotonic() - started, 3)
