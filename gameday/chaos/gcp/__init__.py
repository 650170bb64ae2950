"""Google Cloud Monitoring probes: the load balancer's SLO as Cloud Monitoring sees it."""
