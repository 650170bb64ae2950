"""The RPO of a region move measured by canaries, beyond the count: the Kafka records the region that
was lost had acknowledged and MirrorMaker never copied, named with their partition and offset there
(``gameday.chaos.region.rpo.unmirrored``), said in the report's sentence; and the failback's own RPO
(``restore_region``'s ``rpo``, the same read-back as the switchover's) shown as a figure judged against
the switchover's target instead of "not measured". The twin test (tests/integration/test_regions.py)
runs the real read-back; these pin the shapes and the words."""

from __future__ import annotations

from gameday.chaos.region.rpo import unmirrored
from gameday.coverage import run_regions
from gameday.report import regions
from tests.unit.test_report import T0
from tests.unit.test_report_failback import fail_back_output
from tests.unit.test_report_regions import RUN, rpo

SCENARIO = {"name": "lose-region", "layer": "region", "experiment": "experiments/region/lose-region.yaml"}


def test_the_records_mirrormaker_never_copied_are_named_with_their_offsets_in_the_lost_region():
    positions = {1: (0, 400), 2: (0, 401), 3: (1, 90), 4: (0, 402), 5: (1, 91), 6: (0, 403)}
    got = unmirrored(positions, [4, 5, 6], run=RUN, region="r2", mirrored_to="r1/r2.gameday-canary")
    assert got["count"] == 3 and (got["region"], got["topic"]) == ("r2", "gameday-canary")
    assert got["records"] == [{"name": f"{RUN}/kafka/4", "partition": 0, "offset": 402},
                              {"name": f"{RUN}/kafka/5", "partition": 1, "offset": 91},
                              {"name": f"{RUN}/kafka/6", "partition": 0, "offset": 403}]
    assert got["partitions"] == [
        {"partition": 0, "copied_through_offset": 401, "first_offset": 402, "last_offset": 403, "count": 2},
        {"partition": 1, "copied_through_offset": 90, "first_offset": 91, "last_offset": 91, "count": 1}]
    assert unmirrored(positions, [], run=RUN, region="r2", mirrored_to="r1/r2.gameday-canary") is None
    none_copied = unmirrored({1: (0, 7)}, [1], run=RUN, region="r2", mirrored_to="r1/r2.gameday-canary")
    assert none_copied["partitions"][0]["copied_through_offset"] is None
    unknown = unmirrored({}, [9], run=RUN, region="r2", mirrored_to="r1/r2.gameday-canary")  # named all the same
    assert unknown["records"] == [{"name": f"{RUN}/kafka/9", "partition": None, "offset": None}]
    assert unknown["partitions"] == []


def test_the_failover_sentence_names_the_unmirrored_kafka_records():
    measured = rpo("r1", "r2", T0 + 100, [41], [118, 119])
    measured["unmirrored"] = unmirrored({117: (0, 515), 118: (0, 516), 119: (0, 517)}, [118, 119], run=RUN,
                                        region="r1", mirrored_to="r2/r1.gameday-canary")
    view = regions.rpo_view(measured, kind="failover", fault_at=T0 + 100)
    assert view["unmirrored"]["count"] == 2
    assert view["sentence"].endswith(" Kafka: r1 had acknowledged 2 records MirrorMaker never copied to "
                                     "r2/r1.gameday-canary: gameday-canary partition 0 offsets 516-517 (copied "
                                     "through 515).")
    assert regions.unmirrored_words(None) == "" and regions.rpo_view(rpo("r1", "r2", T0, [], []), kind="failover",
                                                                     fault_at=T0)["unmirrored"] is None


def test_a_failback_with_canaries_reports_its_rpo_instead_of_not_measured():
    restored = fail_back_output(T0 + 170)["restored"][0]
    restored["rpo"] = {**rpo("r2", "r1", T0 + 200, [], []), "unmirrored": None}
    d = regions.failback_drill({"target": {"name": "sandbox"}}, SCENARIO, restored, T0 + 100)
    figure = {f["name"]: f for f in d["figures"]}["RPO (acknowledged writes lost)"]
    # judged against the switchover's objective (targets.yaml: rpo_records 0), as its RTO is
    assert (figure["value"], figure["target"], figure["met"]) == (0, 0, True)
    assert figure["explain"] == ("Nothing lost: every one of the 238 acknowledged writes made in r2 was read back "
                                 "from r1.")
    assert d["rpo"]["records"] == 0 and d["rpo"]["layers"]["kafka"]["acknowledged"] == 120 and d["met"]
    assert run_regions._moved(d) == "the failback from r2 to r1 (RTO 1.9 s, target 30 s; nothing lost)"
    restored["rpo"] = rpo("r2", "r1", T0 + 200, [7], [])  # a failback that lost a write misses its target
    d = regions.failback_drill({"target": {"name": "sandbox"}}, SCENARIO, restored, T0 + 100)
    figure = {f["name"]: f for f in d["figures"]}["RPO (acknowledged writes lost)"]
    assert (figure["value"], figure["met"]) == (1, False) and not d["met"]
    assert f"never reached r1: {RUN}/db/7." in figure["explain"]
    assert run_regions._moved(d).endswith("; 1 acknowledged write lost, named in the region section)")
