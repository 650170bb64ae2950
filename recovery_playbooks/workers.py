"""The web replicas' worker pools (PHP-FPM) exhausted behind a slow database: remove the network fault
a drill put there, wait until every pool has idle workers and nothing waiting, verify the site."""

from gameday.recovery import Playbook
from gameday.recovery.layers import workers

PLAYBOOK = Playbook(name="workers", title="The web tier's worker pools behind a slow database", parts=(workers.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "web/workers-exhausted",
)
