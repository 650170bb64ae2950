"""Wake a reconcile loop when a watched kind changes (watches renewed, errors retried with a pause)::

    trigger = Trigger(stop)
    trigger.watch(core.list_namespaced_pod, "gameday")
    while not stop.is_set():
        trigger.wait(5.0)          # an event came, or 5 s passed (a resync)
        reconcile()
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import urllib3
from kubernetes import watch
from kubernetes.client.rest import ApiException

from .nodes import raw

__all__ = ["API_ERRORS", "Trigger", "raw"]

log = logging.getLogger("gameday.kube.watching")

API_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, KeyError)
WATCH_SECONDS = 60


class Trigger:
    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.event = threading.Event()

    def watch(self, list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Watch ``list_fn(*args, **kwargs)`` in a daemon thread; every event fires the trigger."""
        def loop() -> None:
            while not self.stop.is_set():
                try:
                    for _event in watch.Watch().stream(list_fn, *args, timeout_seconds=WATCH_SECONDS,
                                                       _request_timeout=WATCH_SECONDS + 10, **kwargs):
                        self.event.set()
                        if self.stop.is_set():
                            return
                except API_ERRORS as err:
                    log.warning("watch of %s interrupted (%s); again in 2s", list_fn.__name__, err)
                    self.stop.wait(2.0)
        threading.Thread(target=loop, name=f"watch-{list_fn.__name__}", daemon=True).start()

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)
        self.event.clear()
