"""The sandbox inventory matches the running twin: every component's members run, are ready and
answer at the endpoints it lists; every member the twin runs is in the inventory; the dependencies
read through toxiproxy are the ones its live proxies forward to. Run under `flock /tmp/gameday-twin.lock`."""

from __future__ import annotations

import json
import socket
import urllib.request

from gameday.coverage import claims, inventory, knowledge
from gameday.coverage import regions as region_set
from gameday.coverage import sandbox as sandbox_inventory
from gameday.sandbox.client import SandboxClient


def test_sandbox_inventory_matches_the_running_twin(twin):
    inv = inventory.parse(sandbox_inventory.generate(twin, claims.scan(inventory.ROOT)))
    status = SandboxClient(twin.paths).status()
    members = {m["name"]: m for m in status["members"]}
    listed: set[str] = set()
    for component in inv.components:
        realised = component.realised_by
        if component.id == region_set.ID:  # whole twins (this one, its -r2 standby, its -global front): not members
            assert realised["members"] == [twin.name, twin.name + "-r2"]
            continue
        # its workload, and any workload that is part of it (the database's replica, db-replica)
        workloads = {realised["workload"]} | {w for w, cid in knowledge.PART_OF.items() if cid == component.id}
        for name in realised["members"]:
            m = members[name]
            assert m["workload"] in workloads and m["state"] == "running" and m["ready"], m
            listed.add(name)
        for endpoint in realised["endpoints"]:
            host, port = endpoint.rsplit(":", 1)
            owner = next(m for m in status["members"] if m["address"] == host)
            assert owner["name"] in realised["members"] and int(port) in owner["ports"].values()
            with socket.create_connection((host, int(port)), timeout=5):
                pass  # it answers where the inventory says
    listed |= {name for h in inv.harness for name in h["members"]}
    running = {m["name"] for m in status["members"] if m["desired"]}
    assert running == listed, f"members the twin runs but the inventory lacks: {running - listed}; " \
                              f"listed but not run: {listed - running}"

    # web reaches db, search and Kafka through toxiproxy: its live proxies forward to those members
    with urllib.request.urlopen(f"{twin.toxiproxy_api}/proxies", timeout=5) as answer:
        proxies = json.load(answer)
    by_address = {m["address"]: m["workload"] for m in status["members"] if m["address"]}
    listening = {p["listen"]: p["upstream"] for p in proxies.values()}

    def member_behind(upstream: str) -> str:
        """A proxy may forward to another proxy (web's ``db`` fault proxy -> the database's stable
        endpoint ``mariadb-primary`` -> the primary): follow the chain to the member."""
        for _ in range(len(listening)):
            upstream = listening.get(upstream, upstream)
        return by_address[upstream.rsplit(":", 1)[0]]

    forwarded = {member_behind(p["upstream"]) for p in proxies.values()}
    assert forwarded == {"db", "search", "kafka"}
    web = inv.component("web")
    served = {inv.component(d).realised_by["workload"] for d in web.depends_on}
    if twin.shape.wordpress:  # WordPress (its wp-config.php): the database and search through toxiproxy, its
        assert served == {"db", "search", "cache"}  # object cache direct; the event relay reaches Kafka
        assert {inv.component(d).realised_by["workload"] for d in inv.component("event-relay").depends_on} == {"db", "kafka"}
    else:  # the Python site publishes to Kafka itself
        assert served == {"db", "search", "kafka"}
