"""What the twin's topology cannot say by itself: what each kind of workload is on the platform, how
it fails and which signals show each failure. :mod:`gameday.coverage.sandbox` joins this to the
topology (members, addresses, dependencies) and to the catalog's claims to write ``platform.yaml``.

Component and failure-mode ids are shared with the GKE inventory (``inventory/gke-production.yaml``),
so one experiment names one cell on every platform.
"""

from __future__ import annotations

from typing import Any

# component id -> name, kind, layer (targets.yaml / suites), description, failure modes (id, title, signals)
COMPONENTS: dict[str, dict[str, Any]] = {
    "lb": {
        "name": "Load balancer (HAProxy; Cloud Load Balancing on GKE)", "kind": "load-balancer", "layer": "web",
        "description": "The site's one public address; active health checks on every web replica.",
        "failure_modes": [
            ("process-lost", "The load balancer process dies: nothing reaches the site",
             ["every request through the LB fails (load timeline: error ratio 100%)",
              "LB health endpoint /lb-health stops answering",
              "playbook finding lb.members-restarting or lb.members-missing (`gameday playbook web`)",
              "one instance: a single point of failure (`gameday coverage` flags it)"]),
        ],
    },
    "cdn": {
        "name": "CDN (Varnish in the sandbox; Cloud CDN on GKE)", "kind": "cdn", "layer": "web",
        "description": "Caches anonymous pages in front of the load balancer; most reader traffic never reaches "
                       "the origin (in the sandbox not yet what the load generator, canaries and SLO probes use: "
                       "only the CDN-lost drill sends its readers to the front door).",
        # the GKE inventory's origin-errors-cached has no experiment yet: not a cell of the twin until it has one
        "failure_modes": [
            ("cache-flushed", "The CDN's edge is lost with its cache: every request reaches the origin until the "
             "edge is back and warm (a WordPress twin: the wordpress suite)",
             ["readers' hit ratio (X-Cache) far below traffic.yaml's cdn_hit_ratio; origin request rate several "
              "times the modelled peak",
              "playbook finding cdn.members-missing or cdn.cold (`gameday playbook cdn`)",
              "the origin's p95 and 5xx share while it takes every request"]),
        ],
    },
    "web": {
        "name": "Web (WordPress; the sample site in the sandbox)", "kind": "deployment", "layer": "web",
        "description": "Stateless web replicas behind the load balancer; read the database, search and publish to Kafka.",
        "failure_modes": [
            ("one-replica-lost", "One web pod dies",
             ["LB health check marks the replica DOWN (HAProxy stats)", "supervisor restart count rises",
              "site SLO: failed requests in the second it died"]),
            ("half-replicas-lost", "Half the web pods die at once (a zone)",
             ["LB shows half the backends DOWN", "p95 latency rises on the remaining replicas",
              "site SLO: error ratio above 5% per second"]),
            ("all-replicas-lost", "Every web pod dies: full outage",
             ["every request through the LB answers 503", "playbook finding web.members-missing (`gameday playbook web`)",
              "site SLO: error ratio 100%"]),
            ("replica-not-ready", "A web pod runs but never becomes ready",
             ["/readyz fails on the replica while its process runs", "the LB health check marks it DOWN (no reader served by it)",
              "playbook finding web.members-stuck (`gameday playbook web`): running but not ready past 20 s"]),
            ("rolling-restart", "Every web pod is replaced one at a time (a deploy, a node-pool upgrade)",
             ["LB backends go DOWN and UP one by one", "site SLO: failed requests while a pod leaves or joins"]),
            ("workers-exhausted", "A slow database holds every PHP-FPM worker: requests queue, the load balancer "
             "answers 502/504 (a WordPress twin: the wordpress suite)",
             ["each pool's status page: every worker active, listen queue above 0 (or the page itself unanswered)",
              "playbook finding web.workers-exhausted (`gameday playbook workers`)",
              "site SLO: 5xx share and p95 rise on every page, not only those of the slow dependency"]),
        ],
    },
    "db": {
        "name": "Database (MariaDB; Cloud SQL on GKE)", "kind": "database", "layer": "db",
        "description": "Content and the publishing outbox; the source of truth for search and events.",
        "failure_modes": [
            ("primary-lost", "The database server crashes",
             ["web /readyz reports the database unavailable", "site SLO: article pages fail",
              "playbook finding db.members-restarting (`gameday playbook db`)"]),
            ("failover", "The primary server is lost for good: its replica is promoted, the endpoint repointed",
             ["playbook finding db.primary-lost (`gameday playbook db`)", "site SLO: article pages fail",
              "RPO canaries: acknowledged rows missing on the new primary (asynchronous replication)"]),
            ("network-partition", "The web tier cannot reach the database (network cut)",
             ["connection errors to the database in the web logs", "site SLO: error ratio rises within seconds"]),
            ("data-loss", "Content is deleted or corrupted and must come back from a backup",
             ["playbook finding db.content-lost (`gameday playbook db`)",
              "database row count below the canary's acknowledged records", "editors report missing content"]),
        ],
    },
    "kafka-brokers": {
        "name": "Kafka brokers (Strimzi on GKE)", "kind": "statefulset", "layer": "kafka",
        "description": "The content-events topic (RF 3, min ISR 2) between publishing and indexing.",
        "failure_modes": [
            ("partition-leader-lost", "The broker leading a content-events partition dies",
             ["under-replicated partitions above 0", "leader election in the broker logs",
              "playbook finding kafka.under-replicated (`gameday playbook kafka`)"]),
            ("below-min-isr", "Two of three brokers die: partitions fall below min ISR",
             ["playbook finding kafka.under-min-isr (acks=all writes refused)", "publishing refused (NotEnoughReplicas), outbox grows",
              "indexer consumer lag grows"]),
            ("disk-full", "A broker's log directory fills up",
             ["playbook finding kafka.disk-full (`gameday playbook kafka`): the log directory's filesystem full",
              "broker log directory offline (No space left on device in its log), the broker shuts down",
              "under-replicated partitions above 0", "disk usage above 90%"]),
            ("disk-lost", "A broker's disk is lost: its data directory is gone, a restart alone cannot bring it back",
             ["playbook finding kafka.storage-lost (`gameday playbook kafka`)", "the broker stays down (no meta.properties)",
              "under-replicated partitions above 0 until it has re-replicated"]),
        ],
    },
    "kafka-controllers": {
        "name": "Kafka KRaft controllers (Strimzi on GKE)", "kind": "statefulset", "layer": "kafka",
        "description": "The KRaft metadata quorum the brokers need for leadership and membership changes.",
        "failure_modes": [
            ("controller-lost", "One controller of the quorum dies",
             ["quorum has one voter fewer (kafka-metadata-quorum describe)", "no effect on produce/consume"]),
            ("quorum-lost", "A majority of controllers dies: no metadata changes possible",
             ["playbook finding kafka.quorum-lost (`gameday playbook kafka`): fewer than a majority of voters up",
              "no active controller (kafka-metadata-quorum describe times out)",
              "leader elections stall; acks=all writes refused, outbox grows"]),
        ],
    },
    "search": {
        "name": "Search (OpenSearch; Elasticsearch via ECK on GKE)", "kind": "statefulset", "layer": "search",
        "description": "The content index (1 primary, a copy on each of the 3 nodes) and its snapshot repository.",
        "failure_modes": [
            ("data-node-lost", "The data node holding the most primaries dies",
             ["cluster health yellow", "playbook finding search.unassigned (`gameday playbook search`)"]),
            ("shards-unassigned", "Shards fail and stay unassigned: cluster red",
             ["cluster health red", "_cluster/allocation/explain names the reason", "search pages fail"]),
            ("index-lost", "The content index is deleted",
             ["playbook finding search.index-missing (`gameday playbook search`)", "search returns nothing while the database has content",
              "document count below the database's"]),
            ("cluster-lost", "The whole search cluster is lost: every node and its data; rebuilt from the snapshot, "
             "replay and the database",
             ["playbook findings search.cluster-lost and search.storage-lost (`gameday playbook search`)",
              "no search node answers; search pages degrade (503)", "no node has a data directory",
              "on Kubernetes: the nodes back on new claims, a new cluster UUID without the index or the snapshot repository"]),
            ("slow-network", "The network between web and search slows down (latency)",
             ["p95 of search pages rises", "other pages keep their latency (a bulkhead holds)"]),
        ],
    },
    "indexer": {
        "name": "Indexer (Kafka consumer -> search; one of the Java services on GKE)", "kind": "deployment",
        "layer": "indexer",
        "description": "Consumer group `indexer`: makes published content searchable; relays the database outbox.",
        "failure_modes": [
            ("consumers-stopped", "Every indexer stops: published content is not searchable",
             ["playbook finding indexer.lag (consumer group indexer falls behind)", "no members in the consumer group",
              "newly published articles missing from search"]),
            ("poison-message", "An event the indexer cannot process blocks its partition",
             ["playbook finding indexer.dead-lettered (`gameday playbook kafka`): the events set aside, with offsets",
              "records on content-events.dlq (the error and the source offset in their headers)",
              "lag grows on one partition only (an indexer that cannot set the event aside)"]),
        ],
    },
    "event-relay": {
        "name": "Event relay (Java: WordPress's outbox -> Kafka; a Java service on GKE)", "kind": "deployment",
        "layer": "events",
        "description": "Sends each row of the publishing outbox to content-events (idempotent producer, acks=all) and "
                       "marks it sent only after Kafka acknowledged it; one relays at a time (a database lock).",
        "failure_modes": [
            ("relay-stopped", "The relay stops: publishing still commits, the outbox's backlog grows until it returns",
             ["playbook finding events.backlog (`gameday playbook events`): outbox rows unsent, the oldest's age",
              "publishes answer 202 \"pending\" instead of 201", "no new records on content-events; the relay's "
              "/healthz does not answer", "newly published content missing from search"]),
        ],
    },
    "object-cache": {
        "name": "Object cache (Redis; Memorystore on GKE)", "kind": "cache", "layer": "cache",
        "description": "WordPress's object cache (a drop-in on php-redis): keeps the database's answers between "
                       "requests; without it every page asks the database again.",
        "failure_modes": [
            ("cache-lost", "The object cache dies with what it held: WordPress serves from the database, whose load "
             "jumps until the cache is back and warm",
             ["pages answer X-Gameday-Object-Cache: fallback (one notice per request in the web log)",
              "the database's queries per second (SHOW GLOBAL STATUS Questions, Com_select) several times the warm "
              "rate", "playbook finding cache.members-missing or cache.not-answering (`gameday playbook cache`)"]),
        ],
    },
    "media": {
        "name": "Media uploads (WordPress's wp-content/uploads; a GCS bucket or Filestore share on GKE)", "kind": "storage",
        "layer": "web",
        "description": "The files editors upload (images, PDFs), one store every web replica serves; each is an "
                       "attachment row in the database. Backed up as a copy with a manifest of paths, SHA-256 and "
                       "sizes (on GKE: object versioning, Filestore backups).",
        "failure_modes": [
            ("uploads-lost", "The uploaded files are deleted (a lost volume or bucket): pages still answer, the files "
             "404 until restored from the backup; what was uploaded after it is lost",
             ["attachment URLs answer 404 while their pages answer 200",
              "playbook finding media.files-missing or media.files-lost (`gameday playbook media`)",
              "the newest media backup's age (the files a loss now would lose)"]),
        ],
    },
    "region": {
        "name": "Region (the whole site in one region; a second GKE cluster in another Google Cloud region on GKE)",
        "kind": "region", "layer": "region",
        "description": "The active region serves readers through a global front; a warm standby region replicates "
                       "from it (the database as a cross-region replica, Kafka through MirrorMaker 2, search fed "
                       "by its own indexer) and takes over when the active region is lost or moved from.",
        "failure_modes": [
            ("region-lost", "The whole active region is lost at once: the standby region is promoted and takes the "
             "readers",
             ["the front's health check marks the active region's load balancer DOWN; readers at the front fail",
              "playbook finding region.active-lost (`gameday playbook region`)",
              "RPO canaries: acknowledged writes missing in the standby (asynchronous replication; the report "
              "names them)"]),
            ("switchover", "A planned move to the standby region (a migration, or the failback): writes stop until "
             "it has every write, nothing may be lost",
             ["playbook finding region.switchover-requested (`gameday playbook region --switchover`)",
              "writes refused while the active database is read-only (the time is measured)",
              "standby lag: database replication and MirrorMaker 2 behind the active region (`gameday sandbox "
              "status`)"]),
        ],
    },
}

# workload name -> component ids (a combined KRaft pool is both brokers and controllers)
KAFKA_POOLS = {"combined": ("kafka-brokers", "kafka-controllers"), "broker": ("kafka-brokers",),
               "controller": ("kafka-controllers",)}
# which port a component's endpoints use, per component (default: the member's first port)
ENDPOINT_PORT = {"kafka-brokers": "broker", "kafka-controllers": "controller"}
# twin workloads that are the test harness, not the platform
HARNESS = {
    "toxiproxy": "fault injection: a network proxy between the web tier and each dependency (db, search, Kafka)",
    "bootstrap": "one-shot job: topics, the content index, the snapshot repository and seed content",
    "db-backup": "the database's backup schedule (on GKE: the platform's own, e.g. Cloud SQL's automated backups)",
    "search-snapshot": "the search index's snapshot schedule (on GKE: the platform's own, e.g. snapshot management)",
    "media-backup": "the WordPress uploads' backup schedule (on GKE: the platform's own, e.g. a versioned bucket)",
}
# component -> the twin workload that takes over when it is lost: a component realised by one instance
# is a single point of failure (flagged by the coverage map and the report) unless its standby exists
STANDBY = {"db": "db-replica"}
# components clients never reach directly (only their peers do)
INTERNAL = {"kafka-controllers", "media"}
# a WordPress web workload (its members run WordPress's launcher) also realises the site's media store: the uploads
# every replica serves (the twin's WP_CONTENT_DIR); its clients reach the pages, the store is the replicas' own
WORDPRESS_WEB_ALSO = ("media",)
# edges the topology does not show: brokers need their controllers' quorum
IMPLIED_DEPENDENCIES = {"kafka-brokers": ("kafka-controllers",)}
# twin workload -> the component id it realises, where the two names differ
COMPONENT_OF = {"relay": "event-relay", "cache": "object-cache"}
# components only some twins run: why one is not in a twin's inventory (then listed under ``absent``)
ONLY_WITH = {"event-relay": "a WordPress web tier only (gameday sandbox up --web wordpress): the Python site "
                            "publishes to Kafka itself",
             "object-cache": "a WordPress web tier only (gameday sandbox up --web wordpress): the Python site has "
                             "no object cache",
             "media": "a WordPress web tier only (gameday sandbox up --web wordpress): the Python site keeps no "
                      "uploads"}
PART_OF = {"db-replica": "db"}  # workloads that are part of another one's component (the db's replica)
