"""Site actions: the editor flow, used to put writes through the platform during a fault."""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

import requests

from ... import hostguard
from ...targets.credentials import basic_auth
from ..context import activity, target

__all__ = ["publish_updates"]


EDITORS_AT_ONCE = 5  # editors publish independently: a refused publish (Kafka down: the site waits up to 5 s) holds up no other


@activity
def publish_updates(count: int = 5, first_id: int = 1, configuration: Dict[str, Any] = None,
                    secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Publish ``count`` updates to existing articles (ids ``first_id``...) through the load balancer,
    as editors would: up to :data:`EDITORS_AT_ONCE` at a time, each on its own connection, signed in as
    the target's publisher when the site asks for one (``Target.publisher_auth``: HTTP basic auth on
    the POST; none is sent when the target has none). Returns
    how many Kafka acknowledged at once (201), how many wait in the outbox (202) and how many failed,
    with the ids published (sorted) and when the last one was answered (``at``)."""
    tgt = target(configuration, lock=False)
    url = hostguard.check_url(tgt.site_url(), hostguard.site_hosts(tgt.env))  # the credential goes nowhere else
    auth = basic_auth(tgt.publisher_auth())
    ids = [int(first_id) + i for i in range(int(count))]
    with ThreadPoolExecutor(max_workers=max(1, min(EDITORS_AT_ONCE, len(ids))), thread_name_prefix="editor") as pool:
        answers = list(pool.map(lambda aid: _publish(url, aid, auth), ids))
    outcome = {"acknowledged": answers.count("acknowledged"), "pending": answers.count("pending"),
               "failed": answers.count("failed"), "ids": [aid for aid, a in zip(ids, answers, strict=True) if a != "unreachable"]}
    outcome["failed"] += answers.count("unreachable")
    outcome["at"] = time.time()
    return outcome


def _publish(url: str, aid: int, auth: tuple[bytes, bytes] | None) -> str:
    """One editor's update of article ``aid``: ``acknowledged``, ``pending``, ``failed`` (an answer
    other than 201/202) or ``unreachable`` (no answer, or not the article). A redirect to another host
    raises :class:`gameday.hostguard.RedirectRefused` (naming both hosts): that is the site's address
    being wrong, not a fault's effect to count."""
    with hostguard.session() as session:  # RedirectRefused: the credential never follows to another host
        try:
            current = session.get(f"{url}/api/articles/{aid}", timeout=5).json()
            r = session.post(f"{url}/api/articles", timeout=15, auth=auth, json={
                "id": aid, "kind": current["kind"], "title": current["title"], "category": current["category"],
                "summary": current["summary"], "body": current["body"] + f"\n\nReviewed {time.strftime('%Y-%m-%d %H:%M:%S')}."})
        except (requests.RequestException, ValueError, KeyError):
            return "unreachable"
    return {201: "acknowledged", 202: "pending"}.get(r.status_code, "failed")
