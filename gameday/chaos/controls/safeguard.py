"""The safeguard control: abort an experiment when the site's error rate passes an emergency threshold.

    controls:
      - name: gameday-safeguard
        provider:
          type: python
          module: gameday.chaos.controls.safeguard
          arguments: {max_error_ratio: 0.5, window_s: 10, sustained_s: 60}

A background thread sends a few requests a second through the load balancer. When the share of
failed requests over the trailing ``window_s`` seconds stays above ``max_error_ratio`` (default: the
environment's ``limits.emergency_error_ratio``) for ``sustained_s`` seconds, it logs why and
interrupts the experiment gracefully; with ``--rollback-strategy always`` the rollbacks then run.
"""

import collections
import logging
import threading
import time
from typing import Any, Dict

import requests
from chaoslib.exceptions import InterruptExecution
from chaoslib.exit import exit_gracefully

from ... import hostguard
from ...errors import GamedayError
from ...targets import consent, for_environment
from ..context import environment

__all__ = ["before_experiment_control", "after_experiment_control"]

log = logging.getLogger("chaostoolkit")
_watch: Dict[str, Any] = {}


class Watch(threading.Thread):
    def __init__(self, url: str, max_error_ratio: float, window_s: float, sustained_s: float, rate: float):
        super().__init__(daemon=True, name="gameday-safeguard")
        self.url, self.max_error_ratio, self.window_s, self.sustained_s = url, max_error_ratio, window_s, sustained_s
        self.interval = 1.0 / rate
        self.stop = threading.Event()
        self.samples: collections.deque = collections.deque()
        self.breach_since: float | None = None
        self.tripped: str | None = None

    def run(self) -> None:
        session = hostguard.session(refuse=False)  # a redirect to another host is an answer, not followed
        while not self.stop.wait(self.interval):
            try:
                ok = session.get(self.url, timeout=2).status_code < 500
            except requests.RequestException:
                ok = False
            now = time.monotonic()
            self.samples.append((now, ok))
            while self.samples and self.samples[0][0] < now - self.window_s:
                self.samples.popleft()
            ratio = 1 - sum(ok for _, ok in self.samples) / len(self.samples)
            if ratio > self.max_error_ratio and len(self.samples) >= 3:
                self.breach_since = self.breach_since or now
                if now - self.breach_since >= self.sustained_s:
                    self.tripped = (f"error ratio {ratio:.0%} over {self.window_s:g}s above {self.max_error_ratio:.0%} "
                                    f"for {now - self.breach_since:.0f}s")
                    log.error(f"gameday safeguard: {self.tripped}; interrupting the experiment")
                    exit_gracefully()
                    return
            else:
                self.breach_since = None


def before_experiment_control(context: Dict[str, Any], configuration: Dict[str, Any] = None,
                              secrets: Dict[str, Any] = None, max_error_ratio: float = None,
                              window_s: float = 10, sustained_s: float = 0, rate: float = 5,
                              path: str = "/", **kwargs: Any) -> None:
    """Start watching the site. It fails closed: a safeguard that cannot watch (no site URL, a bad
    argument, any exception) interrupts the experiment before the method, rather than let it run
    unguarded."""
    try:
        env = environment(configuration)
        url = for_environment(env, i_mean_production=consent.given(configuration=configuration)).reader_url() + path
        threshold = env.limits["emergency_error_ratio"] if max_error_ratio is None else max_error_ratio
        watch = Watch(url, float(threshold), float(window_s), float(sustained_s), float(rate))
    except GamedayError as err:
        raise InterruptExecution(f"gameday safeguard could not start, so the experiment does not either: {err}") from err
    except Exception as err:  # fail closed: Chaos Toolkit would log this at debug level and run the method unwatched
        raise InterruptExecution(f"gameday safeguard could not start ({type(err).__name__}: {err}); the experiment "
                                 "is stopped and nothing was injected -> check the safeguard's arguments and the "
                                 "environment file") from err
    _watch["current"] = watch
    watch.start()


def after_experiment_control(context: Dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    watch = _watch.pop("current", None)
    if watch is not None:
        watch.stop.set()
        watch.join(timeout=5)
        if watch.tripped and isinstance(state, dict):
            state.setdefault("gameday", {})["safeguard"] = watch.tripped
