"""The Java outbox relay as a twin member: WordPress's content-event outbox to Kafka (issue 17).

Not part of the default topology yet (the twin's events still come from the Python site); a topology
that wants it adds :func:`workload` after the database and WordPress::

    event_relay.prepare(twin)                       # the build is current, the database password exists
    topology.workloads += [event_relay.workload(twin, after=["wp-bootstrap"])]
    event_relay.status(twin)                        # {"state": "idle", "lag": 0, "sent_total": 42, ...}

- ``relay-N`` (workload ``relay``, layer ``events``): ``java -jar event-relay.jar``
  (``services/event-relay``, built by ``gameday sandbox install``, :mod:`gameday.sandbox.relay_build`)
  on ``127.<net>.65.N``, its ``/healthz`` (the lag, what was sent, as JSON) and ``/readyz`` on port
  :data:`PORT`. It reads ``wp_gameday_outbox`` in id order, produces each row to ``content-events``
  (idempotent producer, acks=all; key the post id; the event_id in a header and in the value) and marks
  a row sent only after Kafka acknowledged it. A crash between the acknowledgement and the mark sends
  that batch again: at-least-once, consumers dedupe by event_id.
- One relay relays at a time (a database named lock): a second replica waits as a standby and takes
  over within a poll when the first one's connection ends.

Settings reach it through the environment (no file, nothing secret in argv or ``topology.json``); the
database password through the supervisor from ``secrets/db.env`` (0600).
"""

from __future__ import annotations

import requests

from ...content import WORDPRESS
from ...errors import GamedayError
from ...zones import zone_for
from .. import jvm, relay_build
from ..spec import MemberSpec, Workload
from ..twin import CONTENT_TOPIC, DB_NAME, DB_USER, LAYERS, Twin

WORKLOAD = "relay"
LAYER = "events"
ADDRESS_OCTET = LAYERS[LAYER]  # 127.<net>.65.N, beside the indexer's .60
PORT = 8090
OUTBOX_TABLE = WORDPRESS.outbox  # wp_gameday_outbox: WordPress's table prefix wp_ + the plugin's gameday_outbox
HEAP = ["-Xms32m", "-Xmx128m", "-Xss512k"]
STOP_GRACE = 15.0  # a batch in flight waits up to delivery.timeout.ms (10 s) for its acks, then is marked


def address(twin: Twin, index: int = 1) -> str:
    return f"127.{twin.net}.{ADDRESS_OCTET}.{index}"


def url(twin: Twin, index: int = 1) -> str:
    """Relay ``index``'s health endpoint (``/healthz``, ``/readyz``)."""
    return f"http://{address(twin, index)}:{PORT}"


def prepare(twin: Twin) -> None:
    """Check that the relay is built from the current sources (NotInstalled names the install command)
    and make the twin's database password if it has none yet."""
    relay_build.check()
    twin.db_password()


def member(twin: Twin, index: int, *, db_addr: str, bootstrap: str, topic: str = CONTENT_TOPIC,
           settings: dict[str, int] | None = None) -> MemberSpec:
    """``relay-<index>``; ``settings`` sets ``batch``, ``poll_ms``, ``mark_delay_ms`` (the relay's
    ``GAMEDAY_RELAY_*``; ``mark_delay_ms`` holds the at-least-once window open, for drills)."""
    env = {
        "GAMEDAY_DB_ADDR": db_addr, "GAMEDAY_DB_NAME": DB_NAME, "GAMEDAY_DB_USER": DB_USER,
        "GAMEDAY_KAFKA_BOOTSTRAP": bootstrap, "GAMEDAY_CONTENT_TOPIC": topic,
        "GAMEDAY_RELAY_TABLE": OUTBOX_TABLE, "GAMEDAY_RELAY_HTTP": f"{address(twin, index)}:{PORT}",
    }
    for key, value in (settings or {}).items():
        env[f"GAMEDAY_RELAY_{key.upper()}"] = str(int(value))
    return MemberSpec(
        name=f"relay-{index}", index=index, address=address(twin, index), ports={"http": PORT},
        argv=[twin.loc.java or "java", *HEAP, *jvm.FLAGS, "-jar", str(relay_build.jar())],
        env=env, env_files=[str(twin.db_env_file)],
        readiness={"type": "http", "url": f"{url(twin, index)}/readyz"},
        labels={"app": "event-relay", "tier": "backend", "zone": zone_for(index)},
        stop_grace=STOP_GRACE,
    )


def workload(twin: Twin, *, db_addr: str | None = None, bootstrap: str | None = None, topic: str = CONTENT_TOPIC,
             replicas: int = 1, max_replicas: int = 2, settings: dict[str, int] | None = None,
             after: list[str] | None = None) -> Workload:
    """``relay-1..max_replicas`` (``replicas`` running), after ``after`` (default the database).
    ``db_addr`` defaults to the database's stable endpoint, ``bootstrap`` to the brokers' own listeners."""
    members = [member(twin, i, db_addr=db_addr or twin.db_addr(), bootstrap=bootstrap or twin.kafka_bootstrap(),
                      topic=topic, settings=settings) for i in range(1, max_replicas + 1)]
    return Workload(name=WORKLOAD, layer=LAYER, kind="service", replicas=replicas, members=members,
                    after=after if after is not None else ["db"], labels={"layer": LAYER})


def status(twin: Twin, index: int = 1, *, timeout: float = 2.0) -> dict:
    """Relay ``index``'s ``/healthz`` JSON: ``state``, ``ready``, ``leader``, ``lag`` (rows unsent),
    ``oldest_unsent_s``, ``sent_total``, ``in_flight`` (rows acknowledged, not yet marked), ...
    Raises GamedayError when it does not answer."""
    try:
        answer = requests.get(f"{url(twin, index)}/healthz", timeout=timeout)
        answer.raise_for_status()
        return answer.json()
    except (requests.RequestException, ValueError) as err:
        raise GamedayError(f"relay-{index} did not answer at {url(twin, index)}/healthz: {err}",
                           hint="`gameday sandbox status` shows whether it runs; its log is logs/relay-N.log") from err
