"""The one host guard: where load, probes and canaries may send HTTP.

Every sender (Locust's ``--host``, :func:`gameday.site_slo.measure`, the chaos site probes, the RPO
canaries' HTTP) asks this module first and then sends to the URL it returns, never to the one it
was given::

    base = check_url("http://127.20.10.1:8080")                         # loopback: always allowed
    base = check_url(env.site_url, allow=site_hosts(env))                # the environment's own site
    check_url("http://127.0.0.1@example.org")                            # UsageError: userinfo

A URL is parsed the way each of our senders parses it: ``requests``/urllib3 (``parse_url``, used
by site_slo, probes and canaries) and ``urllib.parse`` (used by Locust's FastHttpUser through
geventhttpclient). Both must agree on scheme, host and port, or the URL is refused: an ambiguous
URL (``http://x.invalid\\@127.0.0.1:9``) is never sent anywhere. What is returned is rebuilt from
the parsed parts (``scheme://host[:port][/path]``), so no sender can read it another way.

Allowed: ``http``/``https`` only; no userinfo (``user:pass@`` would also put a password into argv
and reports); no query or fragment (senders append paths to the base); a host that is loopback
(127.0.0.0/8, ``::1``, ``localhost``) or named exactly in ``allow`` (the allow-listed
environment's declared site host, see :func:`site_hosts`). Nothing else.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .errors import UsageError

__all__ = ["check_url", "site_hosts", "host_of", "is_loopback"]

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
HINT = "point it at the sandbox twin (e.g. http://127.10.10.1:8080) or at the environment's own site_url"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ``::1``, with or without brackets)."""
    host = host.lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_of(url: str) -> str | None:
    """The host ``requests`` would send ``url`` to (lower case), or None when it names none."""
    try:
        host = parse_url(str(url)).host
    except LocationParseError:
        return None
    return host.lower() if host else None


def site_hosts(env: Any) -> tuple[str, ...]:
    """The non-loopback hosts an environment lets us send to: its declared ``site_url``'s host, and
    only when the environment is allow-listed. Pass the result as ``allow`` to :func:`check_url`."""
    if not getattr(env, "allowed", False) or not getattr(env, "site_url", None):
        return ()
    host = host_of(env.site_url)
    return (host,) if host else ()


def _shown(url: str) -> str:
    """The URL for a message, with anything that may be userinfo (before the last '@') masked."""
    if "@" not in url:
        return url
    head, _, tail = url.rpartition("@")
    scheme, sep, _rest = head.partition("://")
    return f"{scheme}{sep}[userinfo removed]@{tail}" if sep else f"[userinfo removed]@{tail}"


def _refuse(url: str, why: str) -> UsageError:
    return UsageError(f"refusing to send HTTP to {_shown(url)!r}: {why}", hint=HINT)


def check_url(url: str, allow: Iterable[str] = ()) -> str:
    """The canonical base URL to send to (no trailing slash), or UsageError naming what is wrong."""
    text = str(url)
    if "@" in text:
        raise _refuse(text, "credentials (userinfo before '@') are not allowed in a URL")
    if "\\" in text:
        raise _refuse(text, "a backslash makes senders disagree on the host")
    if any(not 33 <= ord(ch) < 127 for ch in text):
        raise _refuse(text, "whitespace, control and non-ASCII characters are not allowed "
                            "(write an international host name in its xn-- form)")
    try:
        u3 = parse_url(text)
        std = urlsplit(text)
        std_port = std.port
    except (LocationParseError, ValueError):
        raise _refuse(text, "it is not a valid URL") from None
    scheme = (u3.scheme or "").lower()
    if scheme not in SCHEMES:
        raise _refuse(text, "only http:// and https:// URLs are allowed")
    if u3.auth is not None or std.username is not None or std.password is not None:
        raise _refuse(text, "credentials in a URL are not allowed")
    if u3.query is not None or u3.fragment is not None or std.query or std.fragment:
        raise _refuse(text, "a base URL has no query or fragment")
    host = (u3.host or "").lower()
    std_host = (std.hostname or "").lower()
    if not host:
        raise _refuse(text, "it names no host")
    if host.strip("[]") != std_host.strip("[]"):
        raise _refuse(text, f"senders would disagree on its host ({host!r} or {std_host!r})")
    if (u3.port or DEFAULT_PORTS[scheme]) != (std_port or DEFAULT_PORTS[scheme]):
        raise _refuse(text, "senders would disagree on its port")
    allowed = {str(h).lower() for h in allow if h}
    if not is_loopback(host) and host not in allowed:
        raise _refuse(text, f"{host} is not allowed: only loopback (127.0.0.0/8, localhost)"
                      + (f" or the environment's site ({', '.join(sorted(allowed))})" if allowed else ""))
    port = f":{u3.port}" if u3.port is not None else ""
    return f"{scheme}://{host}{port}{u3.path or ''}".rstrip("/")
