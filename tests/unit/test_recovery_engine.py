"""The playbook engine on in-memory steps: plan from findings, dry run, deadlines, always-steps,
re-diagnosis, JSON contract. (The real layers are covered by tests/integration/test_playbook.py.)"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from gameday.errors import GamedayError, UsageError
from gameday.recovery import (FAILED, HEALTHY, NEEDS_RESTORE, RESTORED, Check, Finding, Part, Playbook, Step,
                              available, load_playbook, run)


class World:
    """A tiny fake layer: `broken` until an action fixes it."""

    def __init__(self, broken: bool = True):
        self.broken = broken
        self.acted: list[str] = []

    def diagnose(self, ctx) -> list[Finding]:
        return [Finding("toy.down", "the toy is down")] if self.broken else []

    def fix(self, ctx) -> str:
        self.acted.append("fix")
        self.broken = False
        return "fixed it"

    def healthy(self, ctx) -> Check:
        return Check(not self.broken, "down" if self.broken else "up")


def ctx():
    return SimpleNamespace(env=SimpleNamespace(name="unit"), deadline=None, state={})


def book(world: World, *extra: Step) -> Playbook:
    steps = (Step("fix", "Fix the toy", deadline_s=5, when=("toy.down",), act=world.fix, check=world.healthy),
             Step("unrelated", "Never planned", deadline_s=5, when=("toy.other",), act=world.fix),
             *extra,
             Step("verify", "The toy is up", deadline_s=5, kind="verify", check=world.healthy))
    return Playbook("toy", "Toy", (Part("toy", world.diagnose, steps),))


def test_healthy_layer_plans_and_does_nothing_even_with_apply():
    w = World(broken=False)
    r = run(book(w), ctx(), apply=True)
    assert r.outcome == HEALTHY and r.steps == [] and w.acted == [] and r.rto is None


def test_dry_run_returns_the_plan_and_acts_on_nothing():
    w = World()
    r = run(book(w), ctx(), apply=False)
    assert r.outcome == NEEDS_RESTORE and w.acted == [] and w.broken
    assert [s.name for s in r.steps] == ["fix", "verify"]
    assert all(s.status == "not-run" for s in r.steps)


def test_apply_restores_times_every_step_and_measures_rto_from_the_fault():
    w = World()
    fault_at = time.time() - 5
    r = run(book(w), ctx(), apply=True, fault_at=fault_at, rto_target_s=60)
    assert r.outcome == RESTORED and w.acted == ["fix"]
    assert [(s.name, s.status, s.did) for s in r.steps] == [("fix", "ok", "fixed it"), ("verify", "ok", "")]
    assert all(s.seconds is not None and s.started_at for s in r.steps)
    assert r.rto["from"] == "fault" and r.rto["measured_s"] >= 5 and r.rto["met"]
    doc = json.loads(json.dumps(r.to_dict()))
    assert doc["schema"] == "gameday.playbook/v1" and doc["outcome"] == "restored"
    assert set(doc) >= {"findings", "steps", "restore_s", "rto", "remaining", "error"}


def test_rto_beyond_target_is_not_met():
    w = World()
    r = run(book(w), ctx(), apply=True, fault_at=time.time() - 100, rto_target_s=10)
    assert r.outcome == RESTORED and r.rto["met"] is False


def test_a_step_past_its_deadline_fails_with_the_last_check_and_later_steps_do_not_run():
    w = World()
    never = Step("never", "Waits forever", deadline_s=30, when=("toy.down",), check=lambda c: Check(False, "still 42"))
    started = time.monotonic()
    r = run(book(w, never), ctx(), apply=True, step_timeout=1.5)
    assert time.monotonic() - started < 10
    assert r.outcome == FAILED
    failed = r.failed_step
    assert failed.name == "never" and failed.detail == "deadline of 1.5s passed: still 42"
    assert r.steps[-1].status == "not-run"
    assert "toy/never failed" in r.error


def test_a_step_raising_a_gameday_error_fails_with_its_message():
    w = World()

    def boom(c):
        raise GamedayError("the API said no")
    r = run(book(w, Step("boom", "Explodes", deadline_s=5, when=("toy.down",), act=boom)), ctx(), apply=True)
    assert r.outcome == FAILED and r.failed_step.detail == "the API said no"


def test_always_steps_run_after_a_failure_when_their_part_acted():
    w = World()
    resumed = []
    steps = (Step("pause", "Pause", deadline_s=5, when=("toy.down",), act=lambda c: "paused"),
             Step("fail", "Fails", deadline_s=1, when=("toy.down",), check=lambda c: Check(False, "no")),
             Step("resume", "Resume", deadline_s=5, when=("toy.down",), act=lambda c: resumed.append(1) or "resumed",
                  always=True))
    r = run(Playbook("t", "t", (Part("toy", w.diagnose, steps),)), ctx(), apply=True)
    assert r.outcome == FAILED and resumed == [1]
    assert [s.status for s in r.steps] == ["ok", "failed", "ok"]


def test_still_broken_after_every_step_is_a_failure_naming_what_remains():
    w = World()
    steps = (Step("noop", "Does nothing useful", deadline_s=5, when=("toy.down",), act=lambda c: "nothing"),)
    r = run(Playbook("t", "t", (Part("toy", w.diagnose, steps),)), ctx(), apply=True)
    assert r.outcome == FAILED and [f.code for f in r.remaining] == ["toy.down"]
    assert "still wrong after the restore: the toy is down" == r.error


def test_a_layer_that_cannot_be_diagnosed_is_a_finding_not_a_crash():
    def unreachable(c):
        raise GamedayError("connection refused")
    r = run(Playbook("t", "t", (Part("toy", unreachable, ()),)), ctx())
    assert r.outcome == NEEDS_RESTORE and r.findings[0].code == "toy.unreachable"
    assert "connection refused" in r.findings[0].text


def test_steps_are_validated():
    with pytest.raises(ValueError, match="needs `when`"):
        Step("x", "x", deadline_s=1)
    with pytest.raises(ValueError, match="deadline_s"):
        Step("x", "x", deadline_s=0, kind="verify")
    with pytest.raises(ValueError, match="kind"):
        Step("x", "x", deadline_s=1, kind="later")


def test_the_repository_playbooks_load_and_every_layer_is_there():
    assert {"web", "kafka", "search", "db", "site"} <= set(available())
    for name in available():
        pb = load_playbook(name)
        assert pb.name == name and pb.parts
        for part in pb.parts:
            assert all(s.deadline_s > 0 and s.description for s in part.steps)
    site = load_playbook("site")
    assert [p.layer for p in site.parts] == ["db", "kafka", "search", "indexer", "lb", "web"]


def test_an_unknown_playbook_is_bad_input_naming_the_real_ones():
    with pytest.raises(UsageError, match="no playbook named 'kafak'") as err:
        load_playbook("kafak")
    assert "kafka" in err.value.hint
    with pytest.raises(UsageError):
        load_playbook("../etc/passwd")


def test_a_context_is_the_target_a_deadline_and_typed_state():
    from gameday.deadline import Deadline
    from gameday.recovery import targets_yaml
    from gameday.recovery.context import Context, PlaybookState

    target = SimpleNamespace(env=SimpleNamespace(name="unit"))
    c = Context(target=target)
    assert c.env is target.env and not hasattr(c, "platform")
    assert c.state == PlaybookState() and c.state.slo == {}  # no SLO of its own: targets.yaml's, when asked
    assert c.site_slo() == targets_yaml.load().slo("unit") and c.state.slo == c.site_slo()
    assert Context(target=target).state.slo is not c.state.slo
    assert c.remaining(30) == 30
    c.deadline = Deadline(5)
    assert 1 <= c.remaining(30) <= 5
    with pytest.raises(AttributeError):
        c.state.paused = ["indexer-1"]  # a typo is an error, not a new key


def test_a_finding_that_appears_while_the_layer_settles_gets_its_own_steps_and_then_it_is_restored():
    """First diagnosed mid-change (a broker just back: its offsets unreadable, leadership not moved yet),
    the layer shows ``toy.unreadable`` only; once that is handled ``toy.leaders`` appears. The engine
    plans again for the new finding (once more at most per new code) instead of failing."""
    state = {"phase": "unreadable", "moved": False}

    def diagnose(c) -> list[Finding]:
        if state["phase"] == "unreadable":
            return [Finding("toy.unreadable", "offsets cannot be read")]
        return [] if state["moved"] else [Finding("toy.leaders", "leaders not on their preferred replicas")]

    steps = (Step("wait-readable", "Offsets readable", deadline_s=5, when=("toy.unreadable",),
                  act=lambda c: state.update(phase="settled") or "waited"),
             Step("elect", "Elect preferred leaders", deadline_s=5, when=("toy.leaders",),
                  act=lambda c: state.update(moved=True) or "elected"))
    r = run(Playbook("t", "t", (Part("toy", diagnose, steps),)), ctx(), apply=True)
    assert r.outcome == RESTORED and r.remaining == []
    assert [(s.name, s.status) for s in r.steps] == [("wait-readable", "ok"), ("elect", "ok")]
    assert [f.code for f in r.findings] == ["toy.unreadable"]


def test_a_new_finding_that_keeps_coming_back_is_planned_a_bounded_number_of_times():
    from gameday.recovery.engine import REPLANS
    count = iter(range(100))

    def diagnose(c) -> list[Finding]:
        return [Finding(f"toy.new-{next(count)}", "something new every time")]
    steps = tuple(Step(f"fix-{i}", "Fix", deadline_s=5, when=(f"toy.new-{i}",), act=lambda c: "did")
                  for i in range(10))
    r = run(Playbook("t", "t", (Part("toy", diagnose, steps),)), ctx(), apply=True)
    assert r.outcome == FAILED and len(r.steps) == REPLANS + 1 and "still wrong after the restore" in r.error
