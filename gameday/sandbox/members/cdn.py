"""The CDN stand-in: Varnish (Debian's ``varnish``, 7.1) in front of the load balancer (issue 17).

It caches anonymous HTML as ``loadtests/traffic.yaml``'s ``cdn_hit_ratio`` assumes a CDN does, so the
origin (HAProxy and the web tier behind it) sees only the misses, the passes and the refreshes. The
default twin runs ``cdn-1`` after the load balancer (:mod:`gameday.sandbox.topology`; not with
``--kubernetes`` yet). Readers reach it through the load balancer's public front door (``:8081``,
:func:`.lb.front_door_cfg`), which sends them to the origin when no edge answers: a game day's load goes
there (C8); the canaries, the SLO probes and the experiments' probes stay at the origin (``:8080``).
A topology of its own adds it the same way::

    cdn.prepare(twin)                                   # conf/varnish/cdn-1.vcl, backend = twin's lb
    topology.workloads += [cdn.workload(twin)]          # cdn-1, after "lb"
    cdn.counters(twin)                                  # {"MAIN.cache_hit": 41, "MAIN.cache_miss": 9, ...}

- ``cdn-1`` (workload and layer ``cdn``): ``varnishd -F`` (foreground: the supervisor's signals reach
  the manager; its cache child is in the same process group, so a kill of the group takes both) on
  ``127.<net>.5.1`` port :data:`PORT` (``twin.LAYERS["cdn"]``: in front of the load balancer's ``.10``).
  Its working directory (``-n``: shared memory log, compiled VCL, the CLI secret varnishd makes itself,
  root's only) is ``data/varnish/cdn-N``; ``varnishstat -n`` and ``varnishadm -n`` read it. Run as
  root, varnishd drops its cache process to Debian's ``vcache`` user.
  Storage is memory (``malloc``, :data:`STORAGE`): a restart comes back cold, as a CDN edge that lost
  its cache does.
- The VCL (``conf/varnish/cdn-N.vcl``, :func:`vcl`, written per twin by :func:`prepare`):
  - backend = the twin's load balancer (or ``backend=host:port``), probed on ``/readyz`` every second
    (every 2 s, 2 s timeout, in front of WordPress: :func:`probe_seconds`), sick after 2 misses in 3;
  - cached: ``GET``/``HEAD`` of anonymous pages (other cookies are dropped from the request), for
    :data:`TTL` seconds when the origin answered 200, 301, 404 or 410 and gave no lifetime of its own
    (its ``s-maxage``/``max-age``/``Expires`` wins, as at a CDN), unless it said the page is private
    (``Set-Cookie``, ``Cache-Control: private/no-store/no-cache``: Varnish's built-in rules then keep
    it out of the cache);
  - passed to the origin (``X-Cache-Pass`` says why): every other method (POST: the API's writes,
    publishing), ``/readyz`` and ``/healthz``, ``/wp-admin``, ``/wp-login.php``, ``wp-cron``,
    ``xmlrpc``, previews, a request with ``Authorization`` or a login cookie (WordPress's
    ``wordpress_logged_in_*``, ``wordpress_sec_*``, ``wp-postpass_*``, ``comment_author_*``), and the
    JSON API under ``/api/`` (an article's current version, search results: a copy up to :data:`TTL`
    seconds old would let an editor's read-before-publish or an indexing check see the past; R16);
  - grace: while the probe says the origin is healthy, an expired page is served for
    :data:`GRACE_HEALTHY` seconds more while it is fetched again in the background; while the origin
    is sick, for :data:`GRACE` seconds (stale pages rather than errors, as a CDN does). A background
    fetch that fails or answers 5xx is abandoned, so the stale copy stays. A page never cached answers
    503 while the origin is down. A 5xx is never cached;
  - every response says ``X-Cache: HIT`` (served from the cache, stale or not) or ``MISS``;
  - ``GET`` :data:`READY_PATH` is answered by Varnish itself (200): the member's readiness, which does
    not depend on the origin.
  - ``PURGE <path>`` from this machine (:data:`PURGERS`) bans every cached object of that path, whatever
    the host it was asked by (each object remembers its path in ``X-Gameday-Url``, which readers never
    see), and answers 200: WordPress sends it for the pages a publish, an update or a removal changed
    (the must-use plugin's ``purge.php``, the edges :func:`purge_addrs` names), so readers get the new
    page at once instead of up to :data:`TTL` + :data:`GRACE_HEALTHY` seconds later. A banned page is
    never served stale, not even in grace. Anything else than this machine gets 403; a ban Varnish
    refuses, 400 with its reason. The path is matched without its query: a PURGE of ``/guidance/x``
    bans ``/guidance/x?utm_source=...`` too (and a PURGE naming a query bans its path's every copy).

Nothing secret is in the VCL or in argv.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ...errors import GamedayError, UsageError
from ..spec import MemberSpec, Workload
from ..twin import LAYERS, PORTS, Twin

WORKLOAD = "cdn"
LAYER = "cdn"
ADDRESS_OCTET = LAYERS["cdn"]  # 127.<net>.5.N: before the load balancer's .10
PORT = 8080
READY_PATH = "/_cdn/ready"
TTL = 60  # seconds a cacheable page is fresh
GRACE = 6 * 3600  # seconds an expired page is still served while the origin is sick
GRACE_HEALTHY = 10  # ... while it is healthy (served at once, refreshed in the background)
PROBE_S = 1  # the origin probe's interval and timeout (2 s in front of WordPress: probe_seconds)
STORAGE = "malloc,64m"
VARNISHD = "/usr/sbin/varnishd"
# small on 2 cores: one pool of 8..200 threads (the default is 2 x 100..5000), a 4 MB shared memory log
# (80 MB by default); idle connections to HAProxy closed before its 60 s keep-alive timeout closes them;
# client keep-alives kept 20 s (the load generator's pacing is 8 s)
PARAMS = {"thread_pools": "1", "thread_pool_min": "8", "thread_pool_max": "200", "vsl_space": "4m",
          "backend_idle_timeout": "30", "timeout_idle": "20"}
AUTH_COOKIES = ("wordpress_logged_in_", "wordpress_sec_", "wp-postpass_", "comment_author_")
PURGERS = "127.0.0.0/8"  # who may PURGE: this machine (the twin is loopback only; a CDN's API needs a key)
URL_HEADER = "X-Gameday-Url"  # each cached object's path, query left out, for PURGE's ban (lurker-friendly: obj.* only)


def address(twin: Twin, index: int = 1) -> str:
    return twin.address("cdn", index)


def url(twin: Twin, index: int = 1) -> str:
    """The site through ``cdn-<index>``: what readers would be sent to."""
    return f"http://{address(twin, index)}:{PORT}"


def purge_addrs(twin: Twin, replicas: int = 1) -> list[str]:
    """``host:port`` of each edge ``cdn-1..replicas``: where WordPress sends its PURGE requests."""
    return [f"{address(twin, i)}:{PORT}" for i in range(1, replicas + 1)]


def vcl_path(twin: Twin, index: int = 1) -> Path:
    return twin.paths.conf / "varnish" / f"cdn-{index}.vcl"


def workdir(twin: Twin, index: int = 1) -> Path:
    """varnishd's ``-n`` directory (what ``varnishstat -n`` / ``varnishadm -n`` are given)."""
    return twin.paths.data / "varnish" / f"cdn-{index}"


def vcl(backend_host: str, backend_port: int, *, ttl: int = TTL, grace: int = GRACE,
        grace_healthy: int = GRACE_HEALTHY, name: str = "", probe_s: int = PROBE_S) -> str:
    """The CDN's VCL for an origin at ``backend_host:backend_port`` (the rules: the module docstring);
    ``probe_s``: the origin probe's interval and timeout (:func:`probe_seconds`)."""
    for what, seconds in (("ttl", ttl), ("grace", grace), ("grace_healthy", grace_healthy), ("probe_s", probe_s)):
        if not isinstance(seconds, int) or seconds < 0:
            raise UsageError(f"cdn: {what} must be a whole number of seconds >= 0, not {seconds!r}")
    if probe_s < 1:
        raise UsageError(f"cdn: probe_s must be at least 1 second, not {probe_s!r}")
    cookies = "|".join(c.replace("-", "\\-") for c in AUTH_COOKIES)
    return f"""\
vcl 4.1;
# The CDN of gameday twin {name or '-'}: written by gameday.sandbox.members.cdn (do not edit; `sandbox up`
# writes it again). Anonymous GET/HEAD pages cached {ttl} s; stale pages served {grace_healthy} s while the
# origin is healthy, {grace} s while it is sick.
import std;

acl purgers {{
    "{PURGERS.split('/')[0]}"/{PURGERS.split('/')[1]};
}}

backend origin {{
    .host = "{backend_host}";
    .port = "{backend_port}";
    .connect_timeout = 1s;
    .first_byte_timeout = 15s;
    .between_bytes_timeout = 10s;
    .probe = {{
        .url = "/readyz";
        .expected_response = 200;
        .interval = {probe_s}s;
        .timeout = {probe_s}s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }}
}}

sub vcl_recv {{
    unset req.http.X-Gameday-Cdn-Pass;
    if (req.url == "{READY_PATH}") {{
        return (synth(200, "ready"));
    }}
    if (req.method == "PURGE") {{
        if (client.ip !~ purgers) {{
            return (synth(403, "purge not allowed"));
        }}
        if (!std.ban("obj.http.{URL_HEADER} == " + regsub(req.url, "\\?.*$", ""))) {{
            return (synth(400, std.ban_error()));
        }}
        return (synth(200, "purged"));
    }}
    set req.backend_hint = origin;
    if (req.method != "GET" && req.method != "HEAD") {{
        set req.http.X-Gameday-Cdn-Pass = "method";
        return (pass);
    }}
    if (req.url ~ "^/(readyz|healthz)/?(\\?|$)") {{
        set req.http.X-Gameday-Cdn-Pass = "health";
        return (pass);
    }}
    if (req.url ~ "^/api/") {{
        set req.http.X-Gameday-Cdn-Pass = "api";
        return (pass);
    }}
    if (req.url ~ "^/(wp-admin|wp-login\\.php|wp-cron\\.php|xmlrpc\\.php)" || req.url ~ "[?&]preview=") {{
        set req.http.X-Gameday-Cdn-Pass = "admin";
        return (pass);
    }}
    if (req.http.Authorization) {{
        set req.http.X-Gameday-Cdn-Pass = "authorization";
        return (pass);
    }}
    if (req.http.Cookie ~ "(^|;\\s*)({cookies})") {{
        set req.http.X-Gameday-Cdn-Pass = "cookie";
        return (pass);
    }}
    unset req.http.Cookie;
    if (std.healthy(req.backend_hint)) {{
        set req.grace = {grace_healthy}s;
    }}
    return (hash);
}}

sub vcl_backend_response {{
    if (beresp.status >= 500) {{
        if (bereq.is_bgfetch) {{
            return (abandon);
        }}
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }}
    if ((beresp.status == 200 || beresp.status == 301 || beresp.status == 404 || beresp.status == 410)
        && beresp.http.Cache-Control !~ "(?i)(s-maxage|max-age)=" && !beresp.http.Expires) {{
        set beresp.ttl = {ttl}s;
    }}
    set beresp.grace = {grace}s;
    set beresp.http.{URL_HEADER} = regsub(bereq.url, "\\?.*$", "");  # the path: PURGE bans every query of it
}}

sub vcl_backend_error {{
    if (bereq.is_bgfetch) {{
        return (abandon);
    }}
}}

sub vcl_deliver {{
    unset resp.http.{URL_HEADER};
    if (req.http.X-Gameday-Cdn-Pass) {{
        set resp.http.X-Cache = "MISS";
        set resp.http.X-Cache-Pass = req.http.X-Gameday-Cdn-Pass;
    }} elsif (obj.hits > 0 && !req.is_hitmiss && !req.is_hitpass) {{
        set resp.http.X-Cache = "HIT";
    }} else {{
        set resp.http.X-Cache = "MISS";
    }}
}}
"""


def default_backend(twin: Twin) -> str:
    """``host:port`` the twin's CDN fronts: its load balancer (what :func:`prepare` writes by default,
    and where the coverage inventory finds the CDN's dependency)."""
    return f"{twin.address('lb')}:{PORTS['lb']}"


def probe_seconds(twin: Twin) -> int:
    """The origin probe's interval and timeout for ``twin``'s web tier. The Python site's ``/readyz``
    answers in milliseconds: 1 s. WordPress's boots WordPress and asks the database: on a saturated
    machine (a replica restarting under the game day's load on 2 cores) it took past 1 s twice in three,
    Varnish called the origin sick and answered every miss 503 at once for 3-4 s while the replicas
    served; so 2 s (sick after 2 of 3 misses, 4-6 s; an origin that refuses or answers 503 fails each
    probe at once)."""
    return 2 if twin.shape.wordpress else PROBE_S


def prepare(twin: Twin, *, replicas: int = 1, backend: str | None = None, ttl: int = TTL, grace: int = GRACE,
            grace_healthy: int = GRACE_HEALTHY) -> None:
    """Write each member's VCL (origin ``backend`` as ``host:port``, default the twin's load balancer)
    and make the parent of its working directory (varnishd makes the directory itself, owned for its
    cache process)."""
    host, _, port = (backend or default_backend(twin)).rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"cdn: backend must be host:port, not {backend!r}")
    text = vcl(host, int(port), ttl=ttl, grace=grace, grace_healthy=grace_healthy, name=twin.name,
               probe_s=probe_seconds(twin))
    for i in range(1, replicas + 1):
        f = vcl_path(twin, i)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        f.chmod(0o644)
        workdir(twin, i).parent.mkdir(parents=True, exist_ok=True)
        workdir(twin, i).parent.chmod(0o711)  # the cache process (user vcache) must reach its directory


def member(twin: Twin, index: int) -> MemberSpec:
    me = address(twin, index)
    params = [arg for key, value in PARAMS.items() for arg in ("-p", f"{key}={value}")]
    return MemberSpec(
        name=f"cdn-{index}", index=index, address=me, ports={"http": PORT},
        argv=[VARNISHD, "-F", "-n", str(workdir(twin, index)), "-a", f"{me}:{PORT},HTTP",
              "-f", str(vcl_path(twin, index)), "-s", STORAGE, "-i", f"{twin.name}-cdn-{index}", *params],
        readiness={"type": "http", "url": f"http://{me}:{PORT}{READY_PATH}"},
        labels={"app": "varnish", "tier": "edge", "zone": "regional"},  # a CDN is in front of every zone
        stop_grace=5.0,
    )


def workload(twin: Twin, *, replicas: int = 1, after: list[str] | None = None) -> Workload:
    """``cdn-1..replicas`` (independent edges, each with its own cache), after ``after`` (default the lb)."""
    return Workload(name=WORKLOAD, layer=LAYER, kind="service", replicas=replicas,
                    members=[member(twin, i) for i in range(1, replicas + 1)],
                    after=["lb"] if after is None else after, labels={"layer": LAYER})


def counters(twin: Twin, index: int = 1, *, fields: tuple[str, ...] = ("MAIN.*",)) -> dict[str, int]:
    """``varnishstat -j`` of ``cdn-<index>`` as {counter: value}, e.g. ``MAIN.cache_hit``,
    ``MAIN.cache_hit_grace``, ``MAIN.cache_miss``, ``MAIN.s_pass``, ``MAIN.backend_fail``,
    ``MAIN.n_object``, ``MAIN.uptime`` (the cache process's, reset by a restart)."""
    varnishstat = shutil.which("varnishstat") or "/usr/bin/varnishstat"
    argv = [varnishstat, "-n", str(workdir(twin, index)), "-j", *[a for f in fields for a in ("-f", f)]]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise GamedayError(f"cdn-{index}: varnishstat failed: {err}",
                           hint="is varnish installed (`gameday sandbox install`) and the member running?") from err
    if proc.returncode != 0:
        raise GamedayError(f"cdn-{index}: varnishstat exited {proc.returncode}: {proc.stderr.strip()[-300:]}",
                           hint="is the member running? `gameday sandbox status`")
    raw = json.loads(proc.stdout)
    found = raw.get("counters", raw)  # 7.x nests them under "counters"
    return {name: int(c["value"]) for name, c in found.items() if isinstance(c, dict) and "value" in c}


def origin_healthy(twin: Twin, index: int = 1) -> bool:
    """Whether ``cdn-<index>``'s probe says the origin is healthy (``varnishadm backend.list``; the CLI
    secret is read by varnishadm from the working directory, root's 0600 file, never passed on)."""
    varnishadm = shutil.which("varnishadm") or "/usr/bin/varnishadm"
    argv = [varnishadm, "-n", str(workdir(twin, index)), "-t", "5", "backend.list", "-j"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise GamedayError(f"cdn-{index}: varnishadm failed: {err}") from err
    if proc.returncode != 0:
        raise GamedayError(f"cdn-{index}: varnishadm exited {proc.returncode}: {proc.stdout.strip()[-300:]}",
                           hint="is the member running? `gameday sandbox status`")
    backends = json.loads(proc.stdout)[3]  # [version, argv, time, {"<vcl>.origin": {...}}]
    states = [b.get("probe_message") for name, b in backends.items() if name.endswith(".origin")]
    if not states or not isinstance(states[-1], list):
        raise GamedayError(f"cdn-{index}: varnishadm lists no probed origin: {proc.stdout.strip()[-300:]}")
    return states[-1][-1] == "healthy"  # [good probes, window, "healthy" | "sick"]
