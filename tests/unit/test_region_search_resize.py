"""The planning half of a standby's search scale-down (gameday.sandbox.search_resize): which nodes
leave in which order, and which indices get which replica count on the nodes that stay. The doing
half runs on real twins: benchmarks/regions_gameday.py and tests/integration/test_regions.py."""

import pytest

from gameday.errors import UsageError
from gameday.sandbox.search_resize import Leave, plan_shrink, replica_changes, replicas_for


def _settings(**indices):
    return {name: {"settings": {"index": body}} for name, body in indices.items()}


def test_nodes_leave_one_at_a_time_highest_first_down_to_the_standby_shape():
    assert plan_shrink(current=3, target=1, floor=1) == [
        Leave(node="search-3", index=3, remaining=2, replicas=1),
        Leave(node="search-2", index=2, remaining=1, replicas=0)]
    assert plan_shrink(current=1, target=1, floor=1) == []
    assert plan_shrink(current=2, target=3, floor=1) == []  # growing is not shrinking


def test_never_below_the_standby_shape_nor_to_no_node():
    with pytest.raises(UsageError, match="shape needs 2"):
        plan_shrink(current=3, target=1, floor=2)
    with pytest.raises(UsageError):
        plan_shrink(current=3, target=0, floor=0)


def test_replicas_fit_the_nodes_left():
    assert [replicas_for(1, n) for n in (1, 2, 3)] == [0, 1, 1]
    assert replicas_for(2, 2) == 1 and replicas_for(0, 3) == 0


def test_fewer_nodes_lower_fixed_replicas_and_leave_auto_expanded_ones():
    settings = _settings(content={"number_of_replicas": "2"},  # by design a copy on each of 3 nodes
                         **{".opendistro_security": {"number_of_replicas": "1", "auto_expand_replicas": "false"},
                            ".plugins-ml-config": {"number_of_replicas": "1", "auto_expand_replicas": "0-1"},
                            "other": {"number_of_replicas": "0"}})
    assert replica_changes(settings, nodes=1, record={}) == {"content": 0, ".opendistro_security": 0}
    assert replica_changes(settings, nodes=2, record={}) == {"content": 1}  # an active region made at 2 nodes
    assert replica_changes(settings, nodes=3, record={}) == {}


def test_joining_nodes_raise_replicas_back_to_the_design_or_what_was_recorded():
    settings = _settings(content={"number_of_replicas": "0"}, **{".opendistro_security": {"number_of_replicas": "0"},
                                                                 "logs": {"number_of_replicas": "0"}})
    assert replica_changes(settings, nodes=3, record={"logs": 2}) == {"content": 2, ".opendistro_security": 1,
                                                                      "logs": 2}
    assert replica_changes(settings, nodes=2, record={"logs": 2}) == {"content": 1, ".opendistro_security": 1,
                                                                      "logs": 1}
    assert replica_changes(settings, nodes=1, record={"logs": 2}) == {}  # one node: nothing to raise
