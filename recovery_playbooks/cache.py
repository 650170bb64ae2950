"""The site's object cache: start it, check it answers and fills again, report the database's load
spike while it was lost."""

from gameday.recovery import Playbook
from gameday.recovery.layers import cache

PLAYBOOK = Playbook(name="cache", title="The object cache and the database load it saves", parts=(cache.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "object-cache/cache-lost",
)
