"""How gameday's Kafka clients reach the brokers: plain text, or TLS as the environment's ``kafka.tls`` says.

Every producer, consumer and admin client gameday makes (the canary, :mod:`gameday.kafka_admin`,
:mod:`gameday.kafka_records`, the search playbook's replay) passes its librdkafka settings through
:func:`settings`, which adds how that bootstrap is reached::

    Producer(kafka_client.settings({"bootstrap.servers": bootstrap, "acks": "all"}))

The target says how when it hands out its bootstrap (``Target.kafka_bootstrap``: :func:`register`), once
per process, as :mod:`gameday.targets.trust` installs the environment's CAs:

- ``disabled`` (the default: Strimzi's ``plain`` listener, port 9092): plain text;
- ``verify-identity``: TLS (Strimzi's ``tls`` listener, port 9093), each broker's certificate verified
  against the environment's trusted CAs (``trust:``: Strimzi's ``<cluster>-cluster-ca-cert``) and its
  name against the name the broker advertises;
- ``verify-ca``: TLS, the certificate verified against those CAs, not its name.

Certificates are verified whenever TLS is on, never switched off.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from .errors import GamedayError

MODES = ("disabled", "verify-identity", "verify-ca")
DEFAULT_MODE = "disabled"


@dataclass(frozen=True)
class KafkaTls:
    """``mode`` (one of :data:`MODES`) and the CA bundle that verifies the brokers (None: the system's
    roots, librdkafka's ``probe``)."""

    mode: str = DEFAULT_MODE
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise GamedayError(f"Kafka TLS mode {self.mode!r} is not one of {', '.join(MODES)}",
                               hint="fix kubernetes.kafka.tls in the environment file")

    def librdkafka(self) -> dict[str, str]:
        """The librdkafka settings for this mode ({} for plain text)."""
        if self.mode == "disabled":
            return {}
        return {"security.protocol": "SSL", "ssl.ca.location": self.ca_file or "probe",
                "ssl.endpoint.identification.algorithm": "https" if self.mode == "verify-identity" else "none"}

    def java(self) -> dict[str, str]:
        """The same for Kafka's own Java tools (``--command-config``; {} for plain text)."""
        if self.mode == "disabled":
            return {}
        found = {"security.protocol": "SSL",
                 "ssl.endpoint.identification.algorithm": "https" if self.mode == "verify-identity" else ""}
        if self.ca_file:
            found.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": self.ca_file})
        return found

    def wrap(self, sock: socket.socket, host: str) -> socket.socket:
        """``sock`` as this mode reaches a broker at ``host`` (itself for plain text)."""
        if self.mode == "disabled":
            return sock
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.check_hostname = self.mode == "verify-identity"
        return ctx.wrap_socket(sock, server_hostname=host)


_LOCK = threading.Lock()
_REGISTERED: dict[str, KafkaTls] = {}


def register(bootstrap: str, tls: KafkaTls) -> str:
    """Reach ``bootstrap`` as ``tls`` says from here on, in this process; returns ``bootstrap``."""
    with _LOCK:
        _REGISTERED[bootstrap] = tls
    return bootstrap


def tls_for(bootstrap: str) -> KafkaTls:
    """How ``bootstrap`` is reached (plain text unless a target registered otherwise)."""
    with _LOCK:
        return _REGISTERED.get(bootstrap, KafkaTls())


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (librdkafka settings with ``bootstrap.servers``) plus how that bootstrap is reached."""
    return {**config, **tls_for(str(config["bootstrap.servers"])).librdkafka()}
