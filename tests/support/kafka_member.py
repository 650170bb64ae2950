"""One Kafka broker as a member of a small twin's supervisor (``kafka-1``, a single KRaft node: broker
and controller), for integration tests whose target must find Kafka where a twin keeps it: the
supervisor lists it in layer ``kafka`` with a ``broker`` port, so ``SandboxTarget.kafka_bootstrap()``
answers with it, as on the full twin::

    member = kafka_member.prepare(twin, partitions=3)          # properties written, storage formatted
    Topology(..., workloads=[..., kafka_member.workload(twin)])

Auto-created topics have ``partitions`` partitions (the relay's first send creates content-events).
The broker's log is the supervisor's (``logs/kafka-1.log``); its data is under the twin's home.
"""

from __future__ import annotations

import base64
import subprocess
import uuid

from gameday.sandbox.members.kafka import LOG4J_TEMPLATE
from gameday.sandbox.spec import MemberSpec, Workload
from gameday.sandbox.twin import PORTS, Twin


def _folder(twin: Twin):
    return twin.paths.home / "kafka-single"


def _java(twin: Twin) -> list[str]:
    if twin.loc.java is None or not twin.loc.kafka_libs.is_dir():
        raise RuntimeError(f"no java or no Kafka jars at {twin.loc.kafka_libs}: run `make` (gameday sandbox install)")
    return [twin.loc.java, "-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_TEMPLATE}", "-cp", f"{twin.loc.kafka_libs}/*"]


def prepare(twin: Twin, *, partitions: int = 3) -> None:
    """Write ``kafka-1``'s properties and format its storage (a new cluster id each time)."""
    folder = _folder(twin)
    folder.mkdir(parents=True, exist_ok=True)
    address = twin.address("kafka", 1)
    port, controller = PORTS["kafka"], PORTS["kafka_controller"]
    props = folder / "server.properties"
    props.write_text("\n".join([
        "process.roles=broker,controller", "node.id=1", f"controller.quorum.voters=1@{address}:{controller}",
        f"listeners=PLAINTEXT://{address}:{port},CONTROLLER://{address}:{controller}",
        f"advertised.listeners=PLAINTEXT://{address}:{port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT", "controller.listener.names=CONTROLLER",
        f"log.dirs={folder / 'data'}", f"num.partitions={int(partitions)}", "default.replication.factor=1",
        "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=true",
        "num.network.threads=1", "num.io.threads=2", ""]))
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "A")
    subprocess.run([*_java(twin), "kafka.tools.StorageTool", "format", f"--cluster-id={cid}", "-c", str(props)],
                   capture_output=True, timeout=120, check=True)


def workload(twin: Twin) -> Workload:
    address = twin.address("kafka", 1)
    member = MemberSpec(
        name="kafka-1", index=1, address=address,
        ports={"broker": PORTS["kafka"], "controller": PORTS["kafka_controller"]},
        argv=[*_java(twin), "kafka.Kafka", str(_folder(twin) / "server.properties")],
        readiness={"type": "tcp", "host": address, "port": PORTS["kafka"]},
        labels={"app": "kafka", "node-id": "1", "strimzi.io/pool-name": "combined", "zone": "zone-a"},
        stop_grace=10.0)
    return Workload(name="kafka", layer="kafka", kind="service", replicas=1, members=[member], labels={"layer": "kafka"})
