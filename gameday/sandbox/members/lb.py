"""HAProxy from Debian: the site's one public address, with active health checks on web replicas.

Every possible web replica (up to ``WEB_MAX_REPLICAS``) is listed, so scaling the web tier needs no
reload: replicas that are not running are simply marked down by the health check.

Besides plain HTTP on ``:8080`` it is the twin's TLS front, as a production load balancer is
(certificate from the twin's CA, :mod:`gameday.sandbox.tls`; names from :mod:`gameday.sandbox.names`):

- ``https://site.<twin>.gameday.test/`` (``:443``): the same web backend;
- every site response says which region answered (``X-Gameday-Region: r1``, the twin's shape), for
  readers behind the global front (:mod:`gameday.sandbox.members.front`);
- ``:8081`` (``PORTS["front_door"]``), the public front door, as a cloud load balancer with its CDN is
  (Cloud CDN is a setting of Google's load balancer): requests go to the CDN's edges (``cdn-N``,
  :mod:`.members.cdn`, checked on their own readiness page), and to the origin (this load balancer's
  ``:8080``) when no edge answers: an edge lost (killed, or a connection refused: retried at once on the
  origin) sends every request to the origin, as the CDN-lost drill wants. A twin without a CDN (the
  Kubernetes twin) has no edge up, so its front door is the origin;
- ``search.<twin>.gameday.test:9200``: the search nodes, as a Kubernetes Service in front of ECK's
  pods is: TCP passed through (``mode tcp``), so TLS and basic auth are the nodes' own (the
  opensearch-security plugin, :mod:`gameday.sandbox.members.search`; their certificate names
  ``search.<twin>.gameday.test``). HAProxy holds no search credential; its health check asks each
  node's unauthenticated ``/_plugins/_security/health`` over TLS verified with the twin's CA.
"""

from __future__ import annotations

import os

from .. import tls
from . import cdn
from ..spec import MemberSpec, Workload
from ..twin import PORTS, SEARCH_NODES, WEB_MAX_REPLICAS, Twin

NAME = "lb-1"
REGION_HEADER = "X-Gameday-Region"  # on every response: which region answered (the global front's readers)
HTTPS_PORT = 443
SEARCH_PORT = 9200  # on the load balancer's own address: the search nodes each have theirs


def socket_path(twin: Twin):
    """HAProxy's admin socket (runtime API): what feeds its web backend from Kubernetes uses it."""
    return twin.paths.run / "lb-1.sock"


# What every HAProxy of the twin says the same way (this one, and the global front's)
HTTP_DEFAULTS = """\
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
"""


def admin_frontend(address: str, health_uri: str) -> str:
    """The ``admin`` frontend on the stats port: ``health_uri`` answers 200 while HAProxy runs, /stats."""
    return f"""\
frontend admin
    bind {address}:{PORTS['lb_stats']}
    monitor-uri {health_uri}
    stats enable
    stats uri /stats
    stats refresh 5s
"""


def haproxy_cfg(twin: Twin) -> str:
    me = twin.address("lb")
    servers = "\n".join(
        f"    server web-{i} {twin.address('web', i)}:{PORTS['web']} check" for i in range(1, WEB_MAX_REPLICAS + 1)
    )
    pem = tls.files(twin).front_pem
    return f"""\
global
    maxconn 8000
    stats socket {socket_path(twin)} mode 600 level admin
    nbthread 2
    ssl-default-bind-options ssl-min-ver TLSv1.2

{HTTP_DEFAULTS}
frontend site
    bind {me}:{PORTS['lb']}
    bind {me}:{HTTPS_PORT} ssl crt {pem}
    http-response set-header {REGION_HEADER} {twin.shape.region}
    default_backend web

{front_door_cfg(twin)}
{admin_frontend(me, '/lb-health')}
backend web
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{web_checks(twin)}
{servers}
"""


def web_checks(twin: Twin) -> str:
    """How the web backend judges a replica. The Python site's ``/readyz`` answers in milliseconds:
    a replica is out after 2 failed checks (1 s each, 250 ms apart once failing). WordPress's boots
    WordPress and asks the database in a pool of its own; on a saturated machine (a replica restarting
    under the game day's load on 2 cores: its pool compiling WordPress again) it took past 1 s on
    every replica at once, and two misses each emptied the backend: readers got 503 from the load
    balancer for 4-5 s though each replica was serving. So WordPress's replicas get 2 s per check and
    3 misses in a row (about 3-5 s to take out a replica that answers 503; a refused connection is
    retried on the next replica at once), closer to a cloud load balancer's (GCP's default: 5 s, 2 misses)."""
    if twin.shape.wordpress:
        return ("    timeout check 2s\n"
                "    default-server inter 1s fastinter 500ms downinter 250ms fall 3 rise 1 maxconn 64")
    return "    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 maxconn 64"


CDN_EDGES = 2  # edges listed at the front door (a twin runs cdn-1; an edge not running is down)


def front_door_cfg(twin: Twin) -> str:
    """The public front door (``:8081``): the first edge that is up takes every request (``balance
    first``); a refused connection is retried on the next server (``redispatch``), the origin last."""
    me = twin.address("lb")
    edges = "\n".join(f"    server cdn-{i} {cdn.address(twin, i)}:{cdn.PORT} check maxconn 4000"
                      for i in range(1, CDN_EDGES + 1))
    return f"""\
frontend front_door
    bind {me}:{PORTS['front_door']}
    default_backend edge

backend edge
    balance first
    option httpchk GET {cdn.READY_PATH}
    http-check expect status 200
    default-server inter 1s fastinter 250ms downinter 1s fall 2 rise 1
{edges}
    server origin {me}:{PORTS['lb']}
"""


def front_door_url(twin: Twin) -> str:
    """The twin's public front door (:func:`front_door_cfg`): where its readers, and a game day's load, arrive."""
    return f"http://{twin.address('lb')}:{PORTS['front_door']}"


def search_cfg(twin: Twin) -> str:
    """The search front (appended to :func:`haproxy_cfg`): TCP pass-through to the nodes, as a
    Kubernetes Service (ECK's ``<cluster>-es-http``) is; TLS ends at the nodes."""
    me = twin.address("lb")
    ca = tls.ca_bundle_path(twin)
    search_servers = "\n".join(
        f"    server search-{i} {twin.address('search', i)}:{PORTS['search']} check check-ssl verify required ca-file {ca}"
        for i in range(1, SEARCH_NODES + 1)
    )
    return f"""
frontend search
    mode tcp
    bind {me}:{SEARCH_PORT}
    default_backend search

backend search
    mode tcp
    balance roundrobin
    option httpchk GET /_plugins/_security/health
    http-check expect status 200
    default-server inter 2s fastinter 500ms downinter 1s fall 2 rise 1
{search_servers}
"""


def _config(twin: Twin):
    return twin.paths.conf / "haproxy.cfg"


def _write_private(path, text: str) -> None:
    """Write ``path`` 0600 from its first byte (umask cannot widen it), then move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)


def prepare(twin: Twin) -> None:
    """The TLS front's certificate and HAProxy's config file (0600)."""
    tls.ensure(twin)
    _write_private(_config(twin), haproxy_cfg(twin) + search_cfg(twin))
    (twin.paths.conf / "haproxy-search.cfg").unlink(missing_ok=True)  # the old search front's (a password hash)


def workload(twin: Twin) -> Workload:
    address = twin.address("lb")
    member = MemberSpec(
        name=NAME, index=1, address=address,
        ports={"http": PORTS["lb"], "stats": PORTS["lb_stats"], "https": HTTPS_PORT, "search": SEARCH_PORT,
               "front_door": PORTS["front_door"]},
        argv=[twin.loc.haproxy or "haproxy", "-W", "-db", "-f", str(_config(twin))],
        readiness={"type": "http", "url": f"http://{address}:{PORTS['lb_stats']}/lb-health"},
        labels={"app": "haproxy", "zone": "regional"},  # a regional cloud load balancer on GKE
        stop_grace=3.0,
    )
    return Workload(name="lb", layer="lb", kind="service", replicas=1, members=[member], after=["web"],
                    labels={"layer": "lb"})
