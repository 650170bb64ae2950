"""RPO canaries: sequence-numbered records written through each stateful layer while a scenario
runs, and read back after recovery. Every *acknowledged* record must come back; RPO is the count
lost and the time span they cover (target: 0).

    with Canaries(CanaryEndpoints.from_context(ctx), layers=("kafka", "db", "search")) as canaries:
        ...inject the fault, run the playbook...
    reports = canaries.verify(timeout=120)       # {"kafka": CanaryReport, ...}
    reports["kafka"].lost                        # [] or the lost sequence numbers

- ``kafka``: topic ``gameday-canary``, acks=all + idempotence; acknowledged = delivery report OK
  (where it landed, partition and offset, kept in the writer's ``positions``).
- ``db``: table ``gameday_canary`` (created if missing) as the site's user; acknowledged = the
  autocommit INSERT returned.
- ``search``: publishes an article through the site (``POST /api/articles`` via the load balancer, as
  the target's publisher when it has one: HTTP basic auth from ``Target.publisher_auth``);
  acknowledged = 201/202 (stored; its event sent or left in the outbox for the relay); read back
  from the ``content`` index by id.

Each writer is a thread; every write and every read-back is bounded by a timeout. Writes that
were refused are counted (``failed_writes``), not lost: the layer told the writer. A read-back that
cannot finish (the layer does not answer by the deadline) proves nothing either way: its records are
``unverified``, never counted as lost, and the RPO is then "not measured" (a failed check, not a 0).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pymysql
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from .. import db_client, hostguard, kafka_client
from ..db_client import DbTls
from ..deadline import Deadline
from ..errors import GamedayError, UsageError
from ..targets import trust
from ..targets.credentials import basic_auth

KAFKA_TOPIC = "gameday-canary"
DB_TABLE = "gameday_canary"
INDEX = "content"
WRITE_TIMEOUT = 6.0
LAYERS = ("kafka", "db", "search")


@dataclass(frozen=True)
class CanaryEndpoints:
    kafka_bootstrap: str
    db_host: str
    db_port: int
    db_user: str
    db_password: str = field(repr=False)
    db_name: str
    site_url: str
    search_urls: tuple[str, ...]
    allow_hosts: tuple[str, ...] = ()  # non-loopback hosts the host guard lets the HTTP canaries reach
    search_auth: tuple[str, str] | None = field(default=None, repr=False)  # (user, password) for search, if it asks
    search_verify: str | bool = True  # what verifies the search cluster's certificates (Target.search_verify)
    publisher_auth: tuple[str, str] | None = field(default=None, repr=False)  # (user, password) to publish, if asked
    db_tls: DbTls = field(default_factory=DbTls)  # how the database is reached over TLS (Target.db_tls)

    @classmethod
    def from_context(cls, ctx: Any) -> "CanaryEndpoints":
        """From a :class:`gameday.recovery.context.Context`: its target's endpoints and database
        credentials (the same the playbooks use). HTTP goes only where :mod:`gameday.hostguard`
        allows: loopback, or (an allow-listed environment) its declared site host and its declared
        search hosts."""
        target = ctx.target
        host, port = target.db_address()
        user, password, name = target.db_credentials()
        allow = hostguard.site_hosts(target.env)
        if allow:
            allow += tuple(h for h in (hostguard.host_of(u) for u in target.search_urls()) if h)
        return cls(kafka_bootstrap=target.kafka_bootstrap(), db_host=host, db_port=port, db_user=user,
                   db_password=password, db_name=name, site_url=target.site_url(),
                   search_urls=tuple(target.search_urls()), allow_hosts=allow, search_auth=target.search_auth(),
                   search_verify=target.search_verify(), publisher_auth=target.publisher_auth(),
                   db_tls=target.db_tls())


@dataclass
class CanaryReport:
    layer: str
    run: str
    attempts: int
    acknowledged: int
    failed_writes: int
    lost: list[int]
    lost_span_s: float
    first_lost_at: float | None
    last_lost_at: float | None
    last_error: str | None = None
    unverified: int = 0  # acknowledged records the read-back could not reach (the layer did not answer)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.unverified

    def to_dict(self) -> dict[str, Any]:
        """The figures the runner keeps; ``rpo_records``/``rpo_s`` are None when the read-back could not
        finish (not measured), never a guess."""
        measured = not self.unverified
        return {**self.__dict__, "rpo_records": len(self.lost) if measured else None,
                "rpo_s": self.lost_span_s if measured else None}


class _Writer(threading.Thread):
    layer = ""

    def __init__(self, endpoints: CanaryEndpoints, run: str, interval: float):
        super().__init__(name=f"canary-{self.layer}", daemon=True)
        self.ep = endpoints
        self.run_id = run
        self.interval = interval
        self.stopping = threading.Event()
        self.acked: dict[int, float] = {}  # seq -> wall-clock time of the write
        self.keys: dict[int, Any] = {}  # seq -> what to read back by (e.g. the article id)
        self.attempts = 0
        self.failed = 0
        self.last_error: str | None = None
        self.started_at = time.time()
        self.read_topic = KAFKA_TOPIC  # where the Kafka canary reads back (a mirrored copy after a region failover)

    def setup(self) -> None: ...

    def write(self, seq: int, at: float) -> Any:
        """Write one record; return a read-back key when acknowledged, raise when refused."""
        raise NotImplementedError

    def read_back(self, deadline: Deadline) -> set[int]:
        raise NotImplementedError

    def close(self) -> None: ...

    def run(self) -> None:
        seq = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            seq += 1
            at = time.time()
            self.attempts += 1
            try:
                self.keys[seq] = self.write(seq, at)
                self.acked[seq] = at
            except (GamedayError, KafkaException, pymysql.MySQLError, OSError, requests.RequestException) as err:
                self.failed += 1
                self.last_error = f"{type(err).__name__}: {err}"[:300]
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
        self.close()


_producers: dict[tuple, Producer] = {}  # by bootstrap and how it is reached (kafka_client.tls_for)
_producers_lock = threading.Lock()


def _producer(bootstrap: str) -> Producer:
    """One canary producer per bootstrap for the life of the process, never destroyed: librdkafka
    can crash when a client is destroyed (here: garbage-collected later, at any moment) while
    brokers are down, which is exactly when canaries run (see :func:`gameday.kafka_admin.admin`)."""
    with _producers_lock:
        key = (bootstrap, kafka_client.tls_for(bootstrap))
        if key not in _producers:
            _producers[key] = Producer(kafka_client.settings({
                "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "delivery.timeout.ms": 5000,
                "request.timeout.ms": 3000, "socket.connection.setup.timeout.ms": 1000, "linger.ms": 0,
                "log_level": 2}))
        return _producers[key]


class KafkaCanary(_Writer):
    layer = "kafka"

    def setup(self) -> None:
        self.producer = _producer(self.ep.kafka_bootstrap)
        self.positions: dict[int, tuple[int, int]] = {}  # seq -> (partition, offset) its delivery report gave

    def write(self, seq: int, at: float) -> Any:
        outcome: list[Any] = []
        self.producer.produce(KAFKA_TOPIC, key=self.run_id.encode(),
                              value=json.dumps({"run": self.run_id, "seq": seq, "at": at}).encode(),
                              on_delivery=lambda err, msg: outcome.append((err, msg)))
        deadline = Deadline(WRITE_TIMEOUT)
        while not outcome and not deadline.expired():
            self.producer.poll(0.05)
        if not outcome:
            raise GamedayError(f"no delivery report within {WRITE_TIMEOUT:g}s")
        err, msg = outcome[0]
        if err is not None:
            raise GamedayError(f"not acknowledged: {err.str()}")
        self.positions[seq] = (msg.partition(), msg.offset())
        return seq

    def close(self) -> None:
        self.producer.flush(3)

    def read_back(self, deadline: Deadline) -> set[int]:
        topic = self.read_topic
        # read_committed, to each partition's end (EOF): a mirrored copy (MirrorMaker writes in transactions)
        # ends with a commit marker, never a record, and a killed mirror's aborted records must not count
        consumer = Consumer(kafka_client.settings({
            "bootstrap.servers": self.ep.kafka_bootstrap, "group.id": f"gameday-canary-{self.run_id}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 2,
            "isolation.level": "read_committed", "enable.partition.eof": True}))
        found: set[int] = set()
        try:
            md = consumer.list_topics(topic, timeout=max(1.0, deadline.remaining()))
            since = int((self.started_at - 10) * 1000)
            meta = md.topics.get(topic)
            if meta is None or meta.error is not None:
                raise GamedayError(f"topic {topic} is not on {self.ep.kafka_bootstrap}"
                                   + (f": {meta.error}" if meta is not None else ""))
            parts = [TopicPartition(topic, p, since) for p in meta.partitions]
            starts = consumer.offsets_for_times(parts, timeout=max(1.0, deadline.remaining()))
            ends, assign = {}, []
            for tp in starts:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition),
                                                            timeout=max(1.0, deadline.remaining()))
                if 0 <= tp.offset < high:
                    ends[tp.partition] = high
                    assign.append(TopicPartition(topic, tp.partition, tp.offset))
            consumer.assign(assign)
            done: set[int] = set()
            while len(done) < len(ends) and not deadline.expired():
                for msg in consumer.consume(500, timeout=min(1.0, max(0.1, deadline.remaining()))):
                    if msg.error():
                        if msg.error().code() == KafkaError._PARTITION_EOF:
                            done.add(msg.partition())
                        continue
                    if msg.offset() + 1 >= ends[msg.partition()]:
                        done.add(msg.partition())
                    try:
                        record = json.loads(msg.value())
                    except ValueError:
                        continue
                    if record.get("run") == self.run_id:
                        found.add(int(record["seq"]))
            unread = sorted(set(ends) - done)
            if unread:
                raise GamedayError(f"read-back incomplete: partitions {unread} of {topic} not read to their end "
                                   "by the deadline")
        finally:
            consumer.close()
        return found


class DbCanary(_Writer):
    layer = "db"

    def _connect(self, timeout: float = 2.0):
        return db_client.connect((self.ep.db_host, self.ep.db_port),
                                 (self.ep.db_user, self.ep.db_password, self.ep.db_name), self.ep.db_tls,
                                 timeout=timeout)

    def setup(self) -> None:
        """The canary's table; a GamedayError naming the database and its answer when it cannot be made
        (e.g. a standby region's read-only database)."""
        try:
            conn = self._connect(5)
            with conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {DB_TABLE} (run VARCHAR(64) NOT NULL, seq INT NOT NULL,"
                            " written_at DOUBLE NOT NULL, PRIMARY KEY (run, seq)) ENGINE=InnoDB")
        except (pymysql.MySQLError, OSError) as err:
            raise GamedayError(f"the database canary cannot write to {self.ep.db_host}:{self.ep.db_port}: {err}",
                               hint="the database must be up and writable (not a read-only standby); "
                                    "gameday sandbox status, or the region playbook") from None
        self.conn = None

    def write(self, seq: int, at: float) -> Any:
        try:
            if self.conn is None:
                self.conn = self._connect()
            with self.conn.cursor() as cur:
                cur.execute(f"INSERT INTO {DB_TABLE} (run, seq, written_at) VALUES (%s, %s, %s)", (self.run_id, seq, at))
        except (pymysql.MySQLError, OSError):
            if self.conn is not None:
                self.conn._force_close()
            self.conn = None
            raise
        return seq

    def close(self) -> None:
        if self.conn is not None:
            self.conn._force_close()

    def read_back(self, deadline: Deadline) -> set[int]:
        """Every row of this run, retried until the deadline while the database does not answer (it may
        still be starting after its recovery); the last error is raised when it never does."""
        failed: Exception | None = None
        while failed is None or not deadline.expired():
            try:
                conn = self._connect(max(1.0, min(10.0, deadline.remaining())))
                with conn, conn.cursor() as cur:
                    cur.execute(f"SELECT seq FROM {DB_TABLE} WHERE run = %s", (self.run_id,))
                    return {int(r[0]) for r in cur.fetchall()}
            except (pymysql.MySQLError, OSError) as err:
                failed = err
            time.sleep(min(1.0, deadline.remaining()))
        raise failed


class SearchCanary(_Writer):
    """Publishes through the site; reads back from the index by article id."""

    layer = "search"

    def setup(self) -> None:
        self.site = hostguard.check_url(self.ep.site_url, self.ep.allow_hosts)  # before any write
        self.search = [hostguard.check_url(u, self.ep.allow_hosts) for u in self.ep.search_urls]
        self.session = hostguard.session()  # carries the publisher's credentials: no redirect to another host
        self.session.trust_env = False  # no proxy; the target's CAs (gameday.targets.trust) still verify
        self.session.verify = trust.verify()

    def write(self, seq: int, at: float) -> Any:
        r = self.session.post(f"{self.site}/api/articles", timeout=WRITE_TIMEOUT, auth=basic_auth(self.ep.publisher_auth), json={
            "kind": "guidance", "title": f"Gameday canary {self.run_id} {seq}", "category": "Gameday canary",
            "summary": f"Canary record {seq} of game-day run {self.run_id}.",
            "body": f"Written at {at:.3f} to prove no acknowledged publish is lost."})
        if r.status_code not in (201, 202):
            raise GamedayError(f"publish answered HTTP {r.status_code}")
        return int(r.json()["id"])

    def read_back(self, deadline: Deadline) -> set[int]:
        """Poll the index until every acknowledged article is there or the deadline passes (the
        indexer is eventually consistent: an event may still be in the outbox or in flight)."""
        by_id = {article_id: seq for seq, article_id in self.keys.items() if seq in self.acked}
        found: set[int] = set()
        session = hostguard.session()  # carries the search credentials
        session.trust_env = False
        session.verify = self.ep.search_verify
        session.auth = self.ep.search_auth
        checked = answered = False
        while not checked or (len(found) < len(by_id) and not deadline.expired()):
            checked, answered = True, False
            missing = [i for i in by_id if by_id[i] not in found]
            for url in self.search:
                try:
                    r = session.post(f"{url}/{INDEX}/_mget", json={"ids": [str(i) for i in missing]},
                                     params={"_source": "false"}, timeout=(1, 10))
                except requests.RequestException:
                    continue
                if r.status_code == 200:
                    answered = True
                    found |= {by_id[int(d["_id"])] for d in r.json().get("docs", []) if d.get("found")}
                    break
            if len(found) < len(by_id):
                time.sleep(min(1.0, deadline.remaining()))
        if missing and not answered:
            raise GamedayError(f"no search node answered the read-back of {len(missing)} article(s) by the deadline")
        return found


WRITERS = {"kafka": KafkaCanary, "db": DbCanary, "search": SearchCanary}


class Canaries:
    """Start one writer per layer; ``verify`` stops them and reads every acknowledged record back."""

    def __init__(self, endpoints: CanaryEndpoints, *, layers: tuple[str, ...] = LAYERS, interval: float = 0.5,
                 run: str | None = None):
        unknown = [layer for layer in layers if layer not in WRITERS]
        if unknown:
            raise UsageError(f"no canary for layer {unknown[0]!r}", hint=f"canaries: {', '.join(WRITERS)}")
        self.run = run or f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.writers = [WRITERS[layer](endpoints, self.run, interval) for layer in layers]

    def start(self) -> "Canaries":
        for w in self.writers:
            w.setup()
        for w in self.writers:
            w.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        for w in self.writers:
            w.stopping.set()
        for w in self.writers:
            w.join(timeout=timeout)

    def __enter__(self) -> "Canaries":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def acknowledged(self) -> dict[str, int]:
        return {w.layer: len(w.acked) for w in self.writers}

    def verify(self, *, timeout: float = 120.0, read_from: CanaryEndpoints | None = None,
               kafka_topic: str | None = None) -> dict[str, CanaryReport]:
        """Stop writing; read back every acknowledged record; report the lost ones per layer.
        ``read_from``: read back from other endpoints than were written to (the region that took over
        after a failover), the Kafka records from ``kafka_topic`` there (MirrorMaker's ``r1.gameday-canary``)."""
        self.stop()
        for w in self.writers:
            if read_from is not None:
                w.ep = read_from
            if kafka_topic is not None:
                w.read_topic = kafka_topic
        deadline = Deadline(timeout)
        reports = {}
        for w in self.writers:
            error = w.last_error
            unverified = 0
            try:
                found = w.read_back(deadline)
            except (GamedayError, KafkaException, pymysql.MySQLError, OSError) as err:
                # nothing was read: whether the records survived is unknown, not "lost"
                found, unverified = set(w.acked), len(w.acked)
                error = f"read-back failed: {type(err).__name__}: {err}"[:300]
            lost = sorted(seq for seq in w.acked if seq not in found)
            times = [w.acked[s] for s in lost]
            reports[w.layer] = CanaryReport(
                layer=w.layer, run=self.run, attempts=w.attempts, acknowledged=len(w.acked), failed_writes=w.failed,
                lost=lost, lost_span_s=round(max(times) - min(times), 3) if times else 0.0,
                first_lost_at=min(times) if times else None, last_lost_at=max(times) if times else None,
                last_error=error, unverified=unverified)
        return reports
