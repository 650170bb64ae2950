"""Host names of a twin, resolved through ``/etc/hosts`` as a real environment's are through DNS.

Twin ``NAME`` owns the domain ``NAME.gameday.test``::

    site.NAME.gameday.test, search.NAME.gameday.test   -> the load balancer (HTTPS :443, search :9200)
    kafka-1..3.NAME.gameday.test                       -> the brokers
    db.NAME.gameday.test, toxiproxy.NAME.gameday.test  -> the database, toxiproxy

A global front twin (``NAME-global``, :mod:`gameday.sandbox.members.front`) runs only its HAProxy:
its one name is ``site.NAME-global.gameday.test``.

:func:`write_hosts` keeps them in a block of ``/etc/hosts`` of its own, between
``# gameday twin NAME begin`` and ``# gameday twin NAME end``; nothing else in the file changes.
Writers take an ``fcntl`` lock (``<state root>/hosts.lock``), so twins started at the same time do
not lose each other's blocks, and rewrite the file in place (``/etc/hosts`` may be a bind mount,
which a rename would not replace). A file that already holds the right block is not written at all,
so a user who cannot write ``/etc/hosts`` adds the lines once by hand (``gameday sandbox hosts``)::

    write_hosts(twin)     # True when the file changed
    remove_hosts(twin)    # on `sandbox down --wipe`
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from ..errors import GamedayError, UsageError
from ..statedir import locked, state_root
from .twin import KAFKA_NODES, Twin

HOSTS = Path("/etc/hosts")
TLD = "gameday.test"
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _check_name(name: str) -> str:
    if not _LABEL.match(name):
        raise UsageError(f"twin name {name!r} cannot be a DNS label, so its host names cannot be made",
                         hint="name twins with lower-case letters, digits and '-' (e.g. k8s-dev)")
    return name


def domain(twin: Twin) -> str:
    """``<twin>.gameday.test``."""
    return f"{_check_name(twin.name)}.{TLD}"


def site_host(twin: Twin) -> str:
    return f"site.{domain(twin)}"


def search_host(twin: Twin) -> str:
    return f"search.{domain(twin)}"


def hostnames(twin: Twin) -> dict[str, str]:
    """Every host name of the twin -> its loopback address (a global front: its site name only)."""
    d = domain(twin)
    if twin.shape.role == "front":
        return {f"site.{d}": twin.address("lb")}
    names = {f"site.{d}": twin.address("lb"), f"search.{d}": twin.address("lb")}
    names.update({f"kafka-{i}.{d}": twin.address("kafka", i) for i in range(1, KAFKA_NODES + 1)})
    names[f"db.{d}"] = twin.address("db")
    names[f"toxiproxy.{d}"] = twin.address("toxiproxy")
    return names


def _markers(name: str) -> tuple[str, str]:
    return f"# gameday twin {name} begin", f"# gameday twin {name} end"


def block(twin: Twin) -> str:
    """The twin's block of ``/etc/hosts`` (one line per address, newline-terminated)."""
    begin, end = _markers(_check_name(twin.name))
    by_address: dict[str, list[str]] = {}
    for host, address in hostnames(twin).items():
        by_address.setdefault(address, []).append(host)
    lines = [begin] + [f"{address} {' '.join(hosts)}" for address, hosts in by_address.items()] + [end]
    return "\n".join(lines) + "\n"


def _without(text: str, name: str) -> str:
    """``text`` without the block(s) of twin ``name`` (an unterminated block runs to the end)."""
    begin, end = _markers(name)
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == begin:
            inside = True
        elif inside and stripped == end:
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


def _with(text: str, twin: Twin) -> str:
    rest = _without(text, twin.name)
    if rest and not rest.endswith("\n"):
        rest += "\n"
    return rest + block(twin)


def lock_path() -> Path:
    return state_root() / "hosts.lock"


def _locked():
    return locked(lock_path().name)


def _rewrite(path: Path, change, *, lines_for_hand: str, verb: str) -> bool:
    """Under the lock: read ``path``, and if ``change(text)`` differs, write it back in place."""
    with _locked():
        text = path.read_text() if path.exists() else ""
        new = change(text)
        if new == text:
            return False
        try:
            with open(path, "r+" if path.exists() else "w") as fh:
                fh.seek(0)
                fh.write(new)
                fh.truncate()
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            raise GamedayError(
                f"cannot write {path} ({err.strerror}): {verb} these lines by hand (as root):\n{lines_for_hand}",
                hint="or run `gameday sandbox hosts --write` as root; `gameday sandbox hosts` prints the block",
            ) from None
        return True


def write_hosts(twin: Twin, path: Path = HOSTS) -> bool:
    """Put the twin's block into ``path`` (replacing an older one); True when the file changed."""
    return _rewrite(Path(path), lambda text: _with(text, twin), lines_for_hand=block(twin), verb="add")


def remove_block(name: str, path: Path = HOSTS) -> bool:
    """Remove twin ``name``'s block from ``path``; True when the file changed."""
    begin, _ = _markers(name)
    return _rewrite(Path(path), lambda text: _without(text, name),
                    lines_for_hand=f"(everything from '{begin}' to its end line)", verb="remove")


def remove_hosts(twin: Twin, path: Path = HOSTS) -> bool:
    """Remove the twin's block from ``path``; True when the file changed."""
    return remove_block(twin.name, path)
