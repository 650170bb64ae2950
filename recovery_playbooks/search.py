"""Search: rebuild a cluster whose nodes lost their data (empty nodes started, a new cluster formed,
the snapshot repository registered again), bring missing nodes back, explain unassigned shards,
retry failed allocations, restore a lost index from the latest snapshot and replay the Kafka events
published since, wait until the index matches the database (count and checksum of ids and
versions), verify green and that the document count matches the database."""

from gameday.recovery import Playbook
from gameday.recovery.layers import search

PLAYBOOK = Playbook(name="search", title="Search cluster and the content index", parts=(search.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "search/data-node-lost",
    "search/shards-unassigned",
    "search/index-lost",
    "search/cluster-lost",
)
