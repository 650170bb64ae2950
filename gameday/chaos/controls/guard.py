"""The guard control: nothing is touched unless it is safe and well-formed, and nothing stays broken.

Add it to every experiment::

    controls:
      - name: gameday-guard
        provider: {type: python, module: gameday.chaos.controls.guard}

Before the experiment it: reads and validates the environment (typos, allow-list, production flag),
takes the target's lock, repairs faults a killed earlier run left behind (undo records on disk), and
checks that every layer the target names has something to act on (a Kubernetes namespace and selector
that match no pod stop the run), and dry-runs every gameday action of the experiment so that an unknown
argument or a blast radius above the cap stops the run before any fault. The dry run is cumulative:
each action counts what the actions before it would take down (:func:`gameday.chaos.caps.simulation`).
After each activity of the hypothesis and the method it stops the run (``interrupted``) when the
activity refused to act (locked, bad input, the twin not running: :func:`gameday.chaos.context.take_refusal`):
Chaos Toolkit would log the refusal as a failed activity and run the actions after it. A refused rollback
does not stop the rollbacks after it. After the experiment, whatever happened, it undoes any fault still
recorded and releases the lock.

It fails closed: Chaos Toolkit logs a control's unexpected exception at debug level and carries on,
so every exception in the before hook, expected or not, becomes ``InterruptExecution``: the method
never starts and nothing is injected.
"""

import importlib
import inspect
import logging
import threading
from typing import Any, Dict, List, Optional

from chaoslib import substitute
from chaoslib.exceptions import InterruptExecution

from ...errors import GamedayError
from ...targets import consent, for_environment
from .. import caps, ledger
from ..context import environment, take_refusal
from ..lock import lock_for, release_taken

__all__ = ["before_experiment_control", "after_experiment_control", "after_activity_control",
           "after_method_control", "before_rollback_control"]

log = logging.getLogger("chaostoolkit")
SETTLE_S = 60.0  # after repairing an earlier run's faults: how long members may take to be ready again
_rolling_back = threading.Event()  # set from the rollbacks on: a refusal there does not stop the others


def _gameday_activities(experiment: Dict[str, Any]) -> List[Dict[str, Any]]:
    items = list(experiment.get("method", [])) + list(experiment.get("rollbacks", []))
    items += list((experiment.get("steady-state-hypothesis") or {}).get("probes", []))
    return [a for a in items if isinstance(a, dict) and a.get("type") in ("action", "probe")
            and str(a.get("provider", {}).get("module", "")).startswith("gameday.chaos.")]


def check_experiment(experiment: Dict[str, Any], configuration: Dict[str, Any], secrets: Dict[str, Any]) -> List[str]:
    """Dry-run every gameday action that can dry-run, in order, each counting what the ones before
    it would take down; returns what each would touch::

        check_experiment(experiment, configuration, secrets)   # ["kill-search-1: would touch search-1", ...]

    Raises InterruptExecution (via the activities' own checks) on any bad argument or passed cap.
    """
    plans = []
    with caps.simulation():
        for act in _gameday_activities(experiment):
            plan = _dry_run(act, configuration, secrets)
            if plan is not None:
                plans.append(plan)
    return plans


def _dry_run(act: Dict[str, Any], configuration: Dict[str, Any], secrets: Dict[str, Any]) -> Optional[str]:
    """One activity's dry run: what it would touch, or None when it has no dry run (probes, rollbacks)."""
    provider = act["provider"]
    try:
        func = getattr(importlib.import_module(provider["module"]), provider["func"])
    except (ImportError, AttributeError) as err:
        raise InterruptExecution(f"activity {act.get('name')!r}: no function {provider.get('func')!r} in "
                                 f"{provider['module']} (see `chaos discover gameday`)") from err
    parameters = inspect.signature(func).parameters
    if "dry_run" not in parameters or act["type"] != "action":
        return None
    args = substitute(provider.get("arguments", {}) or {}, configuration, secrets)
    unknown = set(args) - set(parameters)
    if unknown:
        raise InterruptExecution(f"activity {act.get('name')!r}: unknown argument(s) {', '.join(sorted(unknown))}")
    plan = func(**{**args, "dry_run": True}, configuration=configuration, secrets=secrets)
    return f"{act.get('name')}: would touch {', '.join(plan.get('would_touch', [])) or 'nothing'}"


def before_experiment_control(context: Dict[str, Any], configuration: Dict[str, Any] = None,
                              secrets: Dict[str, Any] = None, **kwargs: Any) -> None:
    """Chaos Toolkit calls it before the experiment; any exception becomes InterruptExecution."""
    _rolling_back.clear()
    take_refusal()  # one left by an earlier experiment in this process is not this one's
    try:
        env = environment(configuration)
        tgt = for_environment(env, i_mean_production=consent.given(configuration=configuration))
        tgt.check_layers()  # allow-list, production flag, layers that match nothing, a twin that is not running
        replaced = lock_for(env).acquire(purpose=f"chaos: {context.get('title', '?')}")
        if replaced:
            log.warning(f"gameday: took over the lock of a dead run (pid {replaced.get('pid')})")
        repaired = ledger.run_pending(env)
        for record in repaired:
            log.warning(f"gameday: undid a fault left by an earlier run: {record['reason']}")
        if repaired:  # what the fault made unready (the web tier behind a cut) comes back before the caps count it
            still = caps.wait_until_ready(tgt, timeout=SETTLE_S)
            if still:
                log.warning(f"gameday: still down {SETTLE_S:g}s after the repair: {caps.describe(still)}")
        for plan in check_experiment(context, configuration, secrets):
            log.info(f"gameday: {plan}")
    except InterruptExecution as err:
        raise InterruptExecution(f"gameday guard: {err}") from err
    except GamedayError as err:
        raise InterruptExecution(f"gameday guard: {err}") from err
    except Exception as err:  # fail closed: Chaos Toolkit would log this at debug level and run the method
        raise InterruptExecution(f"gameday guard failed ({type(err).__name__}: {err}); the experiment is stopped "
                                 "and nothing was injected -> check the environment file (gameday_environment) "
                                 "and the experiment; this may be a gameday bug") from err


def after_activity_control(context: Dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """Chaos Toolkit calls it after every activity: an activity that refused to act (it raised
    ``InterruptExecution``, which the Python provider reports as a failure and carries on) stops the run
    here, where Chaos Toolkit honours it, unless the rollbacks have begun. Only on the main thread: a
    background activity's hook runs in a pool thread whose exception Chaos Toolkit drops, so its refusal
    waits for the main thread's next activity or the method's end (:func:`after_method_control`)."""
    _stop_if_refused(f"after activity {context.get('name')!r}")


def after_method_control(context: Any = None, state: Any = None, **kwargs: Any) -> None:
    """Chaos Toolkit calls it when the method ends: a refusal of a background activity not yet raised
    stops the run here, before the steady state is checked again."""
    _stop_if_refused("at the end of the method")


def _stop_if_refused(where: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    refusal = take_refusal()
    if refusal is not None and _rolling_back.is_set():
        log.warning(f"gameday guard: a rollback refused ({refusal}); the other rollbacks go on")
    elif refusal is not None:
        raise InterruptExecution(f"gameday guard: an activity refused or was interrupted ({refusal}), so the "
                                 f"experiment stops {where} and the actions after it do not run")


def before_rollback_control(context: Any = None, **kwargs: Any) -> None:
    """Chaos Toolkit calls it before the rollbacks: from here a refused rollback does not stop the others."""
    _rolling_back.set()


def after_experiment_control(context: Dict[str, Any], state: Any = None, configuration: Dict[str, Any] = None,
                             secrets: Dict[str, Any] = None, **kwargs: Any) -> None:
    """Chaos Toolkit calls it after the experiment, whatever happened: undo what is still recorded
    and release the locks this run holds. Errors are logged (the run is over; nothing to interrupt)."""
    try:
        env = environment(configuration)
    except Exception as err:  # the before hook refused the same environment and touched nothing
        log.error(f"gameday guard: {type(err).__name__}: {err}")
        return
    lock = lock_for(env)
    try:
        if not lock.held_by_me():
            return  # another run holds the target: its faults are its own to undo
        if lock.inherited():
            return  # the game day that started us undoes and releases
        try:
            for repaired in ledger.run_pending(env):
                log.warning(f"gameday: undid a fault the rollbacks left: {repaired['reason']}")
        finally:
            lock.release()
    finally:
        release_taken()  # the other locks this process took itself (a region drill's other region), whatever happened
