"""How gameday's Kafka clients reach the brokers: plain text, or TLS as the environment's ``kafka.tls`` says.

Every producer, consumer and admin client gameday makes (the canary, :mod:`gameday.kafka_admin`,
:mod:`gameday.kafka_records`, the search playbook's replay) passes its librdkafka settings through
:func:`settings`, which adds how that bootstrap is reached::

    Producer(kafka_client.settings({"bootstrap.servers": bootstrap, "acks": "all"}))

The target says how when it hands out its bootstrap (``Target.kafka_bootstrap``: :func:`register`, the
CA bundle read when the first client connects), as :mod:`gameday.targets.trust` installs the
environment's CAs:

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
from typing import Any, Callable

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


class KafkaTlsError(GamedayError):
    """A broker's TLS listener did not verify (or is not TLS): a setting to change, never worked around."""


def check(bootstrap: str, *, timeout: float = 5.0) -> dict[str, str]:
    """One TLS handshake with the first broker of ``bootstrap`` as its clients will make them:
    ``{"address", "mode", "version", "cipher"}`` (version and cipher ``""`` for plain text, which is
    not contacted). librdkafka only says a broker is unreachable; this says why, with the fix:
    :class:`KafkaTlsError` for a certificate that does not verify or a listener that is not TLS, a
    GamedayError for one that does not answer. The game day's preflight shows it."""
    tls = tls_for(bootstrap)
    address = bootstrap.split(",")[0]
    found = {"address": address, "mode": tls.mode, "version": "", "cipher": ""}
    if tls.mode == "disabled":
        return found
    host, port = address.rsplit(":", 1)
    try:
        with tls.wrap(socket.create_connection((host, int(port)), timeout=timeout), host) as conn:
            found.update(version=conn.version() or "", cipher=(conn.cipher() or ("",))[0])
    except ssl.SSLCertVerificationError as err:
        raise KafkaTlsError(f"Kafka at {address} presented a certificate that did not verify "
                            f"({err.verify_message}); nothing was sent to it",
                            hint="trust the CA that issued the brokers' certificates (trust: in the environment file; "
                                 "Strimzi: secret <cluster>-cluster-ca-cert, key ca.crt), or set kubernetes.kafka.tls: "
                                 f"verify-ca when the names differ (mode {tls.mode})") from None
    except ssl.SSLError as err:
        raise KafkaTlsError(f"Kafka at {address} failed the TLS handshake ({err.reason or err}): is it a TLS listener?",
                            hint="point kubernetes.kafka.bootstrap at the tls listener (Strimzi: 9093), or set "
                                 "kubernetes.kafka.tls: disabled for the plain one (9092)") from None
    except OSError as err:
        raise GamedayError(f"Kafka at {address} did not answer ({type(err).__name__})",
                           hint="`gameday playbook kafka` diagnoses it") from None
    return found


_LOCK = threading.Lock()
_REGISTERED: dict[str, tuple[str, Callable[[], str | None]]] = {}


def register(bootstrap: str, mode: str, ca_file: Callable[[], str | None] = lambda: None) -> str:
    """Reach ``bootstrap`` in ``mode`` from here on, in this process, verified against the bundle
    ``ca_file()`` names (called when a client is made, not now: a target reads its trusted CAs, through
    the cluster's API, only when it connects); returns ``bootstrap``."""
    KafkaTls(mode)  # an unknown mode is refused here, where the environment is read
    with _LOCK:
        _REGISTERED[bootstrap] = (mode, ca_file)
    return bootstrap


def tls_for(bootstrap: str) -> KafkaTls:
    """How ``bootstrap`` is reached (plain text unless a target registered otherwise)."""
    with _LOCK:
        mode, ca_file = _REGISTERED.get(bootstrap, (DEFAULT_MODE, lambda: None))
    return KafkaTls(mode, ca_file() if mode != "disabled" else None)


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (librdkafka settings with ``bootstrap.servers``) plus how that bootstrap is reached."""
    return {**config, **tls_for(str(config["bootstrap.servers"])).librdkafka()}
