"""toxiproxy between the web tier and each dependency, so network faults need no code change.

Proxies (all on toxiproxy's own address): ``db`` :3306, ``search-N`` :920N, ``kafka-N`` :909N (to each
broker's PROXIED listener). A restart of toxiproxy drops every toxic: faults never outlive it.
"""

from __future__ import annotations

import json

from ..spec import MemberSpec, Workload
from ..twin import KAFKA_NODES, PORTS, SEARCH_NODES, Twin

NAME = "toxiproxy-1"


def proxies(twin: Twin) -> list[dict]:
    me = twin.address("toxiproxy")
    out = [{"name": "db", "listen": f"{me}:{PORTS['db']}", "upstream": twin.db_addr(), "enabled": True}]
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
    _config(twin).write_text(json.dumps(proxies(twin), indent=2))


def workload(twin: Twin) -> Workload:
    address = twin.address("toxiproxy")
    member = MemberSpec(
        name=NAME, index=1, address=address, ports={"api": PORTS["toxiproxy"]},
        argv=[str(twin.loc.toxiproxy), "-host", address, "-port", str(PORTS["toxiproxy"]), "-config", str(_config(twin))],
        env={"LOG_LEVEL": "warn"},
        readiness={"type": "http", "url": f"http://{address}:{PORTS['toxiproxy']}/version"},
        labels={"app": "toxiproxy"},
        stop_grace=3.0,
    )
    return Workload(name="toxiproxy", layer="toxiproxy", kind="service", replicas=1, members=[member],
                    labels={"layer": "network"})
