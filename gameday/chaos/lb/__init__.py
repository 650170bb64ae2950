"""The load balancer: the site's one public address (HAProxy on the twin; Cloud Load Balancing on GKE)."""
