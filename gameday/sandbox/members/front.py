"""The global front: one HAProxy before both regions' load balancers, standing for a global load
balancer or DNS. It is the whole of the front twin (``NAME-global``, :mod:`gameday.sandbox.regions`).

Readers go to ``http://<front lb address>:8080`` (``site.NAME-global.gameday.test``); the backend
``regions`` lists each region's load balancer (``server r1 127.N.10.1:8080``, from the front's
shape): the active region's is ready, the other's in maintenance. Each region's load balancer says
which region answered (``X-Gameday-Region``, :mod:`gameday.sandbox.members.lb`). HAProxy health-checks
both (``GET /readyz`` through each regional load balancer), so a region in maintenance shows whether
it could serve.

Which region is active is the front's own state (``<front home>/regions.json``, as a DNS record
lives with the DNS service): :func:`prepare` writes the config from it, :func:`switch` changes the
live HAProxy through its runtime API (admin socket, :func:`socket_path`), rewrites the config so a
restart keeps it, and records the new active region::

    prepare(front_twin)                 # topology.prepare does this for a front twin
    workload(front_twin)                # front-1
    switch(regions, "r2")               # {"from": "r1", "to": "r2", "commands": [...], "seconds": {...}}
    servers(front_twin)                 # {"r1": {"maint": False, "up": True, "check_passed": True}, ...}
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ...deadline import wait_until
from ...errors import DeadlineExceeded, GamedayError, UsageError
from ..spec import MemberSpec, Workload
from ..twin import PORTS, Twin
from .lb import HTTP_DEFAULTS, admin_frontend

NAME = "front-1"
BACKEND = "regions"
STATE_FILE = "regions.json"
HEALTH_URI = "/front-health"
SWITCH_TIMEOUT = 30.0
SUFFIX = "-global"  # the front of region set NAME (network N) is twin NAME-global on network N+2 (..regions)


def of_region(twin: Twin) -> Twin | None:
    """The global front before ``twin`` when it is a region of a set (named from the set's first region:
    ``twin`` itself when it is r1, else the peer its shape names), None otherwise."""
    shape = twin.shape
    if shape.role != "region" or not shape.in_region_set:
        return None
    if shape.region == "r1":
        name, net = twin.name, twin.net
    else:
        first = shape.peer or shape.upstream
        name, net = first.twin, first.net
    return Twin.create(name + SUFFIX, net + 2)


def socket_path(front_twin: Twin):
    """HAProxy's admin socket (runtime API, level admin, 0600): what :func:`switch` talks to."""
    return front_twin.paths.run / f"{NAME}.sock"


def _config(front_twin: Twin):
    return front_twin.paths.conf / "front-haproxy.cfg"


def state_file(front_twin: Twin):
    """Where the active region is recorded (``{"active": "r1", "history": [...]}``)."""
    return front_twin.paths.home / STATE_FILE


def read_state(front_twin: Twin) -> dict[str, Any]:
    """The recorded state; the first region of the front's shape is active before anything is recorded."""
    f = state_file(front_twin)
    if f.exists():
        return json.loads(f.read_text())
    regions = front_twin.shape.regions
    return {"active": regions[0]["region"] if regions else "r1", "history": []}


def regional_lbs(front_twin: Twin) -> dict[str, str]:
    """``{region: "host:port"}`` of each region's load balancer (plain HTTP), in the shape's order."""
    out = {}
    for r in front_twin.shape.regions:
        lb = Twin.create(r["twin"], r["net"]).lb_url
        out[r["region"]] = lb.removeprefix("http://")
    return out


def haproxy_cfg(front_twin: Twin, active: str) -> str:
    """The front's config with ``active``'s server ready and every other region's in maintenance
    (``disabled``)."""
    lbs = regional_lbs(front_twin)
    if not lbs:
        raise GamedayError(f"twin {front_twin.name} is not a global front: its shape lists no regions",
                           hint="regions.up() writes the front's shape (role front, both regions)")
    if active not in lbs:
        raise UsageError(f"no region {active!r} behind the front {front_twin.name}", hint=f"regions: {', '.join(lbs)}")
    me = front_twin.address("lb")
    servers = "\n".join(f"    server {region} {where} check{'' if region == active else ' disabled'}"
                        for region, where in lbs.items())
    return f"""\
global
    maxconn 4000
    stats socket {socket_path(front_twin)} mode 600 level admin
    nbthread 1

{HTTP_DEFAULTS}
frontend global
    bind {me}:{PORTS['lb']}
    default_backend {BACKEND}

{admin_frontend(me, HEALTH_URI)}
backend {BACKEND}
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fastinter 250ms downinter 1s fall 2 rise 1 maxconn 256
{servers}
"""


def _write_config(front_twin: Twin, active: str) -> None:
    path = _config(front_twin)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(haproxy_cfg(front_twin, active))
    tmp.replace(path)


def prepare(front_twin: Twin) -> None:
    """The front's HAProxy config, the recorded active region ready (no secret in it)."""
    front_twin.paths.ensure()
    _write_config(front_twin, read_state(front_twin)["active"])


def workload(front_twin: Twin) -> Workload:
    """``front-1`` (workload ``front``, layer ``lb``, zone ``global``)."""
    address = front_twin.address("lb")
    member = MemberSpec(
        name=NAME, index=1, address=address, ports={"http": PORTS["lb"], "stats": PORTS["lb_stats"]},
        argv=[front_twin.loc.haproxy or "haproxy", "-W", "-db", "-f", str(_config(front_twin))],
        readiness={"type": "http", "url": f"http://{address}:{PORTS['lb_stats']}{HEALTH_URI}"},
        labels={"app": "haproxy", "role": "global-front", "zone": "global"},
        stop_grace=3.0,
    )
    return Workload(name="front", layer="lb", kind="service", replicas=1, members=[member],
                    labels={"layer": "lb"})


ADMIN_MAINT = 0x01 | 0x02 | 0x20  # forced (runtime API / config ``disabled``), inherited, resolver maintenance
CHECK_PASSED = 3  # srv_check_result: the last health check passed


def parse_servers_state(text: str) -> dict[str, dict[str, Any]]:
    """``show servers state <backend>`` -> ``{server: {"maint", "up", "check_passed"}}``. A server
    that just left maintenance is ``up`` at once, before any check ran: ``check_passed`` says
    whether the last check passed (it may date from before the maintenance)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = next((line for line in lines if line.startswith("# be_id")), None)
    if header is None:
        raise GamedayError(f"unexpected answer from the front's runtime API: {text[:200]!r}")
    names = header.lstrip("# ").split()
    out = {}
    for line in lines:
        if line.startswith("#") or len(line.split()) < len(names) // 2:
            continue
        row = dict(zip(names, line.split(), strict=False))
        out[row["srv_name"]] = {"maint": bool(int(row["srv_admin_state"]) & ADMIN_MAINT),
                                "up": row["srv_op_state"] == "2",
                                "check_passed": row.get("srv_check_result") == str(CHECK_PASSED)}
    return out


def _runtime(front_twin: Twin):
    from ...kube.haproxy_backends import Runtime
    return Runtime(str(socket_path(front_twin)))


def servers(front_twin: Twin) -> dict[str, dict[str, Any]]:
    """What the live HAProxy says of each region's server: ``{region: {"maint", "up", "check_passed"}}``."""
    return parse_servers_state(_runtime(front_twin).send([f"show servers state {BACKEND}"]))


def _checked_up(front_twin: Twin, region: str) -> bool:
    state = servers(front_twin)[region]
    return state["up"] and state["check_passed"] and not state["maint"]


def _region_ready(twin: Twin) -> bool:
    """The front's own health check, asked directly: the region's load balancer answers ``/readyz``."""
    import requests
    try:
        return requests.get(f"{twin.lb_url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _send(runtime, commands: list[str]) -> None:
    """Send runtime API commands; a GamedayError with HAProxy's answer when it says anything (it is
    silent when a ``set server`` succeeds)."""
    if not commands:
        return
    answer = runtime.send(commands).strip()
    if answer:
        raise GamedayError(f"the front refused {'; '.join(commands)!r}: {answer}")


def switch(regions, region: str, *, why: str = "switched", timeout: float = SWITCH_TIMEOUT) -> dict[str, Any]:
    """Send readers to ``region``. Nothing changes until its load balancer answers ``/readyz`` (at
    most ``timeout`` s; else a GamedayError and the readers stay where they were); then its server
    leaves maintenance, and once HAProxy's own health check passes every other region's server goes
    into maintenance (no moment without a serving region). The config is rewritten (a restarted
    front keeps it) and ``region`` recorded as the active one (``regions.record_active``). ``regions``
    is a :class:`gameday.sandbox.regions.Regions`. Returns ``{"from", "to", "commands", "seconds":
    {"region_ready", "switch", "total"}}``."""
    started = time.monotonic()
    front_twin = regions.front
    target = regions.twin(region)  # a UsageError naming the regions
    before = regions.active()
    seconds: dict[str, float] = {}
    wait_until(lambda: _region_ready(target), timeout=timeout, interval=0.25,
               what=f"region {region}'s load balancer to answer {target.lb_url}/readyz",
               hint="the readers stay where they are; is the region up? gameday sandbox --name "
                    f"{target.name} status")
    seconds["region_ready"] = round(time.monotonic() - started, 3)
    t = time.monotonic()
    runtime = _runtime(front_twin)
    commands = [f"set server {BACKEND}/{region} state ready"]
    try:
        _send(runtime, commands)
        try:
            wait_until(lambda: _checked_up(front_twin, region), timeout=timeout, interval=0.1,
                       what=f"the front's health check to pass on region {region}")
        except DeadlineExceeded:
            if region != before:  # the readers stay where they were
                _send(runtime, [f"set server {BACKEND}/{region} state maint"])
            raise
        others = [f"set server {BACKEND}/{r} state maint" for r in servers(front_twin) if r != region]
        _send(runtime, others)
    except OSError as err:
        raise GamedayError(f"the front's runtime API at {socket_path(front_twin)} did not answer: {err}",
                           hint=f"is it running? gameday sandbox --name {front_twin.name} status") from None
    commands += others
    _write_config(front_twin, region)
    regions.record_active(region, why)
    seconds["switch"] = round(time.monotonic() - t, 3)
    seconds["total"] = round(time.monotonic() - started, 3)
    return {"from": before, "to": region, "commands": commands, "seconds": seconds}
