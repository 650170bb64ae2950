"""What every gameday activity does first: find its target, check it may act, hold the lock.

Activities are wrapped with :func:`activity`, which maps our errors onto Chaos Toolkit's contract:
bad input and safety refusals (not allow-listed, locked, over the blast-radius cap, sandbox not
running) become ``InterruptExecution`` so the experiment stops before touching anything; other
failures become ``ActivityFailed``. Chaos Toolkit's Python provider turns any exception an activity
raises, ``InterruptExecution`` too, into ``ActivityFailed`` and goes on with the method, so each refusal
is also recorded (:func:`take_refusal`); the guard control's after-activity hook raises it again where
Chaos Toolkit does stop: the run ends ``interrupted`` and the actions after the refused one never run.
So is Chaos Toolkit's own ``InterruptExecution`` from its SIGTERM handler when it lands inside one of our
activities (the runner died: its children get SIGTERM), which the provider would otherwise report as a
failed activity before running the rest of the method.

Production consent is :mod:`gameday.targets.consent`'s one rule: ``--var gameday_i_mean_production:bool=true``
(or ``GAMEDAY_I_MEAN_PRODUCTION=1`` inherited). A run given consent passes it on to everything it
does in this process and its children, so the undo of a fault it injected (a rollback, the guard's
repair, an undo record) acts with the same consent.
"""

import functools
import threading
from typing import Any, Callable

from chaoslib.exceptions import ActivityFailed, InterruptExecution

from ..errors import GamedayError, NotRunning, UsageError
from ..targets import consent, for_environment
from ..targets.base import Target
from ..targets.environment import Environment, from_configuration
from .caps import CapExceeded
from .lock import TargetLocked, lock_for

PRODUCTION_FLAG = consent.VAR

__all__ = ["CapExceeded", "activity", "environment", "ignored", "take_refusal", "target"]

_refusals: list[str] = []  # this process's refusals not yet taken by the guard (activities may run in threads)
_refusals_lock = threading.Lock()


def take_refusal() -> str | None:
    """The first safety refusal an activity raised since the last call, or None; clears them all.
    The guard control calls it after every activity::

        refusal = take_refusal()
        if refusal: raise InterruptExecution(refusal)
    """
    with _refusals_lock:
        first = _refusals[0] if _refusals else None
        _refusals.clear()
    return first


def environment(configuration: dict | None) -> Environment:
    """The experiment's environment, refused when it is production and consent was not given.

    With consent, it is exported (``GAMEDAY_I_MEAN_PRODUCTION=1``) so that undo code, which reads
    the environment from an undo record, may act on the target the fault was injected into."""
    env = from_configuration(configuration)
    if env.production:
        if not consent.given(configuration=configuration):
            hint = consent.HINT_CHAOS
            if consent.VAR not in (configuration or {}):  # Chaos Toolkit drops a --var the experiment does not declare
                hint += (f"; the experiment must declare `{consent.VAR}: false` under configuration: for that --var "
                         "to reach it")
            raise UsageError(f"{env.name!r} is a production target; nothing was touched", hint=hint)
        consent.export()
    return env


def target(configuration: dict | None, *, lock: bool = True) -> Target:
    """The experiment's target; takes the per-target lock for this process unless ``lock=False``."""
    env = environment(configuration)
    tgt = for_environment(env, i_mean_production=consent.given(configuration=configuration))
    if lock:
        lock_for(env).acquire(purpose="chaos experiment")
    return tgt


def ignored(**unused: Any) -> None:
    """Refuse arguments an action would ignore: ``ignored(name=(name, "choose: name"))`` raises a
    UsageError naming each argument that was given (not None) and what makes it count."""
    given = {arg: why for arg, (value, why) in unused.items() if value is not None}
    if given:
        raise UsageError("; ".join(f"argument {arg!r} is used only with {why}" for arg, why in given.items())
                         + "; nothing was touched", hint="drop the argument, or set what it needs")


def activity(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for exported actions and probes (keeps the signature Chaos Toolkit inspects)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InterruptExecution as err:
            # Chaos Toolkit's SIGTERM handler raised it inside this activity (the runner died, or was
            # stopped): its Python provider would report a failed activity and run the rest of the method,
            # further faults included. Recorded, the guard raises it again where the run does stop.
            with _refusals_lock:
                _refusals.append(f"{func.__name__}: interrupted ({err})")
            raise
        except (UsageError, TargetLocked, NotRunning) as err:
            with _refusals_lock:
                _refusals.append(f"{func.__name__}: {err}")
            raise InterruptExecution(f"{func.__name__}: {err}") from err
        except GamedayError as err:
            raise ActivityFailed(f"{func.__name__}: {err}") from err

    return wrapper


def pick_count(total: int, qty: float, mode: str, what: str) -> int:
    """How many of ``total`` members a blast radius (``qty``, ``mode: fixed|percentage``) means.
    The cap is checked separately, against what is already down (:func:`gameday.chaos.caps.check`)."""
    if mode not in ("fixed", "percentage"):
        raise UsageError(f"mode must be 'fixed' or 'percentage', not {mode!r}")
    if qty <= 0:
        raise UsageError(f"qty must be positive, not {qty!r}")
    count = int(qty) if mode == "fixed" else max(1, round(total * qty / 100.0))
    if count > total:
        raise UsageError(f"asked for {count} {what} but only {total} exist")
    return count


