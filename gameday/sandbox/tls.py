"""The twin's own certificate authority and the TLS certificate of its front (HAProxy).

A production environment reaches the site and search over HTTPS with certificates from a CA it
trusts; the twin does the same with a CA of its own, made once per twin and kept::

    files = ensure(twin)          # the CA (kept if it exists) and the front certificate
    ca_bundle_path(twin)          # <twin>/conf/tls/ca.crt: what clients pass as verify=
    files.front_pem               # <twin>/secrets/tls/front.pem (cert + key, 0600), HAProxy's `crt`

The front certificate's names are ``site.<twin>.gameday.test`` and ``search.<twin>.gameday.test``
(:mod:`gameday.sandbox.names`) and the load balancer's address; it is issued again whenever those
change or the CA is not the one that signed it. Public files (the CA and front certificates) live in
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
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..kube.pki import _builder, _key_pem, _load_key, _name, _write_private
from . import names
from .twin import Twin


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


def files(twin: Twin) -> TlsFiles:
    return TlsFiles(public=twin.paths.conf / "tls", private=twin.paths.secrets / "tls")


def ca_bundle_path(twin: Twin) -> Path:
    """The twin CA's certificate (PEM): trust it to verify the site and search fronts."""
    return files(twin).ca_cert


def front_names(twin: Twin) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the front certificate is valid for."""
    return [names.site_host(twin), names.search_host(twin)], [twin.address("lb")]


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


def ensure(twin: Twin) -> TlsFiles:
    """The CA and a current front certificate (with its cert+key PEM for HAProxy)."""
    f = files(twin)
    ca_cert, ca_key = ensure_ca(twin)
    dns, ips = front_names(twin)
    if f.front_pem.exists() and f.front_key.exists() and _current(f.front_cert, ca_cert, dns, ips):
        return f
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(dns[0], ["gameday"]), ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
                critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    _write_private(f.front_key, _key_pem(key))
    _write_private(f.front_pem, cert_pem + _key_pem(key))
    _write_public(f.front_cert, cert_pem)
    return f
