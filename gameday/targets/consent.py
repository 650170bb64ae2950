"""Production consent: one rule, in one place, true only for an explicit yes.

Every command that can touch a production target takes ``--i-mean-production``; a ``chaos run``
takes ``--var gameday_i_mean_production:bool=true``; a process started by one of those inherits
``GAMEDAY_I_MEAN_PRODUCTION=1``. All three are read here and nowhere else::

    consent.given(flag=i_mean_production)            # a CLI flag
    consent.given(configuration=configuration)       # a chaos activity or control
    consent.export()                                 # children (chaos run, undo) inherit it

"Yes" is exactly the boolean ``True``, or one of the strings ``1``, ``true``, ``yes`` (any case) in the
variable. ``0``, ``false``, ``no``, an empty string or anything else is not consent.
"""

from __future__ import annotations

import os
from typing import Any

ENV = "GAMEDAY_I_MEAN_PRODUCTION"
VAR = "gameday_i_mean_production"  # the Chaos Toolkit configuration key (``--var gameday_i_mean_production:bool=true``)
YES = ("1", "true", "yes")


def explicit_yes(value: Any) -> bool:
    """True for ``True`` or a string spelling yes (``1``, ``true``, ``yes``); False for anything else."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in YES


def given(*, flag: bool = False, configuration: dict[str, Any] | None = None) -> bool:
    """Whether this process may touch a production target: the flag, the experiment's configuration
    key, or the inherited environment variable, each an explicit yes."""
    return (flag is True or explicit_yes((configuration or {}).get(VAR))
            or explicit_yes(os.environ.get(ENV)))


def export() -> None:
    """Pass consent on to child processes (``chaos run``, undo in another process)."""
    os.environ[ENV] = "1"


HINT_CLI = f"pass --i-mean-production (or set {ENV}=1) if you mean it"
HINT_CHAOS = f"pass --var {VAR}:bool=true (or set {ENV}=1) if you mean it"
