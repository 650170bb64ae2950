"""Site actions: the editor flow, used to put writes through the platform during a fault."""

import time
from typing import Any, Dict

import requests

from ..context import activity, target

__all__ = ["publish_updates"]


@activity
def publish_updates(count: int = 5, first_id: int = 1, configuration: Dict[str, Any] = None,
                    secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Publish ``count`` updates to existing articles (ids ``first_id``...) through the load balancer,
    as an editor would. Returns how many Kafka acknowledged at once and how many wait in the outbox."""
    url = target(configuration, lock=False).site_url()
    session = requests.Session()
    outcome = {"acknowledged": 0, "pending": 0, "failed": 0, "ids": []}
    for i in range(int(count)):
        aid = int(first_id) + i
        try:
            current = session.get(f"{url}/api/articles/{aid}", timeout=5).json()
            r = session.post(f"{url}/api/articles", timeout=15, json={
                "id": aid, "kind": current["kind"], "title": current["title"], "category": current["category"],
                "summary": current["summary"], "body": current["body"] + f"\n\nReviewed {time.strftime('%Y-%m-%d %H:%M:%S')}."})
        except (requests.RequestException, ValueError, KeyError):
            outcome["failed"] += 1
            continue
        if r.status_code == 201:
            outcome["acknowledged"] += 1
        elif r.status_code == 202:
            outcome["pending"] += 1
        else:
            outcome["failed"] += 1
        outcome["ids"].append(aid)
    outcome["at"] = time.time()
    return outcome
