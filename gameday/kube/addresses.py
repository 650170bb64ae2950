"""Pod addresses on loopback: from the node's pod CIDR, or from a list the pod asks for.

By default a pod gets the lowest free address (``.2`` to ``.254``) of its node's /24. A pod template
can instead name its addresses with the annotation ``sandbox.gameday.io/addresses`` (comma-separated
addresses and ``first-last`` ranges, all in 127.0.0.0/8), so that workloads keep the sandbox's fixed
addresses (what HAProxy and toxiproxy are configured with):

- a StatefulSet pod (label ``apps.kubernetes.io/pod-index: "N"``) gets the N-th address of the list;
- any other pod gets the first address of the list that no running pod holds.

::

    book = AddressBook()
    book.claim(candidates(pod, node_hosts), preferred=pod["status"].get("podIP"))   # '127.10.20.1' or None
    book.release("127.10.20.1")
"""

from __future__ import annotations

import ipaddress
from typing import Any

ANNOTATION = "sandbox.gameday.io/addresses"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def parse(text: str) -> list[str]:
    """``"127.10.20.1-127.10.20.3,127.10.20.9"`` -> every address, in order. ValueError names the bad part."""
    out: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        first, _, last = item.partition("-")
        try:
            lo = ipaddress.IPv4Address(first.strip())
            hi = ipaddress.IPv4Address(last.strip()) if last else lo
        except ValueError as err:
            raise ValueError(f"{ANNOTATION}: {item!r} is not an address or a first-last range") from err
        if hi < lo or int(hi) - int(lo) > 1024:
            raise ValueError(f"{ANNOTATION}: {item!r} is not an ascending range of at most 1024 addresses")
        for value in range(int(lo), int(hi) + 1):
            address = ipaddress.IPv4Address(value)
            if address not in LOOPBACK:
                raise ValueError(f"{ANNOTATION}: {address} is not on loopback (127.0.0.0/8)")
            out.append(str(address))
    if not out:
        raise ValueError(f"{ANNOTATION} is empty")
    return out


def cidr_hosts(cidr: str) -> list[str]:
    """A node's pod addresses: its CIDR's hosts less the first (kept like a gateway address)."""
    return [str(h) for h in ipaddress.ip_network(cidr).hosts()][1:]


def candidates(pod: dict[str, Any], node_hosts: list[str]) -> list[str]:
    """The addresses this pod may have, best first (ValueError for a malformed annotation)."""
    meta = pod["metadata"]
    wanted = (meta.get("annotations") or {}).get(ANNOTATION)
    if not wanted:
        return node_hosts
    listed = parse(wanted)
    index = (meta.get("labels") or {}).get(POD_INDEX_LABEL)
    if index is None:
        return listed
    if not index.isdigit() or int(index) >= len(listed):
        raise ValueError(f"{ANNOTATION} lists {len(listed)} addresses, none for pod index {index}")
    return [listed[int(index)]]


class AddressBook:
    """Which addresses running pods hold (one book for every node of the agent)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, options: list[str], preferred: str | None = None) -> str | None:
        """The preferred address if it is an option and free, else the first free option, else None."""
        if preferred in options and preferred not in self.used:
            self.used.add(preferred)
            return preferred
        for address in options:
            if address not in self.used:
                self.used.add(address)
                return address
        return None

    def release(self, address: str) -> None:
        self.used.discard(address)
