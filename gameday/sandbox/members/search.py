"""OpenSearch 2.x: three nodes (cluster-manager eligible, data), run as an unprivileged system user.

The ``content`` index (3 primaries x 1 replica) and the filesystem snapshot repository are created
by the bootstrap job; this module only lays out each node's config, data and log directories.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from ...errors import GamedayError
from ..install import SYSTEM_USER
from ..spec import MemberSpec, Workload
from ..twin import PORTS, SEARCH_NODES, Twin

HEAP = "512m"
JVM_OPTIONS = """\
-Xms{heap}
-Xmx{heap}
-XX:+UseG1GC
-XX:G1ReservePercent=25
-XX:InitiatingHeapOccupancyPercent=30
-Djava.io.tmpdir=${{OPENSEARCH_TMPDIR}}
-XX:ErrorFile={node_dir}/logs/hs_err_pid%p.log
18-:-Djava.security.manager=allow
-Djava.util.concurrent.ForkJoinPool.common.threadFactory=org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory
"""


def run_as() -> str | None:
    """OpenSearch refuses root: as root we run it as the ``gameday`` system user."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def _check_readable_by(user: str, path) -> None:
    """OpenSearch runs as ``user``: every directory above its distribution must let that user through."""
    probe = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", "test", "-x", str(path)],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise GamedayError(f"search: user {user!r} cannot reach {path} (a directory above it is private)",
                           hint="keep the download cache in a world-readable place: unset GAMEDAY_CACHE "
                                "(default /var/cache/gameday) or point it at a directory with mode 755")


def node_dir(twin: Twin, i: int):
    return twin.paths.data / f"search-{i}"


def snapshot_dir(twin: Twin):
    """The filesystem snapshot repository (``path.repo``): outside every node's directory, so it
    survives the loss of the whole cluster as a real cluster's snapshots (GCS on GKE) do."""
    return twin.paths.data / "snapshots"


def data_dir(twin: Twin, i: int):
    """Node ``i``'s ``path.data``: what a lost disk takes (its config and logs stay, as a pod's
    ConfigMap and log collector would)."""
    return node_dir(twin, i) / "data"


def storage_lost(twin: Twin, i: int) -> bool:
    """True when node ``i`` is laid out (its config exists) but its data directory is gone."""
    return (node_dir(twin, i) / "config").is_dir() and not data_dir(twin, i).exists()


def destroy_data(twin: Twin, i: int) -> str:
    """Delete node ``i``'s whole data directory (cluster state, cluster UUID, shards): the fault of
    the cluster-loss drill. The node must not be running. Returns the directory. Refuses when the
    snapshot repository would go with it (it must survive, see :func:`snapshot_dir`)."""
    path = data_dir(twin, i)
    if snapshot_dir(twin).resolve().is_relative_to(path.resolve()):
        raise GamedayError(f"search-{i}: the snapshot repository {snapshot_dir(twin)} lies inside {path}; not deleted")
    if path.exists():
        shutil.rmtree(path)
    return str(path)


def make_empty_data(twin: Twin, i: int) -> str:
    """Give node ``i`` an empty data directory owned by the user OpenSearch runs as (a new volume):
    started on it, the node bootstraps or joins a cluster from nothing. Returns the directory."""
    path = data_dir(twin, i)
    path.mkdir(parents=True, exist_ok=True)
    user = run_as()
    if user:
        ids = pwd.getpwnam(user)
        os.chown(path, ids.pw_uid, ids.pw_gid)
    return str(path)


def opensearch_yml(twin: Twin, i: int) -> str:
    seeds = ", ".join(f'"{twin.address("search", n)}:{PORTS["search_transport"]}"' for n in range(1, SEARCH_NODES + 1))
    managers = ", ".join(f'"search-{n}"' for n in range(1, SEARCH_NODES + 1))
    d = node_dir(twin, i)
    return "\n".join([
        f"cluster.name: gameday-{twin.name}",
        f"node.name: search-{i}",
        f"network.host: {twin.address('search', i)}",
        f"http.port: {PORTS['search']}",
        f"transport.port: {PORTS['search_transport']}",
        f"discovery.seed_hosts: [{seeds}]",
        f"cluster.initial_cluster_manager_nodes: [{managers}]",
        f"path.data: {d / 'data'}",
        f"path.logs: {d / 'logs'}",
        f"path.repo: [\"{snapshot_dir(twin)}\"]",
        "cluster.routing.allocation.disk.threshold_enabled: false",
        "action.destructive_requires_name: true",
        # A write to a lost `content` index must fail, not silently create a one-shard index with
        # the wrong mapping (the playbook restores it from a snapshot instead).
        'action.auto_create_index: "-content,+*"',
        "",
    ])


def prepare(twin: Twin) -> None:
    """Write each node's config directory; create data, log and snapshot directories it owns."""
    user = run_as()
    ids = pwd.getpwnam(user) if user else None
    if user:
        _check_readable_by(user, twin.loc.opensearch_home / "bin" / "opensearch")
    dist_conf = twin.loc.opensearch_home / "config"
    snaps = snapshot_dir(twin)
    snaps.mkdir(parents=True, exist_ok=True)
    for i in range(1, SEARCH_NODES + 1):
        d = node_dir(twin, i)
        conf = d / "config"
        for sub in (conf, d / "data", d / "logs"):
            sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(dist_conf / "log4j2.properties", conf / "log4j2.properties")
        (conf / "jvm.options").write_text(JVM_OPTIONS.format(heap=HEAP, node_dir=d))
        (conf / "opensearch.yml").write_text(opensearch_yml(twin, i))
        if ids:
            for root, _dirs, files in os.walk(d):
                os.chown(root, ids.pw_uid, ids.pw_gid)
                for f in files:
                    os.chown(os.path.join(root, f), ids.pw_uid, ids.pw_gid)
    if ids:
        os.chown(snaps, ids.pw_uid, ids.pw_gid)


def workload(twin: Twin) -> Workload:
    members = []
    for i in range(1, SEARCH_NODES + 1):
        address = twin.address("search", i)
        d = node_dir(twin, i)
        members.append(MemberSpec(
            name=f"search-{i}", index=i, address=address,
            ports={"http": PORTS["search"], "transport": PORTS["search_transport"]},
            argv=[str(twin.loc.opensearch_home / "bin" / "opensearch")],
            env={"OPENSEARCH_PATH_CONF": str(d / "config"), "OPENSEARCH_JAVA_OPTS": f"-Xms{HEAP} -Xmx{HEAP}",
                 "JAVA_HOME": os.path.dirname(os.path.dirname(os.path.realpath(twin.loc.java or "/usr/bin/java")))},
            cwd=str(d),
            run_as=run_as(),
            readiness={"type": "http", "url": f"http://{address}:{PORTS['search']}/_cluster/health"},
            labels={"app": "opensearch", "node-id": str(i), "role": "cluster_manager-data"},
            stop_grace=15.0,
        ))
    return Workload(name="search", layer="search", kind="service", replicas=SEARCH_NODES, members=members,
                    labels={"layer": "search"})
