"""The twin's own certificate authority, the TLS certificate of its front (HAProxy), its search nodes' and
its database members'.

A production environment reaches the site and search over HTTPS with certificates from a CA it
trusts; the twin does the same with a CA of its own, made once per twin and kept::

    files = ensure(twin)          # the CA (kept if it exists) and the front certificate
    ca_bundle_path(twin)          # <twin>/conf/tls/ca.crt: what clients pass as verify=
    files.front_pem               # <twin>/secrets/tls/front.pem (cert + key, 0600), HAProxy's `crt`
    ensure_search_node(twin)      # the search nodes' certificate (HTTP and transport layers)
    files.search_node_cert, files.search_node_key   # conf/tls/search-node.crt, secrets/tls/search-node.key
    ensure_db_server(twin)        # the database members' (db.<twin>.gameday.test, their addresses)
    ensure_kafka_broker(twin)     # the brokers' TLS listener (kafka-N.<twin>.gameday.test, their addresses)

The front certificate's names are ``site.<twin>.gameday.test`` and ``search.<twin>.gameday.test``
(:mod:`gameday.sandbox.names`) and the load balancer's address. The search nodes' certificate
(subject :data:`SEARCH_NODE_DN`, shared by every node as the security plugin's ``nodes_dn`` allows)
names every way a client reaches a node: ``search.<twin>.gameday.test`` (HAProxy passes TLS through
to the nodes, as a Kubernetes Service does), each node's address, toxiproxy's address (the web
tier's path to search), localhost; its key is PKCS#8, as the plugin wants. Each certificate is
issued again whenever its names change or the CA is not the one that signed it. Public files (the CA and front certificates) live in
``conf/tls``, readable by every local user; private keys in ``secrets/tls`` (0700, keys 0600).
This CA is not the Kubernetes control plane's (:mod:`gameday.kube.pki`), which only the API server uses.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..kube.pki import _builder, _key_pem, _load_key, _name, _write_private
from . import names
from .twin import DB_ENDPOINT_INDEX, DB_MEMBERS, KAFKA_NODES, SEARCH_NODES, Twin

# The search nodes' subject, in RFC 2253 order as the security plugin compares it (``nodes_dn``).
SEARCH_NODE_DN = "CN=search-node,OU=twin,O=gameday"
# The plugin's admin (``plugins.security.authcz.admin_dn``): a client certificate, the one way to change
# the security index's own settings (the bootstrap job pins its replicas, :mod:`gameday.sandbox.bootstrap`).
SEARCH_ADMIN_DN = "CN=admin,OU=twin,O=gameday"


@dataclass(frozen=True)
class TlsFiles:
    public: Path   # conf/tls
    private: Path  # secrets/tls

    @property
    def ca_cert(self) -> Path:
        return self.public / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.private / "ca.key"

    @property
    def front_cert(self) -> Path:
        return self.public / "front.crt"

    @property
    def front_key(self) -> Path:
        return self.private / "front.key"

    @property
    def front_pem(self) -> Path:
        """Certificate then key, one file: what HAProxy's ``bind ... ssl crt`` reads."""
        return self.private / "front.pem"

    @property
    def search_node_cert(self) -> Path:
        return self.public / "search-node.crt"

    @property
    def search_admin_cert(self) -> Path:
        return self.private / "search-admin.crt"

    @property
    def search_admin_key(self) -> Path:
        return self.private / "search-admin.key"

    @property
    def db_server_cert(self) -> Path:
        return self.public / "db-server.crt"

    @property
    def db_server_key(self) -> Path:
        """0600: copied into the database members' own TLS directory (owned by mysql)."""
        return self.private / "db-server.key"

    @property
    def kafka_broker_cert(self) -> Path:
        return self.public / "kafka-broker.crt"

    @property
    def kafka_broker_pem(self) -> Path:
        """The PKCS#8 key then the certificate, one file, 0600: the brokers' PEM keystore
        (``ssl.keystore.type=PEM``)."""
        return self.private / "kafka-broker.pem"

    @property
    def search_node_key(self) -> Path:
        """PKCS#8 PEM (``BEGIN PRIVATE KEY``), 0600: copied into each node's config (owned by its user)."""
        return self.private / "search-node.key"


def files(twin: Twin) -> TlsFiles:
    return TlsFiles(public=twin.paths.conf / "tls", private=twin.paths.secrets / "tls")


def ca_bundle_path(twin: Twin) -> Path:
    """The twin CA's certificate (PEM): trust it to verify the site and search fronts."""
    return files(twin).ca_cert


def front_names(twin: Twin) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the front certificate is valid for."""
    return [names.site_host(twin), names.search_host(twin)], [twin.address("lb")]


def search_node_names(twin: Twin) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the search nodes' certificate is valid for."""
    ips = [twin.address("search", i) for i in range(1, SEARCH_NODES + 1)]
    ips += [twin.address("toxiproxy"), twin.address("lb"), "127.0.0.1"]
    return [names.search_host(twin), "localhost"], ips


def db_host(twin: Twin) -> str:
    return f"db.{names.domain(twin)}"


def db_server_names(twin: Twin) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the database members' certificate is valid for: every way a client
    reaches one: ``db.<twin>.gameday.test``, the stable endpoint, each member's address, toxiproxy's
    address (the web tier's path), localhost."""
    ips = [twin.address("db", DB_ENDPOINT_INDEX)] + [twin.address("db", i) for i in range(1, len(DB_MEMBERS) + 1)]
    ips += [twin.address("toxiproxy"), "127.0.0.1"]
    return [db_host(twin), "localhost"], ips


def kafka_host(twin: Twin, i: int) -> str:
    return f"kafka-{i}.{names.domain(twin)}"


def kafka_broker_names(twin: Twin) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the brokers' certificate (one for all, as Strimzi's cluster CA issues each
    broker one) is valid for: each ``kafka-N.<twin>.gameday.test`` and each broker's address."""
    return ([kafka_host(twin, i) for i in range(1, KAFKA_NODES + 1)],
            [twin.address("kafka", i) for i in range(1, KAFKA_NODES + 1)])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         encipher_only=False, decipher_only=False)


def ensure_ca(twin: Twin):
    """The twin's CA (certificate, key): loaded if both files exist, else made."""
    f = files(twin)
    for d, mode in ((f.public, 0o755), (f.private, 0o700)):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, mode)
    if f.ca_cert.exists() and f.ca_key.exists():
        return x509.load_pem_x509_certificate(f.ca_cert.read_bytes()), _load_key(f.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"gameday twin {twin.name} CA", ["gameday"])
    cert = (_builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(f.ca_key, _key_pem(key))
    _write_public(f.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def _current(cert_path: Path, ca_cert, dns: list[str], ips: list[str]) -> bool:
    """The existing front certificate is signed by this CA and names exactly ``dns`` and ``ips``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, x509.InvalidSignature):
        return False
    return (sorted(alt.get_values_for_type(x509.DNSName)) == sorted(dns)
            and sorted(str(i) for i in alt.get_values_for_type(x509.IPAddress)) == sorted(ips))


def _issue(ca_cert, ca_key, subject: x509.Name, key, dns: list[str], ips: list[str], usages) -> bytes:
    """A leaf certificate (PEM) for ``key``'s public key, signed by the CA, valid for ``dns`` and ``ips``."""
    cert = (_builder(subject, ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                                         key_cert_sign=False, crl_sign=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
                critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def ensure(twin: Twin) -> TlsFiles:
    """The CA and a current front certificate (with its cert+key PEM for HAProxy)."""
    f = files(twin)
    made = _new_server_cert(twin, f.front_cert, f.front_pem, *front_names(twin), also=f.front_key)
    if made:
        key_pem, cert_pem = made
        _write_private(f.front_key, key_pem)
        _write_private(f.front_pem, cert_pem + key_pem)
        _write_public(f.front_cert, cert_pem)
    return f


def _new_server_cert(twin: Twin, cert: Path, key_file: Path, dns: list[str], ips: list[str], *,
                     also: Path | None = None) -> tuple[bytes, bytes] | None:
    """A new (key PEM, certificate PEM) from the twin's CA for a server named ``dns`` and ``ips`` (an EC
    key, server use, subject its first name), or None when the certificate at ``cert`` is current and
    ``key_file`` (and ``also``) exist: the caller writes the files its server reads."""
    ca_cert, ca_key = ensure_ca(twin)
    if key_file.exists() and (also is None or also.exists()) and _current(cert, ca_cert, dns, ips):
        return None
    key = ec.generate_private_key(ec.SECP256R1())
    return _key_pem(key), _issue(ca_cert, ca_key, _name(dns[0], ["gameday"]), key, dns, ips,
                                 [ExtendedKeyUsageOID.SERVER_AUTH])


def ensure_search_node(twin: Twin) -> TlsFiles:
    """The CA and a current search node certificate (:data:`SEARCH_NODE_DN`, :func:`search_node_names`):
    server and client use (the transport layer connects node to node with it), an RSA key in PKCS#8."""
    f = files(twin)
    ca_cert, ca_key = ensure_ca(twin)
    dns, ips = search_node_names(twin)
    if f.search_node_key.exists() and _current(f.search_node_cert, ca_cert, dns, ips):
        return f
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gameday"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "twin"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "search-node")])
    cert_pem = _issue(ca_cert, ca_key, subject, key, dns, ips,
                      [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    _write_private(f.search_node_key, _key_pem(key))
    _write_public(f.search_node_cert, cert_pem)
    return f


def ensure_db_server(twin: Twin) -> TlsFiles:
    """The CA and a current certificate for the database members (:func:`db_server_names`; server use,
    an EC key), which MariaDB presents to a client that asks for TLS (gameday's own clients always
    do: :mod:`gameday.db_client`)."""
    f = files(twin)
    made = _new_server_cert(twin, f.db_server_cert, f.db_server_key, *db_server_names(twin))
    if made:
        key_pem, cert_pem = made
        _write_private(f.db_server_key, key_pem)
        _write_public(f.db_server_cert, cert_pem)
    return f


def ensure_kafka_broker(twin: Twin) -> TlsFiles:
    """The CA and a current certificate for the brokers' TLS listener (:func:`kafka_broker_names`), with
    its key in one PEM file (key, then certificate) that Kafka reads as its keystore."""
    f = files(twin)
    made = _new_server_cert(twin, f.kafka_broker_cert, f.kafka_broker_pem, *kafka_broker_names(twin))
    if made:
        key_pem, cert_pem = made
        _write_private(f.kafka_broker_pem, key_pem + cert_pem)
        _write_public(f.kafka_broker_cert, cert_pem)
    return f


def ensure_search_admin(twin: Twin) -> TlsFiles:
    """The CA and a current admin client certificate for the search nodes (:data:`SEARCH_ADMIN_DN`),
    cert and key in ``secrets/tls`` (0600): root's, never a node's."""
    f = files(twin)
    ca_cert, ca_key = ensure_ca(twin)
    dns: list[str] = ["search-admin"]
    if f.search_admin_key.exists() and _current(f.search_admin_cert, ca_cert, dns, []):
        return f
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gameday"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "twin"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    cert_pem = _issue(ca_cert, ca_key, subject, key, dns, [], [ExtendedKeyUsageOID.CLIENT_AUTH])
    _write_private(f.search_admin_key, _key_pem(key))
    _write_private(f.search_admin_cert, cert_pem)
    return f
