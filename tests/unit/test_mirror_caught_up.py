"""What "caught up" means for a standby's Kafka while the site still writes: every record the upstream
had acknowledged when the wait began has been replicated (``gameday.sandbox.mirror_lag._short_of`` on the
first measurement's end offsets), not an instant of zero lag, which a MirrorMaker copying in
transactions under a steady writer may never show. The wait itself runs against real clusters in
tests/integration/test_regions.py (the failback rebuilds its standby while canaries write)."""

from gameday.sandbox.mirror_lag import _short_of


def measured(**partitions):
    """A ``lag()`` result with one topic, ``gameday-canary``; ``p0=(source_end, replicated)``."""
    return {"behind": sum(end - done for end, done in partitions.values()),
            "topics": {"gameday-canary": {"partitions": {int(k[1:]): {"source_end": end, "replicated": done}
                                                         for k, (end, done) in partitions.items()}}}}


def test_records_written_after_the_wait_began_are_not_waited_for():
    marks = {("gameday-canary", 0): 100, ("gameday-canary", 1): 40}
    assert _short_of(measured(p0=(100, 97), p1=(40, 40)), marks) == {"gameday-canary": 3}
    # the writer went on (ends 130 and 52) and MirrorMaker is still a few behind: caught up with the marks
    assert _short_of(measured(p0=(130, 126), p1=(52, 50)), marks) == {}


def test_a_partition_missing_from_the_measurement_counts_as_nothing_replicated():
    assert _short_of(measured(p0=(10, 10)), {("gameday-canary", 0): 10, ("gameday-canary", 2): 5}) == {
        "gameday-canary": 5}
