"""HAProxy from Debian: the site's one public address, with active health checks on web replicas.

Every possible web replica (up to ``WEB_MAX_REPLICAS``) is listed, so scaling the web tier needs no
reload: replicas that are not running are simply marked down by the health check.
"""

from __future__ import annotations

from ..spec import MemberSpec, Workload
from ..twin import PORTS, WEB_MAX_REPLICAS, Twin

NAME = "lb-1"


def socket_path(twin: Twin):
    """HAProxy's admin socket (runtime API): what feeds its web backend from Kubernetes uses it."""
    return twin.paths.run / "lb-1.sock"


def haproxy_cfg(twin: Twin) -> str:
    me = twin.address("lb")
    servers = "\n".join(
        f"    server web-{i} {twin.address('web', i)}:{PORTS['web']} check" for i in range(1, WEB_MAX_REPLICAS + 1)
    )
    return f"""\
global
    maxconn 8000
    stats socket {socket_path(twin)} mode 600 level admin
    nbthread 2

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 10s
    timeout http-request 10s
    timeout http-keep-alive 60s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response

frontend site
    bind {me}:{PORTS['lb']}
    default_backend web

frontend admin
    bind {me}:{PORTS['lb_stats']}
    monitor-uri /lb-health
    stats enable
    stats uri /stats
    stats refresh 5s

backend web
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 maxconn 64
{servers}
"""


def _config(twin: Twin):
    return twin.paths.conf / "haproxy.cfg"


def prepare(twin: Twin) -> None:
    _config(twin).write_text(haproxy_cfg(twin))


def workload(twin: Twin) -> Workload:
    address = twin.address("lb")
    member = MemberSpec(
        name=NAME, index=1, address=address, ports={"http": PORTS["lb"], "stats": PORTS["lb_stats"]},
        argv=[twin.loc.haproxy or "haproxy", "-W", "-db", "-f", str(_config(twin))],
        readiness={"type": "http", "url": f"http://{address}:{PORTS['lb_stats']}/lb-health"},
        labels={"app": "haproxy"},
        stop_grace=3.0,
    )
    return Workload(name="lb", layer="lb", kind="service", replicas=1, members=[member], after=["web"],
                    labels={"layer": "lb"})
