"""Credentials in environment files: references only, never values.

A ``credentials:`` entry names where a secret lives; gameday reads it at the moment of use and
never writes it anywhere::

    credentials:
      search: {env: ELASTIC_PASSWORD, username: elastic}              # an environment variable
      search: {secret: search/sps-search-es-elastic-user, key: elastic, username: elastic}  # a Kubernetes secret
      google: {adc: true}           # Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
                                    # gcloud auth application-default login, Workload Identity)

``validate`` rejects literal values; ``check`` tells, before anything is touched, which references
cannot be satisfied from here (an unset variable, a key file that is not there).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError
from ..schema.base import Strict
from ..schema.base import check as check_model
from ..schema.environment import CredentialRef

KINDS = ("env", "secret", "adc")


def validate(data: Any, source: str) -> dict[str, dict[str, Any]]:
    """The ``credentials`` mapping, each entry one reference (model:
    :class:`gameday.schema.environment.CredentialRef`); a literal value is an error that does not
    repeat it. One UsageError lists every problem."""
    if data is None or data == {}:
        return {}
    check_model(Credentials, {"credentials": data}, source, schema="environment")
    return {str(name): dict(ref) for name, ref in data.items()}


class Credentials(Strict):
    """The ``credentials:`` block alone (so its problems carry the key path ``credentials.<name>``)."""

    credentials: dict[str, CredentialRef]


def check(credentials: dict[str, dict[str, Any]], source: str) -> None:
    """Raise a UsageError for the first reference that cannot be satisfied on this machine.
    Kubernetes secrets are checked by the Kubernetes target when it reads them."""
    for name, ref in credentials.items():
        where = f"credentials.{name} in {source}"
        if "env" in ref and not os.environ.get(ref["env"]):
            raise UsageError(f"{where}: environment variable {ref['env']} is not set",
                             hint=f"export {ref['env']}=... before running (its value is never logged)")
        if "adc" in ref:
            path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
            if path and not Path(path).is_file():
                raise UsageError(f"{where}: GOOGLE_APPLICATION_CREDENTIALS points at {path}, which does not exist",
                                 hint="fix the path, or unset it to use gcloud's login or Workload Identity")



def known_values(credentials: dict[str, dict[str, Any]]) -> list[str]:
    """The values of the references this process can read (environment variables): the report's
    redaction masks them wherever they would appear. Never log what this returns."""
    return [os.environ[ref["env"]] for ref in credentials.values() if "env" in ref and os.environ.get(ref["env"])]


def resolve(ref: dict[str, Any], name: str, read_secret: Callable[[str, str], dict[str, str]]) -> str:
    """The value a reference points at, read now: an environment variable, or the ``key`` of a
    Kubernetes secret (``read_secret(namespace, name)`` returns its decoded data). Used by the
    Kubernetes target; the value is handed to the client that needs it and never logged."""
    if "env" in ref:
        value = os.environ.get(ref["env"])
        if not value:
            raise UsageError(f"credentials.{name}: environment variable {ref['env']} is not set",
                             hint=f"export {ref['env']}=... before running (its value is never logged)")
        return value
    if "secret" in ref:
        namespace, secret = str(ref["secret"]).split("/", 1)
        data = read_secret(namespace, secret)
        if ref["key"] not in data:
            raise UsageError(f"credentials.{name}: secret {namespace}/{secret} has no key {ref['key']!r}",
                             hint=f"keys there: {', '.join(sorted(data)) or 'none'}")
        from .. import redact
        redact.register(data[ref["key"]])  # masked in every output of this process from now on
        return data[ref["key"]]
    raise UsageError(f"credentials.{name}: {', '.join(ref)} gives no password",
                     hint="use {env: VARIABLE} or {secret: namespace/name, key: KEY}")


def basic_auth(pair: tuple[str, str] | None) -> tuple[bytes, bytes] | None:
    """``(user, password)`` as HTTP basic auth sends them: UTF-8 bytes (RFC 7617's charset), which
    ``requests`` and Locust put on the wire unchanged (a ``str`` they encode as Latin-1, which fails
    on any other character). None stays None: no Authorization header."""
    return (pair[0].encode(), pair[1].encode()) if pair else None


def basic_token(user: str, password: str) -> str:
    """The base64 of ``user:password`` an ``Authorization: Basic`` header carries: as good as the
    password to whoever reads it, so it is masked wherever the password is."""
    import base64
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def register_basic(user: str, password: str) -> None:
    """Register a basic-auth password and its header token with :mod:`gameday.redact` (every
    output of this process masks both from now on)."""
    from .. import redact
    redact.register(password, basic_token(user, password))
