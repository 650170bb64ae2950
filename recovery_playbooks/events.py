"""The event relay: start it, wait until the outbox's backlog is drained, prove every row of it reached
Kafka (event id and version) and the search index caught up."""

from gameday.recovery import Playbook
from gameday.recovery.layers import events

PLAYBOOK = Playbook(name="events", title="The event relay and its outbox backlog", parts=(events.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "event-relay/relay-stopped",
)
