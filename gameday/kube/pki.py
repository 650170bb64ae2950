"""Certificates and keys for the sandbox's Kubernetes control plane, made locally, once per twin.

Everything sits in ``<twin>/secrets/kube`` (0700, keys 0600): a CA, the apiserver's serving
certificate, a client certificate per component (the user name is the certificate's CN and the
groups its O, as Kubernetes reads them), the service-account signing key, and the node agent's
serving certificate for the kubelet port. ``ensure`` keeps what exists, so a restarted twin keeps
its identities::

    files = ensure(secrets_dir, apiserver_ips=["127.10.90.2"], agent_ips=["127.10.90.5"])
    files.client("admin")          # (cert path, key path)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650

# name -> (CN = user, O = groups). system:masters is cluster-admin; the two components have their
# own users, which the default RBAC policy already grants what they need.
CLIENTS = {
    "admin": ("gameday-admin", ["system:masters"]),
    "controller-manager": ("system:kube-controller-manager", []),
    "scheduler": ("system:kube-scheduler", []),
    "node-agent": ("gameday-node-agent", ["system:masters"]),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ["system:masters"]),
}


@dataclass(frozen=True)
class PkiFiles:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    def serving(self, name: str) -> tuple[Path, Path]:
        return self.root / f"{name}.crt", self.root / f"{name}.key"

    def client(self, name: str) -> tuple[Path, Path]:
        return self.root / f"{name}-client.crt", self.root / f"{name}-client.key"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _name(cn: str, orgs: list[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def _ensure_ca(files: PkiFiles):
    if files.ca_cert.exists() and files.ca_key.exists():
        return x509.load_pem_x509_certificate(files.ca_cert.read_bytes()), _load_key(files.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("gameday-sandbox-ca")
    cert = (_builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_private(files.ca_key, _key_pem(key))
    files.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issue(files: PkiFiles, ca, cert_path: Path, key_path: Path, *, cn: str, orgs: list[str],
           server: bool, dns: list[str] = (), ips: list[str] = ()) -> None:
    if cert_path.exists() and key_path.exists():
        return
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(_name(cn, orgs), ca_cert.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if server:
        alt = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure(root: Path, *, apiserver_ips: list[str], agent_ips: list[str]) -> PkiFiles:
    """Create whatever is missing under ``root`` and return where each file is."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    files = PkiFiles(root)
    ca = _ensure_ca(files)
    cert, key = files.serving("apiserver")
    _issue(files, ca, cert, key, cn="kube-apiserver", orgs=[], server=True,
           dns=["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local", "localhost"],
           ips=[*apiserver_ips, "127.0.0.1"])
    cert, key = files.serving("node-agent")
    _issue(files, ca, cert, key, cn="gameday-node-agent", orgs=[], server=True, dns=["localhost"], ips=agent_ips)
    for name, (cn, orgs) in CLIENTS.items():
        cert, key = files.client(name)
        _issue(files, ca, cert, key, cn=cn, orgs=orgs, server=False)
    if not files.sa_key.exists():
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(files.sa_key, _key_pem(sa))
        files.sa_pub.write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return files


def kubeconfig(server: str, files: PkiFiles, client: str, *, cluster: str = "gameday-sandbox") -> str:
    """A kubeconfig (YAML text) for ``client`` that points at ``server`` and trusts our CA."""
    cert, key = files.client(client)
    return f"""\
apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
    certificate-authority: {files.ca_cert}
users:
- name: {client}
  user:
    client-certificate: {cert}
    client-key: {key}
contexts:
- name: {cluster}
  context:
    cluster: {cluster}
    user: {client}
current-context: {cluster}
"""
