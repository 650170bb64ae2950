"""Apache Kafka 4.x in KRaft mode: three combined broker+controller nodes, RF 3, min ISR 2.

Each node has four listeners on its own address: PLAINTEXT (clients and replication), CONTROLLER
(the quorum), PROXIED, which it advertises at toxiproxy's address so that the web tier's Kafka
traffic crosses toxiproxy and network faults need no code change, and TLS (port ``kafka_tls``),
advertised by name (``kafka-N.<twin>.gameday.test``) with a certificate from the twin's CA
(:func:`gameday.sandbox.tls.ensure_kafka_broker`): how gameday reaches the brokers of an environment
that says ``kafka.tls``, as it reaches Strimzi's ``tls`` listener on GKE (:mod:`gameday.kafka_client`).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from ...errors import GamedayError
from ...zones import zone_for
from .. import jvm, log_disk, tls
from ..spec import MemberSpec, Workload
from ..twin import KAFKA_NODES, PORTS, Twin

HEAP = "-Xms256m -Xmx384m"
LOG4J_TEMPLATE = Path(__file__).parent.parent / "recipes" / "kafka-log4j2.properties"


def _conf_dir(twin: Twin, i: int):
    return twin.paths.conf / f"kafka-{i}"


def _data_dir(twin: Twin, i: int):
    """Node ``i``'s log directory: on its small disk when it has one (:mod:`..log_disk`, kafka-3 of
    a twin made as root), else in the twin's data directory."""
    return log_disk.log_dir(twin, i) or twin.paths.data / f"kafka-{i}"


def cluster_id(twin: Twin) -> str:
    """The KRaft cluster id, made once per twin."""
    f = twin.paths.conf / "kafka-cluster-id"
    if not f.exists():
        # Kafka's own format for ids: a random UUID, URL-safe base64 without padding. Like Kafka's
        # Uuid.randomUuid, never one starting with "-" (a command line would read it as an option).
        cid = "-"
        for _ in range(100):
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            if not cid.startswith("-"):
                break
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(cid)
    return f.read_text().strip()


def server_properties(twin: Twin, i: int) -> str:
    me = twin.address("kafka", i)
    voters = ",".join(f"{n}@{twin.address('kafka', n)}:{PORTS['kafka_controller']}" for n in range(1, KAFKA_NODES + 1))
    proxied = f"{twin.address('toxiproxy')}:{9090 + i}"
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={i}",
        f"controller.quorum.voters={voters}",
        f"listeners=PLAINTEXT://{me}:{PORTS['kafka']},CONTROLLER://{me}:{PORTS['kafka_controller']},"
        f"PROXIED://{me}:{PORTS['kafka_proxied']},TLS://{me}:{PORTS['kafka_tls']}",
        f"advertised.listeners=PLAINTEXT://{me}:{PORTS['kafka']},PROXIED://{proxied},"
        f"TLS://{tls.kafka_host(twin, i)}:{PORTS['kafka_tls']}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT,TLS:SSL",
        # the TLS listener (gameday's clients on an environment that says kafka.tls, as Strimzi's tls listener):
        # the twin CA's certificate for the brokers' names and addresses, key and certificate in one PEM file
        "listener.name.tls.ssl.keystore.type=PEM",
        f"listener.name.tls.ssl.keystore.location={tls.files(twin).kafka_broker_pem}",
        "inter.broker.listener.name=PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        f"log.dirs={_data_dir(twin, i)}",
        "num.partitions=3",
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "offsets.topic.replication.factor=3",
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "share.coordinator.state.topic.replication.factor=3",
        "share.coordinator.state.topic.min.isr=2",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "unclean.leader.election.enable=false",
        "num.network.threads=2",
        "num.io.threads=4",
        "log.segment.bytes=67108864",
        "",
    ])


def _java(twin: Twin) -> list[str]:
    log4j = twin.paths.conf / "kafka-log4j2.properties"
    return [twin.loc.java or "java", *HEAP.split(), *jvm.FLAGS,
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", f"{twin.loc.kafka_libs}/*"]


def prepare(twin: Twin) -> None:
    """Write each node's server.properties and format its storage on first use; kafka-3's log
    directory goes on a small filesystem of its own when the twin can make one
    (:func:`..log_disk.ensure`: the disk-full drill), and such a disk is mounted again."""
    shutil.copy(LOG4J_TEMPLATE, twin.paths.conf / "kafka-log4j2.properties")
    tls.ensure_kafka_broker(twin)
    for i in range(1, KAFKA_NODES + 1):
        log_disk.ensure(twin, i, fresh=not storage_formatted(twin, i) and not _data_dir(twin, i).exists())
        conf = _conf_dir(twin, i)
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "server.properties").write_text(server_properties(twin, i))
        if not storage_formatted(twin, i):
            format_storage(twin, i)


def storage_formatted(twin: Twin, i: int) -> bool:
    """True when node ``i``'s data directory holds its ``meta.properties`` (what formatting writes,
    with the cluster id and node id); False when the directory or that file is gone (a lost disk)."""
    return (_data_dir(twin, i) / "meta.properties").exists()


def format_storage(twin: Twin, i: int) -> str:
    """Format node ``i``'s storage with the twin's cluster id and the node's own id (``node.id`` in
    its server.properties), as Kafka's ``kafka-storage format`` does; an already formatted
    directory is left alone (``--ignore-formatted``). The node must not be running. Returns the
    data directory. Used by :func:`prepare` and by :mod:`gameday.sandbox.storage` after a lost disk."""
    props = _conf_dir(twin, i) / "server.properties"
    if not props.exists():
        raise GamedayError(f"kafka-{i}: no server.properties at {props}", hint="`gameday sandbox up` writes it")
    log = twin.paths.member_log(f"kafka-{i}")
    with open(log, "ab") as out:
        proc = subprocess.run(
            [*_java(twin), "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id(twin)}", "-c", str(props),
             "--ignore-formatted"],
            stdout=out, stderr=subprocess.STDOUT, timeout=120,
        )
    if proc.returncode != 0 or not storage_formatted(twin, i):
        raise GamedayError(f"kafka-{i}: formatting its storage failed", log=str(log),
                           hint="`gameday sandbox down --wipe` resets the twin's data")
    return str(_data_dir(twin, i))


def destroy_storage(twin: Twin, i: int) -> str:
    """Delete node ``i``'s whole data directory (``meta.properties`` included), as a lost disk
    leaves it: the fault of the disk-loss drill. The node must not be running. Returns the directory."""
    path = _data_dir(twin, i)
    if path.exists():
        shutil.rmtree(path)
    return str(path)


def read_meta(twin: Twin, i: int) -> dict[str, str]:
    """Node ``i``'s ``meta.properties`` as a dict (``cluster.id``, ``node.id``, ``directory.id``...);
    {} when the storage is not formatted."""
    meta = _data_dir(twin, i) / "meta.properties"
    if not meta.exists():
        return {}
    pairs = (line.split("=", 1) for line in meta.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def workload(twin: Twin) -> Workload:
    members = []
    for i in range(1, KAFKA_NODES + 1):
        address = twin.address("kafka", i)
        members.append(MemberSpec(
            name=f"kafka-{i}", index=i, address=address,
            ports={"broker": PORTS["kafka"], "controller": PORTS["kafka_controller"], "proxied": PORTS["kafka_proxied"],
                   "tls": PORTS["kafka_tls"]},
            argv=[*_java(twin), "kafka.Kafka", str(_conf_dir(twin, i) / "server.properties")],
            readiness={"type": "tcp", "host": address, "port": PORTS["kafka"]},
            labels={"app": "kafka", "node-id": str(i), "strimzi.io/pool-name": "combined", "zone": zone_for(i)},
            stop_grace=10.0,
        ))
    return Workload(name="kafka", layer="kafka", kind="service", replicas=KAFKA_NODES, members=members,
                    labels={"layer": "kafka"})
