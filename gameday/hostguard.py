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

Redirects are checked too: every ``requests`` sender uses :func:`session`, which follows a redirect
only to the origin (scheme, host, port) it was answered from. A redirect to anywhere else (WordPress
301s a request for another ``Host`` to its canonical URL) is refused with :class:`RedirectRefused`
naming both origins, so a credential or a publish never reaches the other host; a measuring probe
uses ``session(refuse=False)`` and gets the redirect itself as its answer, never the other host's
(:func:`redirected_to` says where it pointed)::

    with session() as s:                                   # carries credentials: refuse
        s.post(f"{base}/api/articles", auth=auth, json=...)
    s = session(refuse=False)                              # measures: count the redirect as one
    r = s.get(base + "/")
    if redirected_to(r): ...                               # "http://127.20.10.1:8080"
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any, Iterable
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .errors import GamedayError, UsageError

__all__ = ["check_url", "site_hosts", "host_of", "is_loopback", "origin", "RedirectRefused", "redirect_refused",
           "GuardedSession", "session", "redirected_to"]

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


# ---- redirects -----------------------------------------------------------------------------------
def origin(url: str) -> str | None:
    """``scheme://host:port`` of ``url`` (lower case, the port always written), or None when the two
    parsers the senders use (urllib3's and ``urllib.parse``) do not agree on it or it names no host."""
    try:
        u3, std = parse_url(str(url)), urlsplit(str(url))
        std_port = std.port
    except (LocationParseError, ValueError):
        return None
    scheme = (u3.scheme or "").lower()
    host = (u3.host or "").lower().strip("[]")
    if scheme not in SCHEMES or not host or "\\" in str(url) or host != (std.hostname or "").lower().strip("[]"):
        return None
    port = u3.port or DEFAULT_PORTS[scheme]
    if port != (std_port or DEFAULT_PORTS[scheme]) or u3.auth is not None or std.username is not None:
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class RedirectRefused(GamedayError):
    """A sender was redirected to another origin (scheme, host, port) and did not follow."""

    def __init__(self, source: str, target: str):
        self.source, self.target = origin(source) or "?", origin(target) or _shown(target)[:120]
        super().__init__(f"refusing to follow a redirect from {self.source} to {self.target}: another host "
                         "(nothing we send, credentials included, goes to a host it was not meant for)",
                         hint="the site redirects to its canonical URL: send to that host (the environment's "
                              "site_url), or make the site answer on the host it is asked for")


REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def redirect_refused(url: str, location: str) -> RedirectRefused | None:
    """None when a redirect from ``url`` to ``location`` (relative or absolute, resolved as requests and
    geventhttpclient resolve it) stays on ``url``'s origin; else the :class:`RedirectRefused` to raise.
    The one rule every sender follows (requests through :class:`GuardedSession`, Locust's users through
    ``loadtests/locustfile.py``)."""
    target = urljoin(str(url), str(location))
    here = origin(url)
    return None if here is not None and origin(target) == here else RedirectRefused(str(url), target)


class GuardedSession(requests.Session):
    """A ``requests.Session`` that follows a redirect only to the origin it was answered from.

    ``refuse=True`` (senders with credentials or writes): a redirect to another origin raises
    :class:`RedirectRefused` before anything is sent there. ``refuse=False`` (measuring probes): it is
    not followed either; the redirect response is returned as the answer, and :func:`redirected_to`
    names the origin it pointed at. ``allow_redirects=False`` on a call is honoured as in requests."""

    def __init__(self, *, refuse: bool = True):
        super().__init__()
        self.refuse = refuse
        self._calls = threading.local()  # one session may be shared by threads (site_slo's pool)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        calls = self._calls
        depth = getattr(calls, "depth", 0)
        if depth == 0:  # the caller's own request; deeper sends are requests' hops along the redirects
            calls.follow = kwargs.get("allow_redirects", True)
        calls.depth = depth + 1
        try:
            return super().send(request, **kwargs)
        finally:
            calls.depth = depth

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        location = super().get_redirect_target(resp)
        if location is None or not getattr(self._calls, "follow", True):
            return location
        refused = redirect_refused(resp.url, location)
        if refused is None:
            return location
        if self.refuse:
            resp.close()
            raise refused
        resp.gameday_redirected_to = refused.target
        return None


def session(*, refuse: bool = True) -> GuardedSession:
    """The session every ``requests`` sender uses (see :class:`GuardedSession`)."""
    return GuardedSession(refuse=refuse)


def redirected_to(resp: requests.Response) -> str | None:
    """The origin a response of ``session(refuse=False)`` redirected to and was not followed to, or None."""
    return getattr(resp, "gameday_redirected_to", None)
