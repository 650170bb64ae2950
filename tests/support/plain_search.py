"""One plain OpenSearch node for a small topology of a test's own (the security plugin disabled: HTTP,
no auth; the twin's own cluster is three secured nodes)::

    workloads = [db.workload(twin), plain_search.workload(twin), ...]
    wordpress.prepare(twin, search_urls=[plain_search.url(twin)], ...)   # the plugin's search: this node

``search-1`` runs single-node discovery as the system user (OpenSearch refuses root), its files under
the twin's data (``data/search-plain``); ready when ``/_cluster/health`` answers. Used by
``test_wordpress_events`` and ``test_search_frontend``.
"""

from __future__ import annotations

import shutil

from gameday.sandbox import jvm
from gameday.sandbox.install import java_home
from gameday.sandbox.members import search
from gameday.sandbox.spec import MemberSpec, Workload
from gameday.sandbox.twin import PORTS, Twin

HEAP = "384m"


def url(twin: Twin) -> str:
    return f"http://{twin.address('search', 1)}:{PORTS['search']}"


def workload(twin: Twin, *, heap: str = HEAP) -> Workload:
    """``search-1``: writes the node's configuration and returns its workload (one replica)."""
    address, home = twin.address("search", 1), twin.loc.opensearch_home
    d = twin.paths.data / "search-plain"
    for sub in ("config", "data", "logs"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "config" / "log4j2.properties").write_text((home / "config" / "log4j2.properties").read_text())
    (d / "config" / "jvm.options").write_text(search.JVM_OPTIONS.format(heap=heap, flags="\n".join(jvm.FLAGS),
                                                                           node_dir=d))
    (d / "config" / "opensearch.yml").write_text("\n".join([
        f"cluster.name: gameday-{twin.name}", "node.name: search-1", f"network.host: {address}",
        f"http.port: {PORTS['search']}", f"transport.port: {PORTS['search_transport']}",
        "discovery.type: single-node", f"path.data: {d / 'data'}", f"path.logs: {d / 'logs'}",
        "plugins.security.disabled: true", "cluster.routing.allocation.disk.threshold_enabled: false",
        'action.auto_create_index: "-content,+*"', ""]))
    user = search.run_as()
    if user:
        for path in [d, *d.rglob("*")]:
            shutil.chown(path, user, user)
        # as the twin's own nodes: a private directory above the distribution (a 0700 GAMEDAY_CACHE) is a
        # clear error here, not a node that never answers its readiness check
        search._check_readable_by(user, home / "bin" / "opensearch")
    member = MemberSpec(
        name="search-1", index=1, address=address, ports={"http": PORTS["search"], "transport": PORTS["search_transport"]},
        argv=[str(home / "bin" / "opensearch")],
        env={"OPENSEARCH_PATH_CONF": str(d / "config"), "OPENSEARCH_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}",
             "JAVA_HOME": java_home()},
        cwd=str(d), run_as=user, stop_grace=15.0,
        readiness={"type": "http", "url": f"{url(twin)}/_cluster/health"})
    return Workload(name="search", layer="search", kind="service", replicas=1, members=[member])
