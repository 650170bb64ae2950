"""MariaDB GTID positions as text (``domain-server-sequence``, comma-separated per domain): parse,
merge and compare them. Pure functions, no server::

    parse_gtids("0-1-12,1-2-5")       # {0: (1, 12), 1: (2, 5)}
    beyond("0-1-105", "0-1-100")      # {0: (101, 105)}: five transactions past the base
"""

from __future__ import annotations

import re

_GTID = re.compile(r"(\d+)-(\d+)-(\d+)")


def parse_gtids(pos: str | None) -> dict[int, tuple[int, int]]:
    """``'0-1-12,1-2-5'`` -> ``{0: (1, 12), 1: (2, 5)}`` (domain -> (server id, sequence number))."""
    return {int(d): (int(s), int(n)) for d, s, n in _GTID.findall(pos or "")}


def merge(*positions: str | None) -> str:
    """One GTID position holding, per domain, the furthest of ``positions``."""
    best: dict[int, tuple[int, int]] = {}
    for pos in positions:
        for d, (srv, n) in parse_gtids(pos).items():
            if d not in best or n > best[d][1]:
                best[d] = (srv, n)
    return ",".join(f"{d}-{srv}-{n}" for d, (srv, n) in sorted(best.items()))


def beyond(pos: str | None, base: str | None) -> dict[int, tuple[int, int]]:
    """The domains where ``pos`` has transactions past ``base`` (by sequence number): ``{domain: (first
    sequence number past base, last)}``. Empty when ``pos`` is a prefix of ``base``'s history."""
    have, ref = parse_gtids(pos), parse_gtids(base)
    return {d: (ref.get(d, (0, 0))[1] + 1, n) for d, (_s, n) in have.items() if n > ref.get(d, (0, 0))[1]}
