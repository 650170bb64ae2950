"""Google Cloud: Cloud Monitoring (the load balancer's SLO as an independent view, game-day results as
metrics) and the Cloud SQL Admin API (the database's backups, failover and point-in-time restore).

- :mod:`gameday.gcp.client`: one client factory (Application Default Credentials, or a plaintext
  endpoint for local test servers) and one place that turns API errors into messages naming the fix.
- :mod:`gameday.gcp.slo`: request count by response class and p95/p99 latency of an HTTPS load
  balancer over a window, waiting (with a deadline) for the metrics' sampling delay.
- :mod:`gameday.gcp.export`: a report's ``summary.json`` as ``custom.googleapis.com/gameday/...``
  time series (RTO, RPO, availability, pass/fail per scenario; score and verdict per game day).
- :mod:`gameday.gcp.distribution`: percentiles from a distribution's buckets.
- :mod:`gameday.gcp.cloudsql`: the official Cloud SQL Admin client (``sqladmin`` v1): backup runs,
  failover, replica promotion, point-in-time clone, operations waited for with a deadline.

Nothing here imports Locust: its gevent patching makes gRPC clients hang.
"""
