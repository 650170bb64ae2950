"""An argument an action would ignore is an error, raised before the target is even looked up (so
these run without a twin): `kill_data_node(name: X)` without `choose: name` once killed another node."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import InterruptExecution

from gameday.chaos.kafka.actions import kill_broker
from gameday.chaos.search.actions import kill_data_node

NOWHERE = {"gameday_environment": {"name": "args", "kind": "sandbox", "allowed": True, "sandbox": "absent-args", "net": 78}}


@pytest.mark.parametrize("call, words", [
    (lambda: kill_data_node(name="search-2", dry_run=True, configuration=NOWHERE),
     "kill_data_node: argument 'name' is used only with choose: name"),
    (lambda: kill_data_node(choose="name", name="search-2", index="content", dry_run=True, configuration=NOWHERE),
     "argument 'index' is used only with choose: most-primaries"),
    (lambda: kill_broker(role="controller", topic="content-events", dry_run=True, configuration=NOWHERE),
     "argument 'topic' is used only with role: partition-leader"),
    (lambda: kill_broker(role="random", broker_id=2, dry_run=True, configuration=NOWHERE),
     "argument 'broker_id' is used only with role: id"),
    (lambda: kill_broker(role="id", partition=1, broker_id=2, dry_run=True, configuration=NOWHERE),
     "argument 'partition' is used only with role: partition-leader"),
])
def test_an_ignored_argument_is_refused_naming_it_and_the_fix(call, words):
    with pytest.raises(InterruptExecution) as err:
        call()
    assert words in str(err.value) and "nothing was touched" in str(err.value)


def test_the_arguments_that_count_still_reach_the_target():
    """Given where they count, the same arguments pass the check and the action goes on to the
    target (here: a twin that is not running)."""
    with pytest.raises(InterruptExecution, match="is not running"):
        kill_data_node(choose="name", name="search-2", dry_run=True, configuration=NOWHERE)
    with pytest.raises(InterruptExecution, match="is not running"):
        kill_broker(role="partition-leader", topic="content-events", partition=0, dry_run=True, configuration=NOWHERE)
