"""The CDN: bring a lost edge back, warm its cache until readers are answered from it as often as the
traffic model expects, verify the site through the load balancer."""

from gameday.recovery import Playbook
from gameday.recovery.layers import cdn

PLAYBOOK = Playbook(name="cdn", title="The CDN's edge and its cache", parts=(cdn.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "cdn/cache-flushed",
)
