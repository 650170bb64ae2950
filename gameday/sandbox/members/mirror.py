"""MirrorMaker 2 for a standby region: the upstream region's topics copied into this twin's Kafka.

A standby twin (:attr:`Shape.standby`, :mod:`gameday.sandbox.regions`) runs one member, ``mirror-1``:
Kafka's own ``org.apache.kafka.connect.mirror.MirrorMaker`` in dedicated mode, from the twin's Kafka
jars (``connect-mirror``, :mod:`gameday.sandbox.install`), with ``--clusters <this region>`` so that
it runs only the flow into this twin::

    prepare(twin)                  # conf/mirror/mm2.properties (and its log4j config)
    topology.workloads.append(workload(twin))

What it does, region ``r1`` (the upstream twin's brokers) -> ``r2`` (this twin's):

- **topics** :data:`TOPICS` (``content-events`` and ``gameday-canary``, not the dead letters) become
  ``r1.content-events`` and ``r1.gameday-canary`` here (``DefaultReplicationPolicy``), 3 partitions
  and replication factor 3 like their sources, read from the earliest offset on first start;
- **exactly once**: the target's Connect worker runs with ``exactly.once.source.support=enabled``
  (supported in dedicated mode since Kafka 3.5; one node needs no internal REST server), and reads
  the source ``read_committed``. Each batch of copied records and the source offsets it reached are
  written in one transaction, so a restarted or killed mirror neither skips nor repeats a record.
  (Each transaction also leaves a commit marker in every partition it wrote, which takes an offset:
  a mirrored topic's end offset is not its record count; :mod:`gameday.sandbox.mirror_lag` measures
  lag from the source offsets MirrorMaker committed instead.)
- **consumer group offsets**: the ``indexer`` group's committed offsets are checkpointed into
  ``r1.checkpoints.internal`` every second, and copied onto this cluster's ``indexer`` group while
  that group has no member here (``sync.group.offsets``); ``offset.lag.max=0`` writes an offset sync
  for each copied record, so the translation is exact, not up to 100 records short;
- nothing is written to the upstream cluster: the offset syncs live here too
  (``offset-syncs.topic.location=target``) and heartbeats are off.

Every internal topic (Connect's configs, offsets and status ``mm2-*.r1.internal``, the checkpoints,
the offset syncs) has replication factor 3, as the twin's own topics do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..spec import MemberSpec, Workload
from ..twin import CANARY_TOPIC, CONTENT_TOPIC, Twin
from . import kafka

MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
TOPICS = (CONTENT_TOPIC, CANARY_TOPIC)  # mirrored; the dead-letter topic stays in its region
GROUPS = ("indexer",)  # consumer groups whose offsets are checkpointed (the standby's indexer takes over)
REPLICATION_FACTOR = 3
INTERVAL_S = 1  # checkpoints and group offset syncs
REFRESH_S = 5  # new topics and groups on the source
TRANSACTION_TIMEOUT_MS = 10_000  # a copy transaction takes well under a second; a dead one is aborted after this
WORKER_GROUP_SUFFIX = "-mm2"  # MirrorMaker's default Connect group id: "<source>-mm2"
LOG4J_EXTRA = """
# MirrorMaker: its own progress at INFO; the configuration dumps of every client it makes at WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.config.name = org.apache.kafka.common.config
logger.config.level = WARN
logger.isolation.name = org.apache.kafka.connect.runtime.isolation
logger.isolation.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
logger.metrics.name = org.apache.kafka.common.metrics
logger.metrics.level = WARN
logger.telemetry.name = org.apache.kafka.common.telemetry
logger.telemetry.level = WARN
logger.mirror.name = org.apache.kafka.connect.mirror
logger.mirror.level = INFO
"""


def conf_dir(twin: Twin) -> Path:
    return twin.paths.conf / "mirror"


def properties_file(twin: Twin) -> Path:
    return conf_dir(twin) / "mm2.properties"


def _source(twin: Twin):
    """The other region of the twin's set (:attr:`Shape.peer`; a standby's upstream when it has no
    peer): the source of the mirror, whichever region is active. It runs only while this twin is the
    standby (:func:`workload`'s replicas; a promotion scales it to 0, a rebuild as standby to 1)."""
    up = twin.shape.peer or twin.shape.upstream
    if up is None:
        raise ValueError(f"twin {twin.name!r} is in no region set: it mirrors nothing")
    return up


def upstream_twin(twin: Twin) -> Twin:
    """The twin this region mirrors from (:func:`_source`); ValueError for a twin in no region set."""
    up = _source(twin)
    return Twin.create(up.twin, up.net)


def source_region(twin: Twin) -> str:
    """The upstream region's name: MirrorMaker's source cluster alias, the prefix of mirrored topics."""
    return _source(twin).region


def mirrored_topic(twin: Twin, topic: str) -> str:
    """Where ``topic`` of the upstream region lands on this standby: ``r1.content-events``."""
    return f"{source_region(twin)}.{topic}"


def offsets_topic(twin: Twin) -> str:
    """Connect's source-offsets topic of the flow into this twin (on this twin's cluster)."""
    return f"mm2-offsets.{source_region(twin)}.internal"


def checkpoints_topic(twin: Twin) -> str:
    """The translated group offsets of the upstream region (on this twin's cluster)."""
    return f"{source_region(twin)}.checkpoints.internal"


def properties(twin: Twin) -> str:
    """The text of ``mm2.properties`` for the flow upstream region -> this twin (no secret in it:
    both clusters listen in PLAINTEXT on loopback)."""
    up = _source(twin)
    source, target = up.region, twin.shape.region
    flow = f"{source}->{target}"
    return "\n".join([
        f"# MirrorMaker 2 (dedicated mode) of twin {twin.name}: region {source} (twin {up.twin}) -> {target}.",
        "# Written by `gameday sandbox up` (gameday.sandbox.members.mirror); edits are overwritten.",
        f"clusters = {source}, {target}",
        f"{source}.bootstrap.servers = {upstream_twin(twin).kafka_bootstrap()}",
        f"{target}.bootstrap.servers = {twin.kafka_bootstrap()}",
        f"{flow}.enabled = true",
        f"{target}->{source}.enabled = false",
        f"{flow}.topics = {', '.join(TOPICS)}",
        f"{flow}.groups = {', '.join(GROUPS)}",
        "replication.policy.class = org.apache.kafka.connect.mirror.DefaultReplicationPolicy",
        "",
        "# exactly once into this cluster; the source read as committed",
        f"{target}.exactly.once.source.support = enabled",
        f"{flow}.consumer.isolation.level = read_committed",
        f"{flow}.consumer.auto.offset.reset = earliest",
        "",
        "# replication factor 3 everywhere, as the twin's own topics",
        f"replication.factor = {REPLICATION_FACTOR}",
        f"checkpoints.topic.replication.factor = {REPLICATION_FACTOR}",
        f"heartbeats.topic.replication.factor = {REPLICATION_FACTOR}",
        f"offset-syncs.topic.replication.factor = {REPLICATION_FACTOR}",
        f"offset.storage.replication.factor = {REPLICATION_FACTOR}",
        f"config.storage.replication.factor = {REPLICATION_FACTOR}",
        f"status.storage.replication.factor = {REPLICATION_FACTOR}",
        "offset.storage.partitions = 3",
        "status.storage.partitions = 1",
        "# Connect's offsets topic is compacted: a short segment lets the cleaner keep it small",
        "offset.storage.segment.ms = 60000",
        "",
        "# nothing written to the upstream cluster",
        "offset-syncs.topic.location = target",
        "emit.heartbeats.enabled = false",
        "sync.topic.acls.enabled = false",
        "",
        "# group offsets: checkpointed and synced every second, translated exactly",
        "emit.checkpoints.enabled = true",
        f"emit.checkpoints.interval.seconds = {INTERVAL_S}",
        "sync.group.offsets.enabled = true",
        f"sync.group.offsets.interval.seconds = {INTERVAL_S}",
        "offset.lag.max = 0",
        f"refresh.topics.interval.seconds = {REFRESH_S}",
        f"refresh.groups.interval.seconds = {REFRESH_S}",
        "",
        "# one worker: its tasks come back at once after a restart, not after the 5 min default",
        f"{target}.scheduled.rebalance.max.delay.ms = 0",
        f"{target}.offset.flush.interval.ms = 1000",
        "# a killed mirror leaves its last transaction open, and its successor reads Connect's offsets",
        "# read_committed: it waits until the broker aborts that transaction, after this timeout (60 s by default)",
        f"{target}.producer.transaction.timeout.ms = {TRANSACTION_TIMEOUT_MS}",
        "# every plugin it needs has a ServiceLoader manifest: no scan of the class path (seconds at each start)",
        "plugin.discovery = service_load",
        f"{target}.plugin.discovery = service_load",
        "",
    ])


def _log4j(twin: Twin) -> Path:
    return conf_dir(twin) / "log4j2.properties"


def prepare(twin: Twin) -> None:
    """Write ``conf/mirror/mm2.properties`` and its log4j config (every ``up``: the upstream's
    addresses follow its shape). Needs no running cluster."""
    conf_dir(twin).mkdir(parents=True, exist_ok=True)
    properties_file(twin).write_text(properties(twin))
    _log4j(twin).write_text(kafka.LOG4J_TEMPLATE.read_text() + LOG4J_EXTRA)
    kafka_log4j = twin.paths.conf / "kafka-log4j2.properties"
    if not kafka_log4j.exists():  # what kafka.prepare writes; the java command line below names it
        shutil.copy(kafka.LOG4J_TEMPLATE, kafka_log4j)


def _java(twin: Twin) -> list[str]:
    """The Kafka members' java command line (:func:`kafka._java`) with the mirror's log4j config."""
    flag = "-Dlog4j2.configurationFile="
    return [f"{flag}{_log4j(twin)}" if arg.startswith(flag) else arg for arg in kafka._java(twin)]


def workload(twin: Twin) -> Workload:
    """``mirror``: one MirrorMaker 2 node (``mirror-1``), started after this twin's Kafka. Its
    readiness is only that it keeps running: it listens on no port (no REST server in dedicated mode
    with one node); :func:`gameday.sandbox.mirror_lag.lag` says whether it is copying."""
    member = MemberSpec(
        name="mirror-1", index=1, address=None, ports={},
        argv=[*_java(twin), MAIN, str(properties_file(twin)), "--clusters", twin.shape.region],
        readiness={"type": "alive", "min_seconds": 5},
        labels={"app": "mirrormaker2", "zone": "regional", "source-region": source_region(twin),
                "target-region": twin.shape.region},
        stop_grace=10.0,
    )
    return Workload(name="mirror", layer="mirror", kind="service", replicas=1 if twin.shape.standby else 0,
                    members=[member],
                    after=["kafka"], labels={"layer": "mirror"})
