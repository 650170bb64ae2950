"""Database: fail over to the replica when the primary is lost (and rebuild the old primary as the new
replica), start or restart it, verify it answers SQL as the site's user, restore destroyed content to the
moment before the bad deploy (point-in-time restore), verify the site."""

from gameday.recovery import Playbook
from gameday.recovery.layers import db

PLAYBOOK = Playbook(name="db", title="The site database", parts=(db.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "db/primary-lost",
    "db/failover",
    "db/data-loss",
)
