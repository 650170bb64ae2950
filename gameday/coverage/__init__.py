"""The recovery coverage map: what the platform is made of, how each part fails, how we notice, how
we restore it, and when that was last proven on a game day.

    inv = inventory.load(Path("platform.yaml"))                 # gameday.platform/v1, validated
    found = claims.scan(ROOT)                                   # what experiments and playbooks say they cover
    consistency.check(inv, found, ROOT)                         # UsageError (exit 2) naming each problem
    data = matrix.build(inv, found, Path("reports"), stale_days=30)   # gameday.coverage/v1 dict
    page.write(data, Path("reports/coverage.html"))             # self-contained HTML with an SVG diagram

The sandbox's inventory is generated from the twin's topology (:mod:`.sandbox`); the GKE one is
written by hand (``inventory/gke-production.yaml``).
"""
