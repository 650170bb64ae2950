"""Consumer lag read by a long-lived client after the topic's partitions changed under it.

``kafka_admin.consumer_lag`` keeps one reader per group for the life of the process. librdkafka's
metadata cache in that reader can hold a partition count the cluster no longer has; it then answers
every ``get_watermark_offsets`` for a partition it does not know with ``_UNKNOWN_PARTITION``, without
asking the cluster, until the cache ages out (``metadata.max.age.ms``, 15 minutes). make test saw it
for a whole 180 s playbook step after a full broker disk was freed (the indexer's lag "could not be
read"). Here the same stale cache is made on purpose: one real KRaft broker (127.67.40.1, no twin),
the reader learns a one-partition topic, the topic grows to three, and the lag must still be read.
About 20 s, most of it the broker's start.
"""

from __future__ import annotations

import pytest
from confluent_kafka.admin import NewPartitions

from gameday import kafka_admin, kafka_records
from tests.support.kafka_broker import KafkaBroker

TOPIC, GROUP = "content-events", "indexer"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), address="127.67.40.1") as broker:
        yield broker


def test_lag_is_read_after_the_readers_cached_metadata_went_stale(broker):
    broker.create_topic(TOPIC, partitions=1)
    kafka_records.publish_raw(broker.bootstrap, TOPIC, [b"a", b"b"], key=b"k")
    kafka_records.commit(broker.bootstrap, GROUP, TOPIC, {0: 1})
    assert kafka_admin.consumer_lag(broker.bootstrap, GROUP, TOPIC, timeout=30)["partitions"] == {0: 1}

    grown = kafka_admin.admin(broker.bootstrap).create_partitions([NewPartitions(TOPIC, 3)])
    grown[TOPIC].result(timeout=30)
    lag = kafka_admin.consumer_lag(broker.bootstrap, GROUP, TOPIC, timeout=30)
    assert lag["partitions"] == {0: 1, 1: 0, 2: 0} and lag["total"] == 1


def test_a_broker_answers_as_itself_and_an_unknown_or_stopped_one_does_not(broker):
    """kafka_admin.broker_answers, what the lost-disk undo waits for before the ISR is read again:
    the broker's own ApiVersions answer at its metadata address; a node id the cluster does not list
    is not an answer. (Here on the same broker as above: one start for the module.)"""
    assert kafka_admin.broker_answers(broker.bootstrap, 1, timeout=10)
    assert not kafka_admin.broker_answers(broker.bootstrap, 7, timeout=10)
