"""An activity's refusal stops the method: Chaos Toolkit's Python provider turns the InterruptExecution
our activities raise into ActivityFailed and carries on, so the guard's after-activity hook raises it
again (the chaos run itself: tests/integration/test_chaos.py)."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed, InterruptExecution

from gameday.chaos.context import activity, take_refusal
from gameday.chaos.controls import guard
from gameday.errors import GamedayError, UsageError


@activity
def refuses() -> None:
    raise UsageError("environment 'x' names no second region")


@activity
def fails() -> None:
    raise GamedayError("the index did not come back")


@pytest.fixture(autouse=True)
def fresh_experiment():
    guard._rolling_back.clear()
    take_refusal()
    yield
    guard._rolling_back.clear()
    take_refusal()


def test_a_refusal_in_the_method_stops_it_after_the_activity():
    with pytest.raises(InterruptExecution):
        refuses()
    with pytest.raises(InterruptExecution, match="refused or was interrupted .refuses: environment 'x' names no "
                                                 "second.*stops after activity 'lag'"):
        guard.after_activity_control({"name": "lag"}, state={"status": "failed"})
    guard.after_activity_control({"name": "next"}, state={"status": "succeeded"})  # taken once: the next is clean


@activity
def interrupted() -> None:
    raise InterruptExecution("SIGTERM signal received")  # Chaos Toolkit's SIGTERM handler, inside the activity


def test_chaos_toolkits_sigterm_inside_an_activity_stops_the_method_after_it():
    with pytest.raises(InterruptExecution):
        interrupted()
    with pytest.raises(InterruptExecution, match="interrupted .*SIGTERM signal received.*stops after activity 'look'"):
        guard.after_activity_control({"name": "look"}, state={"status": "failed"})


def test_a_failure_is_not_a_refusal():
    with pytest.raises(ActivityFailed):
        fails()
    guard.after_activity_control({"name": "probe"}, state={"status": "failed"})
    assert take_refusal() is None


def test_a_refusal_in_the_rollbacks_does_not_stop_the_others():
    guard.before_rollback_control({"title": "t"})
    with pytest.raises(InterruptExecution):
        refuses()
    guard.after_activity_control({"name": "lag"}, state={"status": "failed"})
    assert take_refusal() is None


def test_a_background_activitys_refusal_stops_the_run_on_the_main_thread():
    import threading

    def background() -> None:  # Chaos Toolkit runs a background activity and its hooks in a pool thread
        with pytest.raises(InterruptExecution):
            refuses()
        guard.after_activity_control({"name": "in-the-background"}, state={"status": "failed"})  # dropped there

    worker = threading.Thread(target=background)
    worker.start()
    worker.join(timeout=10)
    with pytest.raises(InterruptExecution, match="stops at the end of the method"):
        guard.after_method_control({"title": "t"}, state=[])


def test_a_new_experiment_forgets_the_last_ones_refusal_and_rollbacks():
    guard.before_rollback_control({"title": "t"})
    with pytest.raises(InterruptExecution):
        refuses()
    with pytest.raises(InterruptExecution):  # the environment does not exist: refused, but the hook resets first
        guard.before_experiment_control({"title": "t", "method": []}, configuration={"gameday_environment": 7})
    assert not guard._rolling_back.is_set() and take_refusal() is None
