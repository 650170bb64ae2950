"""Shared fixtures. Integration fixtures start real servers; nothing here is mocked."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.spec import MemberSpec, Topology, Workload


def http_member(name: str, index: int, address: str, port: int = 8000, **extra) -> MemberSpec:
    """A tiny real HTTP server as a member, for supervisor tests."""
    return MemberSpec(
        name=name, index=index, address=address, ports={"http": port},
        argv=[sys.executable, "-m", "http.server", "--bind", address, str(port)],
        readiness={"type": "http", "url": f"http://{address}:{port}/"},
        stop_grace=3.0, **extra,
    )


def small_topology(paths: SandboxPaths, net: int, replicas: int = 2) -> Topology:
    """Two workloads of real HTTP servers: `svc` (replicas) and `front` (after svc)."""
    svc = Workload(name="svc", layer="web", kind="service", replicas=replicas,
                   members=[http_member(f"svc-{i}", i, f"127.{net}.20.{i}") for i in range(1, 4)],
                   labels={"layer": "web"})
    front = Workload(name="front", layer="lb", kind="service", replicas=1, after=["svc"],
                     members=[http_member("front-1", 1, f"127.{net}.10.1")], labels={"layer": "lb"})
    return Topology(name=paths.name, sandbox_id=paths.sandbox_id, workloads=[svc, front],
                    backoff_base=0.5, backoff_cap=2.0)


@pytest.fixture
def small_paths(tmp_path: Path) -> SandboxPaths:
    paths = SandboxPaths(name=f"small-{os.getpid()}", home=tmp_path / "twin")
    yield paths
    from gameday.sandbox import lifecycle
    lifecycle.down(paths)


def _rank(item) -> int:
    """Where a test runs in the session (a stable sort: pytest's order within each rank):
    0. the Kubernetes package (its own twin; the session twin paused);
    1. the two regions (their own three twins; the session twin still paused: two full twins on two
       cores starve each other, and the session twin is started once, after them);
    2. the tests of the session twin;
    3. ``test_zz_*``: the session twin taken down (nothing after it needs the twin again);
    4. the unit tests, with no twin running."""
    parts = item.path.parts
    if "unit" in parts:
        return 4
    if "kube" in parts:
        return 0
    if item.path.name == "test_regions.py":
        return 1
    return 3 if item.name.startswith("test_zz_") else 2


# integration tests that need none of the full twins: their own small supervisor or topology on a
# network of their own (a MariaDB, one WordPress replica, one KRaft broker, a bare control plane), or a
# browser on a file. They run in the quick lane beside the twin lane, at its lower CPU priority.
NO_TWIN = {"test_supervisor.py", "test_coverage_browser.py", "test_report_browser.py",
           "test_cli_errors.py",                 # a MariaDB on net 32, never-started twins
           "test_control_plane.py",              # the Kubernetes control plane alone, net 30
           "test_cloudsql_failover_drill.py",    # etcd + kube-apiserver + MariaDB, net 38; a local Cloud SQL server
           "test_cloudsql_restore_drill.py",     # the same on net 39, the Cloud SQL clone a MariaDB at 127.39.200.1
           "test_content_schema_wordpress.py",   # one MariaDB, net 48: the WordPress content schema's SQL
           "test_kubernetes_mirror_offsets.py",  # one KRaft broker, 127.61.0.1
           "test_consumer_lag_cache.py",         # one KRaft broker, 127.67.40.1
           "test_wordpress.py",                  # MariaDB + WordPress, net 60
           "test_event_relay.py",                # MariaDB + WordPress + one broker + the relay, net 62
           "test_object_cache.py",               # MariaDB + WordPress + Redis, net 63
           "test_wordpress_events.py",           # WordPress -> relay -> Kafka -> indexer, net 64
           "test_search_frontend.py",            # MariaDB + WordPress + the React front end in Chromium, net 66
           "test_cdn.py",                        # Varnish -> HAProxy -> a counting origin, net 65
           "test_web_tier_faults.py",            # MariaDB, toxiproxy, WordPress, HAProxy, Varnish: net 70
           "test_media_drill.py",                # MariaDB, toxiproxy, WordPress (uploads, media backups): net 72
           "test_relay_drill.py",                # MariaDB, toxiproxy, WordPress, one broker, the relay: net 69
           "test_cache_drill.py",                # MariaDB, toxiproxy, WordPress, Redis: net 71
           "test_site_db_reconnect.py",          # one MariaDB at 127.81.0.1 (the site's connections)
           "test_db_swap_verify.py",             # db-1, db-2 and toxiproxy of twin dbswap, net 47
           "test_db_tls.py",                     # db-1 and toxiproxy of twin dbtls, net 44
           "test_chaos_catalog.py",              # chaos validate / discover: no server
           "test_load_cli.py"}                   # gameday load's bad input and plan: no server


def lane(nodeid: str) -> str:
    """``twin`` for every test that needs one of the twins (one worker runs them all, in :func:`_rank`
    order: a twin is shared state), ``quick`` for the rest (the unit tests and :data:`NO_TWIN`)."""
    path = nodeid.split("::", 1)[0]
    return "quick" if path.startswith("tests/unit/") or path.rsplit("/", 1)[-1] in NO_TWIN else "twin"


def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs ``pytest -n 2``: one worker runs the whole ``twin`` :func:`lane`, in order,
    while the other runs the ``quick`` lane beside it (xdist's scope scheduling, one scope per lane)."""
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lane(nodeid)

    return LaneScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Order the session by :func:`_rank`: each twin is started once and never shares the cores
    with another idle one (about two twin restarts less over ``make test``)."""
    items[:] = sorted(items, key=_rank)


QUICK_LANE_NICE = 10  # the twin lane's servers keep the cores they need to meet their SLOs


def _lane_nice(item) -> int:
    """The CPU priority (nice) a quick-lane test runs at: :data:`QUICK_LANE_NICE`, or the module's own
    ``QUICK_LANE_NICE`` when it judges a site's SLO or latency budgets on its own small twin
    (``test_wordpress``: 0, its degraded answers' budgets; ``test_web_tier_faults``: its
    experiments' steady state, 20 req/s within p95 2 s on one WordPress replica, missed in 3 windows while the
    twin lane was busy: make test at 2e4ded8, CI at c86ff47 and 5d36313). The twins' servers run in sessions
    of their own, whose share of the cores follows the session's autogroup nice: the supervisor gives each the
    nice it runs at (``children.keep_nice``); until it did, this nice reached no server (CI at 5d36313)."""
    return getattr(item.module, "QUICK_LANE_NICE", QUICK_LANE_NICE)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Under xdist, the worker that runs the quick lane sets its own CPU priority (and so its children's) to
    :func:`_lane_nice` before each test's fixtures (a module's own small twin inherits it), so the quick lane
    uses the time the twin lane leaves idle instead of slowing its servers. Lowering the nice needs root: as
    another user a module asking for more priority stays at the lane's."""
    if os.environ.get("PYTEST_XDIST_WORKER") and lane(item.nodeid) == "quick":
        change = _lane_nice(item) - os.nice(0)
        if change > 0 or (change < 0 and os.geteuid() == 0):
            os.nice(change)


TEST_NET = 20  # the full twin under test: 127.20.x.y, away from a developer's default twin (127.10.x.y)


def _with_test_web_tier(t):
    """The session twin with the web tier ``GAMEDAY_SANDBOX_WEB`` names (as ``sandbox up --web``
    reads it), or the default tier when it is unset (called after the wipe): ``GAMEDAY_SANDBOX_WEB=wordpress pytest ...`` runs
    the twin's tests against WordPress. Its data is wiped first, so the tier may change between runs."""
    import dataclasses

    from gameday.sandbox.shape import WEB_TIERS, Shape

    web = os.environ.get("GAMEDAY_SANDBOX_WEB") or WEB_TIERS[0]
    if web not in WEB_TIERS:
        raise pytest.UsageError(f"GAMEDAY_SANDBOX_WEB={web!r}: expected one of {', '.join(WEB_TIERS)}")
    t = dataclasses.replace(t, shape=Shape(web=web))  # the wipe took its shape.json: every process reads this one
    t.shape.save(t.paths)
    return t


@pytest.fixture(scope="session")
def _session_twin():
    from gameday.sandbox import lifecycle
    from gameday.sandbox.install import install_all
    from gameday.sandbox.twin import Twin

    install_all()  # no-op when installed; makes a bare `pytest` work on a fresh machine too
    t = Twin.create("test", net=TEST_NET)
    lifecycle.down(t.paths, wipe=True)  # start from clean data
    t = _with_test_web_tier(t)
    yield t
    lifecycle.down(t.paths, wipe=True)


@pytest.fixture
def twin(_session_twin):
    """The real twin (127.20.x.y), started once per session; brought back up if a test took it down."""
    from gameday.sandbox import lifecycle, topology

    from gameday.sandbox.client import SandboxClient

    t = _session_twin
    result = lifecycle.up(t.paths, topology.build(t), prepare=lambda: topology.prepare(t), timeout=300)
    client = SandboxClient(t.paths)
    held = [m["name"] for m in client.status()["members"]
            if m["kind"] == "service" and not m["desired"] and m["index"] <= _replicas(t)[m["workload"]]]
    for name in held:  # a member a failed test left stopped: every test starts from the whole twin
        client.start(name)
    for name in held:
        client.wait_ready(name, timeout=180)
    if not result.already_running:
        _WARM.discard(t.paths.name)  # started again: its JVMs are fresh, the first check is the long one
    if not result.already_running or held:
        warm_up(t)
    return t


def pause_session_twin() -> None:
    """Stop the session twin's processes, keeping its data: the ``twin`` fixture brings it back up when
    a test next asks for it. For tests that start a second full twin: two on two cores starve each
    other (the Kubernetes twin's web pods then miss their SLO before any fault)."""
    from gameday.sandbox import lifecycle
    from gameday.sandbox.twin import Twin

    lifecycle.down(Twin.create("test", net=TEST_NET).paths)


def _replicas(t) -> dict:
    from gameday.sandbox.client import SandboxClient
    return {w["name"]: w["replicas"] for w in SandboxClient(t.paths).status()["workloads"]}


_WARM: set[str] = set()  # twins that have met their SLO over a long window since they started


def warm_up(t) -> None:
    """Freshly started JVMs answer slowly at first: wait until the site meets its SLO, as a steady
    state before any test hurts it. A twin's first check is a 3 s window (60 requests); later checks,
    before each test, a 1.5 s window at 30/s (45 requests, every one answered within the SLO),
    repeated until one passes: about 100 s less over the suite's ~50 twin tests."""
    from gameday import site_slo
    from gameday.deadline import wait_until

    window_s, rate = (1.5, 30) if t.paths.name in _WARM else (3, 20)

    def steady():
        m = site_slo.measure(t.lb_url, window_s=window_s, rate=rate)
        return m["success_ratio"] >= 0.99 and m["p95_ms"] <= 1000
    wait_until(steady, timeout=180, what="the twin to meet its SLO", interval=0.5)
    _WARM.add(t.paths.name)


def wait_layers_healthy(env: str = "sandbox-test", timeout: float = 180) -> None:
    """Every layer as the experiments' steady-state hypothesis asks: each web pod ready, no Kafka
    partition under-replicated or offline, search green. The site can meet its SLO while Kafka still
    catches a restarted broker up or search reallocates shards after the test before; an experiment
    started then "completes" without its method (Chaos Toolkit's steady state before is not met)."""
    from gameday.chaos.kafka.probes import partition_health
    from gameday.chaos.search.probes import cluster_status_is
    from gameday.chaos.web.probes import web_pods_ready
    from gameday.deadline import wait_until

    cfg = {"gameday_environment": env}
    checks = {"web pods": lambda: web_pods_ready(configuration=cfg)["all_ready"],
              "kafka partitions": lambda: partition_health(configuration=cfg)["healthy"],
              "search green": lambda: cluster_status_is("green", configuration=cfg)}

    def unhealthy() -> list[str]:
        return [name for name, check in checks.items() if not check()]
    wait_until(lambda: not unhealthy(), timeout=timeout, interval=0.5,
               what="every layer of the twin to be healthy (web pods ready, Kafka partitions in sync, search green)")


@pytest.fixture
def steady_twin(twin):
    """The twin, once every layer is healthy and it meets its SLO: each experiment starts from the
    steady state its hypothesis checks (as a game day cools down between scenarios)."""
    wait_layers_healthy()
    warm_up(twin)
    return twin


@pytest.fixture
def twin_client(twin):
    from gameday.sandbox.client import SandboxClient
    return SandboxClient(twin.paths)
