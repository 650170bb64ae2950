"""The db playbook applied as an undo runs it: :func:`.restore.restore_db_content` and
:func:`.failover.recover_db_primary` each call :func:`apply`, then read what their own step left
(``db_content.LAST_RESTORE``, ``db_failover.LAST``)::

    target, result = apply(env, failing="restore articles")
"""

from typing import Any

from ...errors import GamedayError
from ...targets import for_environment
from ...targets.environment import Environment


def apply(env: Environment, *, failing: str) -> tuple[Any, Any]:
    """Run the db playbook with apply on ``env``'s target; harmless when nothing is wrong (it finds
    the database healthy and does nothing). Returns ``(target, PlaybookResult)``; a failed playbook
    raises a GamedayError saying it could not ``failing``, naming its failed step."""
    from ...recovery import FAILED, load_playbook, run
    from ...recovery.context import Context
    target = for_environment(env)
    result = run(load_playbook("db"), Context(target=target), apply=True)
    if result.outcome == FAILED:
        raise GamedayError(f"the db playbook could not {failing}: {result.error}",
                           hint="`gameday playbook db --apply` shows each step; `gameday cleanup` retries")
    return target, result
