"""What every gameday activity does first: find its target, check it may act, hold the lock.

Activities are wrapped with :func:`activity`, which maps our errors onto Chaos Toolkit's contract:
bad input and safety refusals (not allow-listed, locked, over the blast-radius cap, sandbox not
running) become ``InterruptExecution`` so the experiment stops before touching anything; other
failures become ``ActivityFailed``.
"""

import functools
import os
from typing import Any, Callable

from chaoslib.exceptions import ActivityFailed, InterruptExecution

from ..errors import GamedayError, NotRunning, UsageError
from ..targets import for_environment
from ..targets.base import Target
from ..targets.environment import Environment, from_configuration
from .lock import TargetLock, TargetLocked

PRODUCTION_FLAG = "gameday_i_mean_production"


class CapExceeded(UsageError):
    """A blast radius above what the target's environment file allows."""


def environment(configuration: dict | None) -> Environment:
    env = from_configuration(configuration)
    if env.production and not (configuration or {}).get(PRODUCTION_FLAG) and not os.environ.get("GAMEDAY_I_MEAN_PRODUCTION"):
        raise UsageError(f"{env.name!r} is a production target",
                         hint=f"pass --var {PRODUCTION_FLAG}:bool=true (or GAMEDAY_I_MEAN_PRODUCTION=1) if you mean it")
    return env


def target(configuration: dict | None, *, lock: bool = True) -> Target:
    """The experiment's target; takes the per-target lock for this process unless ``lock=False``."""
    env = environment(configuration)
    tgt = for_environment(env, i_mean_production=True)  # environment() checked the flag
    if lock:
        TargetLock(env.name).acquire(purpose="chaos experiment")
    return tgt


def activity(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for exported actions and probes (keeps the signature Chaos Toolkit inspects)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UsageError, TargetLocked, NotRunning) as err:
            raise InterruptExecution(f"{func.__name__}: {err}") from err
        except GamedayError as err:
            raise ActivityFailed(f"{func.__name__}: {err}") from err

    return wrapper


def pick_count(total: int, qty: float, mode: str, cap_percent: float, what: str) -> int:
    """How many of ``total`` nodes a blast radius means, refusing more than ``cap_percent``."""
    if mode not in ("fixed", "percentage"):
        raise UsageError(f"mode must be 'fixed' or 'percentage', not {mode!r}")
    if qty <= 0:
        raise UsageError(f"qty must be positive, not {qty!r}")
    count = int(qty) if mode == "fixed" else max(1, round(total * qty / 100.0))
    if count > total:
        raise UsageError(f"asked for {count} {what} but only {total} exist")
    if total and count * 100.0 / total > cap_percent + 1e-9:
        raise CapExceeded(f"{count} of {total} {what} is {count * 100 // total}%, above this target's cap of "
                          f"{cap_percent:g}%", hint="raise limits in the environment file if you mean it")
    return count
