"""Kafka health through its admin API: the same code on the sandbox and on GKE (Strimzi).

Used by chaos probes and recovery playbooks::

    health = partition_health("127.10.40.1:9092")
    health["offline"], health["under_replicated"], health["under_min_isr"]
    leader_of("127.10.40.1:9092", "content-events", 0)      # -> broker id
    consumer_lag("127.10.40.1:9092", "indexer", "content-events")   # -> {"total": 12, "partitions": {...}}
    active_controller("127.10.40.1:9092")                   # KRaft quorum leader id (kafka-metadata-quorum)

Every call takes a timeout and raises :class:`KafkaUnavailable` when the cluster cannot answer.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import subprocess
import tempfile
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from . import kafka_client
from .deadline import Deadline
from .errors import GamedayError

TIMEOUT = 10.0


class KafkaUnavailable(GamedayError):
    pass


_quiet = logging.getLogger("gameday.rdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False  # "connection refused" from a broker we killed on purpose is not news
_clients: dict[tuple, AdminClient] = {}  # by bootstrap and how it is reached (kafka_client.tls_for)
_readers: dict[tuple, Consumer] = {}


def admin(bootstrap: str) -> AdminClient:
    """One AdminClient per bootstrap for the life of the process.

    librdkafka can crash when an AdminClient is destroyed while a request to a dead broker is still
    pending, which is exactly the situation chaos creates; so clients are kept, never dropped.
    """
    key = (bootstrap, kafka_client.tls_for(bootstrap))
    if key not in _clients:
        _clients[key] = AdminClient(kafka_client.settings({
            "bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000, "socket.timeout.ms": 5000,
            "logger": _quiet}))
    return _clients[key]


def _metadata(client: AdminClient, timeout: float):
    try:
        return client.list_topics(timeout=timeout)
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka did not answer a metadata request: {err}") from err


def partition_health(bootstrap: str, topics: list[str] | None = None, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Offline (no leader), under-replicated (ISR < replicas) and under-min-ISR partitions."""
    client = admin(bootstrap)
    md = _metadata(client, timeout)
    names = [t for t in (topics or md.topics) if not t.startswith("__") or topics]
    missing = [t for t in names if t not in md.topics]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in names if t in md.topics]
    min_isr = _min_isr(client, resources, timeout)
    offline, urp, under_min = [], [], []
    count = 0
    for name in names:
        if name not in md.topics:
            continue
        for p in md.topics[name].partitions.values():
            count += 1
            ident = f"{name}-{p.id}"
            if p.leader < 0:
                offline.append(ident)
            if len(p.isrs) < len(p.replicas):
                urp.append(ident)
            if len(p.isrs) < min_isr.get(name, 1):
                under_min.append(ident)
    return {"brokers": sorted(md.brokers), "partitions": count, "offline": offline, "under_replicated": urp,
            "under_min_isr": under_min, "missing_topics": missing,
            "healthy": not (offline or urp or under_min or missing)}


def broker_answers(bootstrap: str, node_id: int, *, timeout: float = 5.0) -> bool:
    """Whether broker ``node_id`` itself answers a Kafka request (ApiVersions, at the address the
    cluster's metadata gives it). A KRaft broker processes requests only once it has registered and
    the controller has unfenced it, so a broker started again (a lost disk, a pod replaced at its
    address) that answers is the new one, and the ISR the cluster reports from then on is no longer
    the one from before its loss (which still counted the dead broker until the controller noticed)."""
    md = _metadata(admin(bootstrap), timeout)
    broker = md.brokers.get(node_id)
    if broker is None:
        return False
    request = struct.pack(">hhih", 18, 0, node_id, len(b"gameday")) + b"gameday"  # ApiVersions v0
    try:
        with kafka_client.tls_for(bootstrap).wrap(socket.create_connection((broker.host, broker.port),
                                                                           timeout=timeout), broker.host) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            head = sock.recv(10)
    except OSError:  # ssl.SSLError is one: a broker whose certificate does not verify does not answer
        return False
    # size, the correlation id sent, error code 0
    return len(head) >= 10 and struct.unpack(">iih", head[:10])[1:] == (node_id, 0)


DESCRIBE_ATTEMPTS = 3


def _min_isr(client: AdminClient, resources: list[ConfigResource], timeout: float) -> dict[str, int]:
    """Each topic's min.insync.replicas, in up to DESCRIBE_ATTEMPTS tries within ``timeout``: the
    request goes to one broker, and a broker just killed stays in the metadata until its session
    expires (9 s), so a try that waits on it is given up for another, not the whole budget."""
    if not resources:  # no topic to describe (none asked for exists yet): the client refuses an empty request
        return {}
    deadline = Deadline(timeout)
    last: BaseException | None = None
    for attempt in range(DESCRIBE_ATTEMPTS):
        wait = max(0.5, deadline.remaining() / (DESCRIBE_ATTEMPTS - attempt))
        try:
            return {res.name: int(fut.result(timeout=wait)["min.insync.replicas"].value)
                    for res, fut in client.describe_configs(resources, request_timeout=wait).items()}
        except (KafkaException, TimeoutError) as err:  # concurrent.futures' timeout is TimeoutError
            last = err
        if deadline.expired():
            break
    raise KafkaUnavailable(f"Kafka did not describe topic configs within {timeout:g}s: "
                           f"{type(last).__name__} {last or ''}".rstrip())


def leader_of(bootstrap: str, topic: str, partition: int = 0, *, timeout: float = TIMEOUT) -> int:
    md = _metadata(admin(bootstrap), timeout)
    if topic not in md.topics or partition not in md.topics[topic].partitions:
        raise GamedayError(f"Kafka has no partition {topic}-{partition}")
    return md.topics[topic].partitions[partition].leader


def _offsets_reader(bootstrap: str, group: str) -> Consumer:
    """A consumer carrying the group's id that never subscribes: it reads the group's committed
    offsets without joining it. Kept for the life of the process, like the admin clients.

    (AdminClient.list_consumer_group_offsets is not used: librdkafka 2.16 segfaults in
    rd_kafka_cgrp_op when an OffsetFetch answer carries a coordinator error, i.e. exactly when
    brokers are being killed.)
    """
    key = _reader_key(bootstrap, group)
    if key not in _readers:
        _readers[key] = Consumer(kafka_client.settings({
            "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "socket.connection.setup.timeout.ms": 2000, "logger": _quiet}))
    return _readers[key]


def _fresh_offsets_reader(bootstrap: str, group: str) -> Consumer:
    """Forget the kept reader of ``group`` and make a new one: librdkafka's metadata cache in a
    long-lived client can keep a partition it missed once as unknown (_UNKNOWN_PARTITION on every
    later ask, for minutes, after a broker came back); a new client asks the cluster afresh. The old
    one is not closed here (another thread may be asking it): it goes with its last reference."""
    _readers.pop(_reader_key(bootstrap, group), None)
    return _offsets_reader(bootstrap, group)


def _reader_key(bootstrap: str, group: str) -> tuple:
    """The kept readers' key: the bootstrap, the group and how the bootstrap is reached."""
    return bootstrap, group, kafka_client.tls_for(bootstrap)


# Errors a cluster gives while it settles (a broker back, leaders moving, a group coordinator loading its
# offsets). librdkafka marks few of them retriable() on the errors its simple calls raise.
_SETTLING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                       KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR,
                       KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.REQUEST_TIMED_OUT})
# Errors of the client's own metadata cache: the partition or topic exists (the cluster's metadata
# just listed it), so the client is asked to forget what it cached and to ask again.
_STALE_CACHE = frozenset({KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC})


def consumer_lag(bootstrap: str, group: str, topic: str, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Lag = latest offset - committed offset, per partition and in total (uncommitted counts all)."""
    md = _metadata(admin(bootstrap), timeout)
    if topic not in md.topics:
        raise GamedayError(f"Kafka has no topic {topic!r}")
    reader = _offsets_reader(bootstrap, group)
    parts = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
    deadline = Deadline(timeout)
    answer: tuple[dict[int, int], dict[int, int]] | None = None
    last: KafkaException | None = None
    # a leader that just moved (NOT_LEADER_FOR_PARTITION) or a coordinator still loading is retriable:
    # the client refreshes its metadata and a later ask answers, while the deadline allows
    while answer is None and (last is None or deadline.remaining() >= 0.5):
        try:
            committed = {tp.partition: tp.offset for tp in reader.committed(parts, timeout=max(deadline.remaining(), 0.5))}
            answer = committed, {tp.partition: reader.get_watermark_offsets(tp, timeout=max(deadline.remaining(), 0.5))[1]
                                 for tp in parts}
        except KafkaException as err:
            code = err.args[0].code()
            if code in _STALE_CACHE:
                reader = _fresh_offsets_reader(bootstrap, group)
            elif not (err.args[0].retriable() or code in _SETTLING):
                raise KafkaUnavailable(f"Kafka did not report offsets for group {group!r}: {err}") from err
            last = err
            time.sleep(0.25)
    if answer is None:
        raise KafkaUnavailable(f"Kafka did not report offsets for group {group!r}: {last}") from last
    committed, latest = answer
    per = {p: latest[p] - max(committed.get(p, 0), 0) for p in latest}
    return {"group": group, "topic": topic, "total": sum(per.values()), "partitions": per}


def active_controller(bootstrap: str, *, timeout: float = 30.0) -> int:
    """The KRaft quorum leader, from Kafka's own ``kafka-metadata-quorum describe --status``.

    (The admin API's describe_cluster reports a random broker as "controller" under KRaft.)
    """
    out = _metadata_quorum(bootstrap, "--status", timeout)
    match = re.search(r"LeaderId:\s+(-?\d+)", out)
    if not match:
        raise KafkaUnavailable(f"kafka-metadata-quorum printed no LeaderId: {out.strip()[-300:]!r}")
    return int(match.group(1))


def _metadata_quorum(bootstrap: str, what: str, timeout: float) -> str:
    """The output of Kafka's own ``kafka-metadata-quorum describe <what>`` (``--status``,
    ``--replication``); KafkaUnavailable when it fails or does not answer within ``timeout``."""
    from .sandbox.install import locations
    loc = locations()
    cmd = [loc.java or "java", "-Xmx128m", "-cp", f"{loc.kafka_libs}/*", "org.apache.kafka.tools.MetadataQuorumCommand",
           "--bootstrap-server", bootstrap]
    security = kafka_client.tls_for(bootstrap).java()
    with tempfile.NamedTemporaryFile("w", suffix=".properties", prefix="gameday-kafka-") as config:
        if security:  # TLS: the tool reaches the brokers as gameday's own clients do (no secret in it: a CA path)
            config.write("".join(f"{k}={v}\n" for k, v in security.items()))
            config.flush()
            cmd += ["--command-config", config.name]
        try:
            out = subprocess.run([*cmd, "describe", what], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise KafkaUnavailable(f"kafka-metadata-quorum did not answer within {timeout:.0f}s") from err
    if out.returncode != 0:
        raise KafkaUnavailable(f"kafka-metadata-quorum failed: {(out.stderr or out.stdout).strip()[-300:]}")
    return out.stdout


def parse_quorum_replication(text: str) -> list[dict[str, Any]]:
    """Rows of ``kafka-metadata-quorum describe --replication`` as dicts:
    ``[{"node_id": 1, "log_end_offset": 120, "lag": 0, "status": "Leader", "last_fetch_ms": ...}, ...]``
    (status Leader, Follower or Observer; last_fetch_ms -1 when it never fetched). A text without
    the header row is an error (KafkaUnavailable)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    header = next((i for i, cells in enumerate(lines) if cells and cells[0] == "NodeId"), None)
    if header is None:
        raise KafkaUnavailable(f"kafka-metadata-quorum printed no replication table: {text.strip()[-300:]!r}")
    names = lines[header]
    rows = []
    for cells in lines[header + 1:]:
        if len(cells) != len(names) or not cells[0].lstrip("-").isdigit():
            continue
        row = dict(zip(names, cells, strict=True))
        rows.append({"node_id": int(row["NodeId"]), "log_end_offset": int(row["LogEndOffset"]),
                     "lag": int(row["Lag"]), "status": row["Status"],
                     "last_fetch_ms": int(row.get("LastFetchTimestamp", "-1"))})
    return rows


def quorum_replication(bootstrap: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The KRaft metadata quorum's replicas (voters and observers) with their lag, from Kafka's own
    ``kafka-metadata-quorum describe --replication`` (see :func:`parse_quorum_replication`)::

        voters = [r["node_id"] for r in quorum_replication(bootstrap) if r["status"] in ("Leader", "Follower")]
    """
    return parse_quorum_replication(_metadata_quorum(bootstrap, "--replication", timeout))


VOTER_MAX_LAG = 100  # metadata records: a voter this close to the leader's log end has caught up
VOTER_MAX_SILENCE_MS = 10_000  # and it fetched from the leader this recently


def voters_missing(rows: list[dict[str, Any]], now_ms: float, expected: list[int]) -> list[int]:
    """The ``expected`` voter ids that are not back in the quorum: absent from ``rows``
    (:func:`parse_quorum_replication`), not a voter (Leader/Follower), more than
    :data:`VOTER_MAX_LAG` records behind, or silent for over :data:`VOTER_MAX_SILENCE_MS`."""
    by_id = {r["node_id"]: r for r in rows}
    missing = []
    for node_id in expected:
        r = by_id.get(node_id)
        if r is None or r["status"] not in ("Leader", "Follower") or r["lag"] > VOTER_MAX_LAG:
            missing.append(node_id)
        elif r["status"] == "Follower" and (r["last_fetch_ms"] < 0 or now_ms - r["last_fetch_ms"] > VOTER_MAX_SILENCE_MS):
            missing.append(node_id)
    return missing



def quorum_state(bootstrap: str, voters: int, *, timeout: float = 20.0) -> dict[str, Any]:
    """Whether the KRaft metadata quorum of ``voters`` voters has a leader a majority of them follow,
    from ``kafka-metadata-quorum describe --replication`` (caught up: :func:`voters_missing`)::

        state = quorum_state(bootstrap, 3)
        state["has_quorum"], state["leader"], state["caught_up"], state["silent"], state["error"]

    With a majority of voters down the command times out, or names a leader whose followers are
    silent: ``has_quorum`` False. Never raises for an unreachable cluster (``error`` says why)."""
    majority = voters // 2 + 1
    state: dict[str, Any] = {"has_quorum": False, "leader": None, "caught_up": [], "silent": [],
                             "majority": majority, "voters": voters, "error": None}
    try:
        rows = quorum_replication(bootstrap, timeout=timeout)
    except KafkaUnavailable as err:
        return {**state, "error": str(err)}
    known = sorted(r["node_id"] for r in rows if r["status"] in ("Leader", "Follower"))
    silent = voters_missing(rows, time.time() * 1000, known)
    caught_up = [v for v in known if v not in silent]
    leader = next((r["node_id"] for r in rows if r["status"] == "Leader"), None)
    return {**state, "leader": leader, "caught_up": caught_up, "silent": silent,
            "has_quorum": leader in caught_up and len(caught_up) >= majority}
