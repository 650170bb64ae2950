"""The site as readers see it, through the load balancer."""
