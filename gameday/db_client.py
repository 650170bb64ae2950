"""How gameday reaches the site's database as the site's user: one function, over TLS as the environment says.

Every client of the site's database in gameday (the RPO canary, the chaos actions and probes, the
playbooks' checks, a Cloud SQL clone's comparison) connects through :func:`connect`, with the
target's :class:`DbTls` (``Target.db_tls()``)::

    conn = db_client.connect(target.db_address(), target.db_credentials(), target.db_tls(), timeout=5)

``DbTls.mode`` is the environment's ``kubernetes.db.tls``:

- ``verify-identity`` (the default): TLS, the server's certificate verified against the environment's
  trusted CAs (``trust:``, :mod:`gameday.targets.trust`, plus the system's roots) and its name against
  the host connected to (a DNS name or an IP address in the certificate);
- ``verify-ca``: TLS, the certificate verified against those CAs, its name not checked (Cloud SQL's
  server certificates name the instance, ``project:instance``, not its address);
- ``disabled``: no TLS, for a connection that is already encrypted on its way (the Cloud SQL Auth
  Proxy on localhost).

A server that offers no TLS, or a certificate that does not verify, is a :class:`GamedayError` that
says so and what to change (:class:`DbTlsError`), never a silent fallback to plain text. Root's connections over a
server's own Unix socket (the twin's, :func:`gameday.sandbox.members.db.root_connect`) are not the
site's and do not come here.
"""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass
from typing import Any

import pymysql

from .errors import GamedayError

MODES = ("verify-identity", "verify-ca", "disabled")
DEFAULT_MODE = "verify-identity"
# PyMySQL's own error for a server that offers no TLS to a client that requires it
NO_TLS = 2026


class DbTlsError(GamedayError):
    """The database offers no TLS, or its certificate does not verify: a setting to change (the hint
    says which), never worked around."""


@dataclass(frozen=True)
class DbTls:
    """How to reach the database: ``mode`` (one of :data:`MODES`), and what verifies its certificate:
    ``ca_file`` (a PEM bundle) or ``ca_data`` (PEM text, e.g. a Cloud SQL instance's own server CA);
    neither: the system's roots. ``where`` names where the setting came from, for the error's hint."""

    mode: str = DEFAULT_MODE
    ca_file: str | None = None
    ca_data: str | None = None
    where: str = "the environment's kubernetes.db.tls"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise GamedayError(f"database TLS mode {self.mode!r} is not one of {', '.join(MODES)}",
                               hint=f"fix {self.where}")

    def context(self) -> ssl.SSLContext | None:
        """The client TLS context (None: ``disabled``); one per setting in this process (building one
        loads the CA bundle: ~30 ms of CPU, too much for every connection)."""
        if self.mode == "disabled":
            return None
        # without a file of its own, the context trusts the system's roots, which SSL_CERT_FILE may name
        return _context(self.mode, self.ca_file, self.ca_data, os.environ.get("SSL_CERT_FILE"))


@functools.lru_cache(maxsize=16)
def _context(mode: str, ca_file: str | None, ca_data: str | None, _roots: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file, cadata=ca_data)
    ctx.check_hostname = mode == "verify-identity"
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def connect(address: tuple[str, int], credentials: tuple[str, str, str], tls: DbTls, *, timeout: float = 5.0,
            read_timeout: float | None = None, write_timeout: float | None = None, autocommit: bool = True,
            **extra: Any) -> pymysql.connections.Connection:
    """A connection to the database at ``address`` as ``credentials`` (user, password, database), over
    TLS as ``tls`` says. The caller closes it (``with conn:``). Raises what PyMySQL raises for a
    refused or failed connection (``pymysql.MySQLError``, ``OSError``), for the caller to name its
    own purpose; a TLS failure (no TLS offered, a certificate that does not verify) is a
    :class:`DbTlsError` here, with the fix."""
    host, port = address
    user, password, database = credentials
    ctx = tls.context()
    kwargs: dict[str, Any] = {"ssl": ctx} if ctx is not None else {"ssl_disabled": True}
    try:
        return pymysql.connect(host=host, port=int(port), user=user, password=password, database=database,
                               connect_timeout=timeout, read_timeout=read_timeout or timeout,
                               write_timeout=write_timeout or timeout, autocommit=autocommit, **kwargs, **extra)
    except pymysql.err.OperationalError as err:
        problem = _tls_problem(err)
        if problem is None:
            raise
        raise DbTlsError(f"the database {host}:{port} {problem}; nothing was sent to it",
                         hint=_hint(tls, problem)) from None


def session_tls(conn: pymysql.connections.Connection) -> dict[str, str]:
    """What the server says of this session's encryption: ``{"version": "TLSv1.3", "cipher":
    "TLS_AES_256_GCM_SHA384"}`` (both ``""`` for plain text)."""
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
        got = {str(k): str(v or "") for k, v in cur.fetchall()}
    return {"version": got.get("Ssl_version", ""), "cipher": got.get("Ssl_cipher", "")}


def _tls_problem(err: pymysql.err.OperationalError) -> str | None:
    """What went wrong with TLS in ``err``, in words; None when it is not about TLS."""
    code = err.args[0] if err.args else None
    text = str(err.args[1]) if len(err.args) > 1 else ""
    if code == NO_TLS:
        return "offers no TLS, and gameday's connections require it"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLCertVerificationError" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl")[0].strip(" )'\"")
        return f"presented a certificate that did not verify ({reason or 'certificate verify failed'})"
    if "SSLError" in text or "SSL:" in text:
        return "failed the TLS handshake"
    return None


def _hint(tls: DbTls, problem: str) -> str:
    if problem.startswith("offers no TLS"):
        return (f"turn TLS on at the database (Cloud SQL offers it always), or, for a connection encrypted "
                f"on its way (the Cloud SQL Auth Proxy on localhost), set tls: disabled in {tls.where}")
    if "mismatch" in problem or "IP address" in problem or "hostname" in problem:
        return (f"connect by a name the certificate holds, or set tls: verify-ca in {tls.where} "
                f"(Cloud SQL's certificates name the instance, not its address)")
    return (f"trust the CA that issued the database's certificate (trust: in the environment file; Cloud SQL: "
            f"the instance's server CA, gcloud sql instances describe INSTANCE --format='value(serverCaCert.cert)'); "
            f"mode {tls.mode} from {tls.where}")
