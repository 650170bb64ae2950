"""toxiproxy between the web tier and each dependency, so network faults need no code change.

Proxies (all on toxiproxy's own address): ``db`` :3306, ``search-N`` :920N, ``kafka-N`` :909N (to each
broker's PROXIED listener). A restart of toxiproxy drops every toxic: faults never outlive it.

One more is not a fault point but the database's stable endpoint: ``mariadb-primary`` listens on
:meth:`Twin.db_addr` (``127.<net>.30.100:3306``, in the db layer's range) and forwards to the current
primary (:mod:`gameday.sandbox.db_roles`); ``db`` forwards to it. A failover repoints it at run time
(:func:`repoint_primary`) and in the config file a restarted toxiproxy reads. Its name does not
start with ``db`` so the network faults on ``db`` never touch it.
"""

from __future__ import annotations

import json

from ..spec import MemberSpec, Workload
from ..twin import KAFKA_NODES, PORTS, SEARCH_NODES, Twin

NAME = "toxiproxy-1"


PRIMARY_PROXY = "mariadb-primary"


def primary_proxy(twin: Twin, primary: str | None = None) -> dict:
    """The stable endpoint's proxy, at ``primary`` (default: the recorded primary)."""
    from .. import db_roles
    from . import db
    upstream = f"{db.address(twin, primary or db_roles.load(twin).primary)}:{PORTS['db']}"
    return {"name": PRIMARY_PROXY, "listen": twin.db_addr(), "upstream": upstream, "enabled": True}


def proxies(twin: Twin) -> list[dict]:
    me = twin.address("toxiproxy")
    out = [primary_proxy(twin),
           {"name": "db", "listen": f"{me}:{PORTS['db']}", "upstream": twin.db_addr(), "enabled": True}]
    out += [{"name": f"search-{i}", "listen": f"{me}:{9200 + i}",
             "upstream": f"{twin.address('search', i)}:{PORTS['search']}", "enabled": True}
            for i in range(1, SEARCH_NODES + 1)]
    out += [{"name": f"kafka-{i}", "listen": f"{me}:{9090 + i}",
             "upstream": f"{twin.address('kafka', i)}:{PORTS['kafka_proxied']}", "enabled": True}
            for i in range(1, KAFKA_NODES + 1)]
    return out


def _config(twin: Twin):
    return twin.paths.conf / "toxiproxy.json"


def prepare(twin: Twin) -> None:
    tmp = _config(twin).with_name(f".{_config(twin).name}.tmp")
    tmp.write_text(json.dumps(proxies(twin), indent=2))
    tmp.replace(_config(twin))


def repoint_primary(twin: Twin, primary: str, *, timeout: float = 5.0) -> dict:
    """Point the stable endpoint at ``primary`` now (toxiproxy's API: the proxy is restarted on the
    new upstream, its open connections closed) and in the config file a restarted toxiproxy reads.
    Returns the proxy as toxiproxy reports it."""
    import requests

    from ...errors import GamedayError
    prepare(twin)  # the roles already name the new primary: a restart from here on reads it
    proxy = primary_proxy(twin, primary)
    try:
        r = requests.post(f"{twin.toxiproxy_api}/proxies/{PRIMARY_PROXY}", json=proxy, timeout=timeout)
    except requests.RequestException as err:
        raise GamedayError(f"toxiproxy did not answer at {twin.toxiproxy_api}: {err}",
                           hint="it reads the new primary from its config when it starts again") from None
    if r.status_code == 404:  # a toxiproxy started before the endpoint existed
        r = requests.post(f"{twin.toxiproxy_api}/proxies", json=proxy, timeout=timeout)
    if r.status_code not in (200, 201):
        raise GamedayError(f"toxiproxy refused to repoint {PRIMARY_PROXY} at {proxy['upstream']}: "
                           f"{r.status_code} {r.text[:200]}")
    return r.json()


def workload(twin: Twin) -> Workload:
    address = twin.address("toxiproxy")
    member = MemberSpec(
        name=NAME, index=1, address=address, ports={"api": PORTS["toxiproxy"]},
        argv=[str(twin.loc.toxiproxy), "-host", address, "-port", str(PORTS["toxiproxy"]), "-config", str(_config(twin))],
        env={"LOG_LEVEL": "warn"},
        readiness={"type": "http", "url": f"http://{address}:{PORTS['toxiproxy']}/version"},
        labels={"app": "toxiproxy", "zone": "regional"},  # the network between zones, not in one
        stop_grace=3.0,
    )
    return Workload(name="toxiproxy", layer="toxiproxy", kind="service", replicas=1, members=[member],
                    labels={"layer": "network"})
