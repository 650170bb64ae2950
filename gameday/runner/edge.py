"""A game day's load through the site's CDN (issue 17, C8): the edge warmed before the load, and what the
load's answers said of the CDN, beside the traffic model's hit ratio::

    edge.warm(env)          # "fetched the 320 most popular pages once through http://...:8081: 320 answered in 2.1 s"
    edge.figures(timeline, front_door=url, origin=site_url)
    # {"front_door": ..., "origin": ..., "hit_ratio": 0.71, "model_hit_ratio": 0.6, "requests": 9120,
    #  "hits": 6475, "origin_share": 0.29}

The load goes to the front door (:meth:`gameday.targets.base.Target.front_door_url`) at the edge's rate
(:meth:`gameday.load.profiles.Schedule.for_profile` ``at_edge``); the hit ratio is read from the answers'
``X-Cache`` (the timeline's ``cdn_hits``), so it is what readers got, not what the CDN says of itself.
"""

from __future__ import annotations

from typing import Any

from ..load import model as traffic
from ..load.timeline import Timeline
from ..recovery.context import Context
from ..recovery.layers import cdn
from ..targets.environment import Environment


def warm(env: Environment) -> str:
    """Fetch the popular pages once through the front door (the cdn playbook's warm-up); what it did."""
    return cdn.warm(Context.for_environment(env))


def figures(timeline: Timeline, *, front_door: str, origin: str) -> dict[str, Any]:
    """The whole run's hit ratio as the load's answers said it, beside the traffic model's."""
    whole = timeline.window()
    ratio = whole.cdn_hit_ratio
    return {"front_door": front_door, "origin": origin, "hit_ratio": ratio,
            "model_hit_ratio": float(traffic.load().cdn_hit_ratio), "requests": whole.requests, "hits": whole.cdn_hits,
            "origin_share": None if ratio is None else round(1.0 - ratio, 4)}
