"""The guard control: nothing is touched unless it is safe and well-formed, and nothing stays broken.

Add it to every experiment::

    controls:
      - name: gameday-guard
        provider: {type: python, module: gameday.chaos.controls.guard}

Before the experiment it: reads and validates the environment (typos, allow-list, production flag),
takes the target's lock, repairs faults a killed earlier run left behind (undo records on disk), and
checks that every layer the target names has something to act on (a Kubernetes namespace and selector
that match no pod stop the run), and dry-runs every gameday action of the experiment so that an unknown
argument or a blast radius above the cap stops the run before any fault. After the experiment,
whatever happened, it undoes any fault still recorded and releases the lock.
"""

import logging
from typing import Any, Dict, List

from chaoslib import substitute
from chaoslib.exceptions import InterruptExecution

from ...errors import GamedayError
from ...targets import for_environment
from .. import ledger
from ..context import environment
from ..lock import TargetLock

__all__ = ["before_experiment_control", "after_experiment_control"]

log = logging.getLogger("chaostoolkit")


def _gameday_activities(experiment: Dict[str, Any]) -> List[Dict[str, Any]]:
    items = list(experiment.get("method", [])) + list(experiment.get("rollbacks", []))
    items += list((experiment.get("steady-state-hypothesis") or {}).get("probes", []))
    return [a for a in items if isinstance(a, dict) and a.get("type") in ("action", "probe")
            and str(a.get("provider", {}).get("module", "")).startswith("gameday.chaos.")]


def check_experiment(experiment: Dict[str, Any], configuration: Dict[str, Any], secrets: Dict[str, Any]) -> List[str]:
    """Dry-run every gameday action that can dry-run; returns what each would touch.

    Raises InterruptExecution (via the activities' own checks) on any bad argument.
    """
    import importlib
    import inspect

    plans = []
    for act in _gameday_activities(experiment):
        provider = act["provider"]
        try:
            func = getattr(importlib.import_module(provider["module"]), provider["func"])
        except (ImportError, AttributeError) as err:
            raise InterruptExecution(f"activity {act.get('name')!r}: no function {provider.get('func')!r} in "
                                     f"{provider['module']} (see `chaos discover gameday`)") from err
        if "dry_run" not in inspect.signature(func).parameters or act["type"] != "action":
            continue
        args = substitute(provider.get("arguments", {}) or {}, configuration, secrets)
        unknown = set(args) - set(inspect.signature(func).parameters)
        if unknown:
            raise InterruptExecution(f"activity {act.get('name')!r}: unknown argument(s) {', '.join(sorted(unknown))}")
        plan = func(**{**args, "dry_run": True}, configuration=configuration, secrets=secrets)
        plans.append(f"{act.get('name')}: would touch {', '.join(plan.get('would_touch', [])) or 'nothing'}")
    return plans


def before_experiment_control(context: Dict[str, Any], configuration: Dict[str, Any] = None,
                              secrets: Dict[str, Any] = None, **kwargs: Any) -> None:
    try:
        env = environment(configuration)
        for_environment(env).check_layers()  # allow-list, production flag, layers that match nothing
        replaced = TargetLock(env.name).acquire(purpose=f"chaos: {context.get('title', '?')}")
        if replaced:
            log.warning(f"gameday: took over the lock of a dead run (pid {replaced.get('pid')})")
        for repaired in ledger.run_pending(env.name):
            log.warning(f"gameday: undid a fault left by an earlier run: {repaired['reason']}")
        for plan in check_experiment(context, configuration, secrets):
            log.info(f"gameday: {plan}")
    except GamedayError as err:
        raise InterruptExecution(f"gameday guard: {err}") from err


def after_experiment_control(context: Dict[str, Any], state: Any = None, configuration: Dict[str, Any] = None,
                             secrets: Dict[str, Any] = None, **kwargs: Any) -> None:
    try:
        env = environment(configuration)
    except GamedayError as err:
        log.error(f"gameday guard: {err}")
        return
    lock = TargetLock(env.name)
    if not lock.held_by_me():
        return  # another run holds the target: its faults are its own to undo
    if lock.inherited():
        return  # the game day that started us undoes and releases
    try:
        for repaired in ledger.run_pending(env.name):
            log.warning(f"gameday: undid a fault the rollbacks left: {repaired['reason']}")
    finally:
        lock.release()
