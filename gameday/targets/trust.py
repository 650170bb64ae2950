"""Certificate authorities an environment trusts besides the system's: one bundle per process.

An environment whose site or search cluster presents a certificate from a private CA (ECK's
self-signed HTTP CA, a company CA) names it under ``trust:``, by reference::

    trust:
      - {secret: search/sps-search-es-http-certs-public, key: ca.crt}   # read through the Kubernetes API
      - {file: /etc/ssl/company-ca.pem}

The target calls :func:`install` before its first HTTPS request. It writes one bundle (certifi's
public roots plus those CAs; content-addressed, under ``<state root>/trust/``) and points
``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_FILE`` at it, so every client of this process verifies with it
(requests, Locust's FastHttpUser with ``insecure = False``, ``ssl.create_default_context``) and so do
its children (Locust, ``chaos run``). Certificates are verified, never switched off. A CA
certificate is public: it is not a secret.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import certifi

from ..errors import UsageError
from ..statedir import state_root

ENV_VARS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
BEGIN = "-----BEGIN CERTIFICATE-----"


def read_ca(ref: dict[str, Any], read_secret: Callable[[str, str], dict[str, str]] | None, source: str) -> str:
    """The PEM text a reference points at: a file, or a key of a Kubernetes secret."""
    if "file" in ref:
        path = Path(os.path.expandvars(str(ref["file"]))).expanduser()
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"trust: CA file {path} is not readable ({type(err).__name__})",
                             hint=f"fix trust in {source}") from None
        where = str(path)
    else:
        if read_secret is None:
            raise UsageError(f"trust: {ref['secret']} is a Kubernetes secret, and {source} names no cluster",
                             hint="use {file: /path/to/ca.pem} for a target outside Kubernetes")
        namespace, name = str(ref["secret"]).split("/", 1)
        data = read_secret(namespace, name)
        if ref["key"] not in data:
            raise UsageError(f"trust: secret {namespace}/{name} has no key {ref['key']!r}",
                             hint=f"keys there: {', '.join(sorted(data)) or 'none'}; fix trust in {source}")
        text, where = data[ref["key"]], f"secret {namespace}/{name} key {ref['key']}"
    if BEGIN not in text:
        raise UsageError(f"trust: {where} holds no PEM certificate", hint=f"fix trust in {source}")
    return text


def bundle(extra: list[str]) -> Path:
    """The bundle file for certifi's roots plus ``extra`` PEM texts (written once per content)."""
    text = Path(certifi.where()).read_text().rstrip("\n") + "\n" + "".join(e.strip() + "\n" for e in extra)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = state_root() / "trust"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bundle-{digest}.pem"
    if not path.exists():
        tmp = folder / f".{path.name}.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)
    return path


def verify() -> str | bool:
    """What a ``requests`` session that does not read the environment (``trust_env = False``, so no
    proxy reaches loopback) should verify with: the bundle :func:`install` made, else the system's
    roots (``True``). Never ``False``::

        session.trust_env = False
        session.verify = trust.verify()
    """
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


def install(refs: list[dict[str, Any]], read_secret: Callable[[str, str], dict[str, str]] | None,
            source: str) -> Path | None:
    """Trust ``refs`` in this process and its children (see the module docstring); None when the
    environment names no CA (the system's roots, as before). Idempotent."""
    if not refs:
        return None
    path = bundle([read_ca(ref, read_secret, source) for ref in refs])
    for var in ENV_VARS:
        os.environ[var] = str(path)
    return path
