"""The sample site (web replicas behind the load balancer), its indexer and the bootstrap job.

- ``web-N``: gunicorn serving :mod:`gameday.site.app`; reaches db, search and Kafka through toxiproxy.
- ``indexer-N``: the Kafka consumer group that makes published content searchable.
- ``bootstrap``: a job (run to completion, retried with back-off) that creates the Kafka topics, the
  search index and snapshot repository, and seeds the CMS. Web and indexer start after it. In a warm
  standby region (the twin's shape names an upstream) its database is a read-only replica: the job
  writes nothing there and fills the index from the replicated articles (``GAMEDAY_SEED_FROM_REPLICA``,
  :mod:`gameday.site.seed`).

On a twin whose web tier is WordPress (its shape, ``sandbox up --web wordpress``) the indexer runs
without its own Python outbox relay (``GAMEDAY_INDEXER_OUTBOX_RELAY=0``: the Java relay sends
WordPress's outbox) and the bootstrap job indexes WordPress's content after ``wp-bootstrap``
(``GAMEDAY_SEED_CONTENT=wordpress``, :mod:`gameday.sandbox.bootstrap`); in a standby region there is no
``wp-bootstrap`` (WordPress arrives by replication) and the job indexes the replicated WordPress content.
"""

from __future__ import annotations

from ...site import seed
from ...site.indexer import RELAY_ENV
from ...zones import zone_for
from .. import web_faults
from ..bootstrap import CONTENT_ENV
from ..spec import MemberSpec, Workload
from ..twin import INDEXER_REPLICAS, PORTS, WEB_MAX_REPLICAS, Twin


def web(twin: Twin) -> Workload:
    members = []
    for i in range(1, WEB_MAX_REPLICAS + 1):
        address = twin.address("web", i)
        members.append(MemberSpec(
            name=f"web-{i}", index=i, address=address, ports={"http": PORTS["web"]},
            argv=[twin.python, "-m", "gunicorn", "-k", "gthread", "--threads", "8", "-w", "1",
                  "-b", f"{address}:{PORTS['web']}", "--graceful-timeout", "5", "--timeout", "30", "--no-control-socket",
                  "gameday.site.app:create_app()"],
            env={**twin.site_env(via_proxy=True), web_faults.ENV: str(web_faults.faults_dir(twin))},
            env_files=[str(twin.db_env_file), str(twin.search_env_file)],
            readiness={"type": "http", "url": f"http://{address}:{PORTS['web']}/readyz"},
            labels={"app": "wordpress", "tier": "frontend", "zone": zone_for(i)},
            stop_grace=6.0,
        ))
    return Workload(name="web", layer="web", kind="service", replicas=twin.shape.web_replicas, members=members,
                    after=["bootstrap", "toxiproxy"], labels={"layer": "web"})


def indexer(twin: Twin) -> Workload:
    members = [
        MemberSpec(
            name=f"indexer-{i}", index=i, address=None, ports={},
            argv=[twin.python, "-m", "gameday.site.indexer"],
            env={**twin.site_env(via_proxy=False), **({RELAY_ENV: "0"} if twin.shape.wordpress else {})},
            env_files=[str(twin.db_env_file), str(twin.search_env_file)],
            readiness={"type": "alive", "min_seconds": 2},
            labels={"app": "indexer", "consumer-group": "indexer", "zone": zone_for(i)},
            stop_grace=5.0,
        )
        for i in range(1, INDEXER_REPLICAS + 1)
    ]
    return Workload(name="indexer", layer="indexer", kind="service", replicas=twin.shape.indexer_replicas,
                    members=members,
                    after=["bootstrap"], labels={"layer": "indexer"})


def bootstrap(twin: Twin) -> Workload:
    member = MemberSpec(
        name="bootstrap-1", index=1, address=None, ports={},
        argv=[twin.python, "-m", "gameday.sandbox.bootstrap"],
        env={**twin.site_env(via_proxy=False), "GAMEDAY_SNAPSHOT_DIR": str(twin.paths.data / "snapshots"),
             # the search nodes' admin certificate (paths; the key file is 0600): pins the security index's replicas
             "GAMEDAY_SEARCH_ADMIN_CERT": str(twin.paths.secrets / "tls" / "search-admin.crt"),
             "GAMEDAY_SEARCH_ADMIN_KEY": str(twin.paths.secrets / "tls" / "search-admin.key"),
             **({seed.REPLICA_ENV: "1"} if twin.shape.standby else {}),
             **({CONTENT_ENV: "wordpress"} if twin.shape.wordpress else {})},
        env_files=[str(twin.db_env_file), str(twin.search_env_file)],
        readiness={"type": "alive"},
        labels={"app": "bootstrap", "zone": "regional"},  # a job: runs wherever there is room
        stop_grace=3.0,
    )
    return Workload(name="bootstrap", layer="jobs", kind="job", replicas=1, members=[member],
                    after=["db", "kafka", "search",
                           *(["wp-bootstrap"] if twin.shape.wordpress and not twin.shape.standby else [])],
                    labels={"layer": "jobs"})
