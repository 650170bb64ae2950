"""Regions: fail over to the standby region when the active one is lost; with --switchover, move to the
standby on purpose (a migration, RPO 0), rebuilding it first when it does not replicate (the failback
after a failover); the old region becomes the standby again. Each phase is a timed step."""

from gameday.recovery import Playbook
from gameday.recovery.layers import region

PLAYBOOK = Playbook(name="region", title="The site's regions", parts=(region.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = ("region/region-lost", "region/switchover")
