"""Web tier: bring the load balancer and the replica count back, replace replicas that stay not
ready (unless they wait for the database), verify through the load balancer."""

from gameday.recovery import Playbook
from gameday.recovery.layers import web

PLAYBOOK = Playbook(name="web", title="Web replicas behind the load balancer", parts=(web.LB, web.WEB))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "lb/process-lost",
    "web/one-replica-lost",
    "web/half-replicas-lost",
    "web/all-replicas-lost",
    "web/replica-not-ready",
)
