"""Load: the measuring instrument of a game day.

- :mod:`gameday.load.model`: the traffic model (28-day actives -> peak concurrency -> origin requests/s).
- :mod:`gameday.load.profiles`: smoke / day / peak / surge as a target rate per second.
- :mod:`gameday.load.runner`: Locust as a subprocess (never imported here), summary.json.
- :mod:`gameday.load.timeline`: the per-second timeline RTO, availability and TTD are read from.

The Locust side (locustfile, shapes, the timeline recorder) lives in ``loadtests/``.
"""
