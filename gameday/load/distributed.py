"""How many Locust workers a load needs in distributed mode (a master and N worker pods on GKE).

    worker_count(model.plan(), "surge")          # 2 for 500,000 actives (see loadtests/traffic.yaml)

Sized by two limits, whichever needs more workers: request rate per worker, planned at a fraction
of the rate measured in ``benchmarks/load_bench.py`` (figure 3: one Locust process, FastHttpUser,
4,608 req/s on this machine), and open-model users per worker (gevent keeps scheduling latency low
below about a thousand). Never fewer than two, so a worker pod lost mid-game-day does not end the load.
Sized at the origin's rate; an environment whose site is behind its CDN (``load.through_cdn``) sends the
edge's, 2.5 times more at a 0.6 hit ratio (surge: 150 req/s, 1,200 users), which needs 2 workers too.
"""

from __future__ import annotations

import math

from .model import Plan

PER_WORKER_RPS = 4608.0  # measured: benchmarks/load_bench.py, "3 scaling", 1 process
UTILISATION = 0.25  # plan a worker at a quarter of that: TLS, real network latency, room to catch up
MAX_USERS_PER_WORKER = 1000
MIN_WORKERS = 2


def worker_count(plan: Plan, profile: str = "surge") -> int:
    """Workers for ``profile``'s highest rate and its open-model user count."""
    rps = plan.target_rps(profile)
    users = plan.generator_users(profile)
    by_rate = math.ceil(rps / (PER_WORKER_RPS * UTILISATION))
    by_users = math.ceil(users / MAX_USERS_PER_WORKER)
    return max(MIN_WORKERS, by_rate, by_users)
