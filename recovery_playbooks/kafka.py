"""Kafka: format a broker whose disk was lost and start it, make room on a broker's full log directory
and start it, bring missing brokers back, wait for the quorum to have a leader every voter follows and
the ISR to fill, run a preferred leader election, verify no offline /
under-replicated / under-min-ISR partition, verify the indexer's lag drains."""

from gameday.recovery import Playbook
from gameday.recovery.layers import indexer, kafka

PLAYBOOK = Playbook(name="kafka", title="Kafka brokers, partitions and consumer lag", parts=(kafka.PART, indexer.PART))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "kafka-brokers/partition-leader-lost",
    "kafka-brokers/below-min-isr",
    "kafka-brokers/disk-lost",
    "kafka-brokers/disk-full",
    "kafka-controllers/controller-lost",
    "kafka-controllers/quorum-lost",
    "indexer/consumers-stopped",
    "indexer/poison-message",
)
