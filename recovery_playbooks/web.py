"""Web tier: bring the load balancer and the replica count back, replace replicas that stay not
ready (unless they wait for the database), verify through the load balancer."""

from gameday.recovery import Playbook
from gameday.recovery.layers import web

PLAYBOOK = Playbook(name="web", title="Web replicas behind the load balancer", parts=(web.LB, web.WEB))
