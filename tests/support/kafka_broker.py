"""One real Kafka broker, no twin: a single KRaft node (broker and controller) from the twin's Kafka jars
(``gameday sandbox install`` puts them under /var/cache/gameday), for integration tests that need
Kafka's own answers (committed offsets, end offsets) and nothing else::

    with KafkaBroker(tmp_path, address="127.61.0.1") as broker:
        broker.bootstrap              # "127.61.0.1:9092"
        broker.create_topic("europe-west2.content-events", partitions=3)

It starts in about 10 s on this machine and uses a 256 MB heap. Run the tests that use it under
``flock /tmp/gameday-twin.lock`` like the twin's: it shares the machine with them. The broker is
stopped (SIGTERM, then SIGKILL after 10 s) when the ``with`` block ends, and its log is kept in
``folder/kafka.log`` for a failed test.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from gameday.deadline import wait_until
from gameday.kafka_admin import admin
from gameday.sandbox import install
from gameday.sandbox.members.kafka import LOG4J_TEMPLATE

START_S = 90.0  # a cold JVM on two busy cores


class KafkaBroker:
    def __init__(self, folder: Path, *, address: str, port: int = 9092, controller_port: int = 9093):
        self.folder, self.address = folder, address
        self.bootstrap = f"{address}:{port}"
        self.log = folder / "kafka.log"
        self._props = folder / "server.properties"
        self._props.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@{address}:{controller_port}",
            f"listeners=PLAINTEXT://{address}:{port},CONTROLLER://{address}:{controller_port}",
            f"advertised.listeners=PLAINTEXT://{address}:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT", "controller.listener.names=CONTROLLER",
            f"log.dirs={folder / 'data'}", "num.partitions=1", "default.replication.factor=1",
            "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=false",
            "num.network.threads=1", "num.io.threads=2", ""]))
        self._proc: subprocess.Popen | None = None

    def _java(self) -> list[str]:
        loc = install.locations()
        if loc.java is None or not loc.kafka_libs.is_dir():
            raise RuntimeError(f"no java or no Kafka jars at {loc.kafka_libs}: run `make` (gameday sandbox install)")
        return [loc.java, "-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOG4J_TEMPLATE}", "-cp", f"{loc.kafka_libs}/*"]

    def __enter__(self) -> "KafkaBroker":
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "A")
        with open(self.log, "ab") as out:
            subprocess.run([*self._java(), "kafka.tools.StorageTool", "format", f"--cluster-id={cid}",
                            "-c", str(self._props)], stdout=out, stderr=subprocess.STDOUT, timeout=120, check=True)
            self._proc = subprocess.Popen([*self._java(), "kafka.Kafka", str(self._props)],
                                          stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(self._answers, timeout=START_S, interval=0.5,
                       what=f"the Kafka broker at {self.bootstrap} to answer (log: {self.log})")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _answers(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"the Kafka broker exited with {self._proc.returncode}: see {self.log}")
        try:
            return bool(admin(self.bootstrap).list_topics(timeout=1).brokers)
        except KafkaException:
            return False

    def __exit__(self, *_exc) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)

    @contextlib.contextmanager
    def frozen(self):
        """The broker stopped (SIGSTOP) for the ``with`` block and resumed after it, even on a failure:
        its connections stay open and nothing is answered, as a broker hung in a long pause::

            with broker.frozen():
                ...  # producers wait for acknowledgements that do not come
        """
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"the Kafka broker is not running: see {self.log}")
        os.kill(self._proc.pid, signal.SIGSTOP)
        try:
            yield self
        finally:
            os.kill(self._proc.pid, signal.SIGCONT)

    def create_topic(self, name: str, *, partitions: int) -> None:
        """``name`` with ``partitions`` partitions (replication factor 1), waited for."""
        futures = admin(self.bootstrap).create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
        futures[name].result(timeout=30)
        wait_until(lambda: name in admin(self.bootstrap).list_topics(timeout=2).topics, timeout=30,
                   what=f"topic {name} to be listed")
