"""A recovery playbook run inside an experiment's method, so the drill proves the playbook rather
than its rollback (used by the kafka and web actions)::

    return playbook_activity.apply(tgt, "kafka", failing="bring Kafka back",
                                   hint="`gameday playbook kafka --apply` shows each step")
"""

from typing import Any, Dict

from ..errors import GamedayError
from . import ledger


def apply(tgt, layer: str, *, failing: str, hint: str) -> Dict[str, Any]:
    """Run ``layer``'s playbook with apply on target ``tgt``. Returns ``{"target", "layer", "outcome",
    "findings", "steps", "settled"}``; a failed playbook raises a GamedayError saying it could not
    ``failing``, naming its failed step. After a success, the undo records this experiment's own
    process wrote for ``layer`` are settled (:func:`gameday.chaos.ledger.settle`): the playbook removed
    those faults, and the run's account says so."""
    from ..recovery import FAILED, load_playbook, run
    from ..recovery.context import Context
    result = run(load_playbook(layer), Context(target=tgt), apply=True)
    if result.outcome == FAILED:
        raise GamedayError(f"the {layer} playbook could not {failing}: {result.error}", hint=hint)
    settled = ledger.settle(tgt.env, layer, by=f"the {layer} playbook")
    return {"target": tgt.name, "layer": layer, "outcome": result.outcome,
            "findings": [f.to_dict() for f in result.findings], "steps": result.step_timings(),
            "settled": {"records": [r["id"] for r in settled["settled"]], "failed": settled["failed"]}}
