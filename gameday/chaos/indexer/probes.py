"""Indexer probes: its dead letters, and whether articles published through the site are searchable."""

import time
from typing import Any, Dict, List

import requests

from ... import hostguard
from ...deadline import Deadline
from ...errors import DeadlineExceeded, GamedayError
from ..context import activity, target

__all__ = ["dead_letters", "wait_for_articles_indexed"]


@activity
def dead_letters(key: str = None, configuration: Dict[str, Any] = None,
                 secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The indexer's dead-letter topic: ``{"count", "records": [{"partition", "offset", "source",
    "error"}]}``, only the records copied from events keyed ``key`` when given (one fault's)."""
    found = []
    for r in target(configuration, lock=False).dead_letters():
        if key is not None and (r["key"] or b"").decode(errors="replace") != key:
            continue
        h = r["headers"]
        found.append({"partition": r["partition"], "offset": r["offset"], "error": h.get("gameday.error"),
                      "source": f"{h.get('gameday.source.topic')}[{h.get('gameday.source.partition')}]"
                                f"@{h.get('gameday.source.offset')}"})
    return {"count": len(found), "records": found}


@activity
def wait_for_articles_indexed(ids: List[int], timeout: float = 60, configuration: Dict[str, Any] = None,
                              secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Block until search holds each article of ``ids`` at the version the site serves (what an
    editor just published is searchable); returns ``{"ids", "seconds"}``. From an experiment, after
    ``publish_updates``::

        provider: {type: python, module: gameday.chaos.indexer.probes, func: wait_for_articles_indexed,
                   arguments: {ids: [31, 32], timeout: 60}}
    """
    tgt = target(configuration, lock=False)
    site, search = hostguard.check_url(tgt.site_url(), hostguard.site_hosts(tgt.env)), tgt.search_admin()
    session = hostguard.session()  # versions read from another host would not be this site's
    started, deadline = time.monotonic(), Deadline(float(timeout))
    behind: Dict[int, str] = {aid: "not read yet" for aid in ids}
    while behind and not deadline.expired():
        behind = {aid: why for aid in [int(i) for i in ids] if (why := _behind(session, site, search, aid))}
        if behind:
            time.sleep(min(0.5, deadline.remaining()))
    if behind:
        raise DeadlineExceeded(f"articles not searchable within {timeout:g}s: {behind}",
                               hint="is the indexer blocked? `gameday playbook kafka` (its lag and dead letters)")
    return {"ids": list(ids), "seconds": round(time.monotonic() - started, 2)}


def _behind(session: requests.Session, site: str, search, aid: int) -> str:
    """Why article ``aid`` is not searchable at the site's version yet ("" when it is)."""
    try:
        want = int(session.get(f"{site}/api/articles/{aid}", timeout=5).json()["version"])
        doc = search.request("GET", f"/content/_doc/{aid}", ok=(200, 404)) or {}
    except hostguard.RedirectRefused as err:
        return f"not read: {err.message}"
    except (requests.RequestException, ValueError, KeyError, GamedayError) as err:
        return f"not read: {type(err).__name__}"
    have = doc.get("_version") if doc.get("found") else None
    return "" if have is not None and int(have) >= want else f"search has version {have}, the site {want}"
