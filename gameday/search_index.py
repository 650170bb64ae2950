"""Whether a live index is the site's own index, or an impostor with the site's name: re-created by
automatic index creation (dynamic mappings) when the indexer wrote to a deleted index. The search
playbook removes an impostor before it restores; the twin's scheduled snapshots
(:mod:`gameday.sandbox.search_snapshot_schedule`) never take one, since a restore starts from the
newest snapshot::

    why = impostor_reason(api, "content")   # None: the site's index; else a sentence

An impostor is told by its mapping only: dynamic mapping makes every string field ``text`` (with a
``keyword`` sub-field), so the site's keyword fields (``kind``, ``category``, ``slug``) give it away.
The shard count is not judged: it is a sizing choice (an index re-created with fewer primaries, a
platform whose index is laid out otherwise), and the playbook deletes what this calls an impostor.
"""

from __future__ import annotations

from .search_admin import SearchAdmin
from .site.search import INDEX_SETTINGS


def impostor_reason(api: SearchAdmin, index: str) -> str | None:
    """Why ``index`` is not the site's index (its fields' types differ from
    :data:`~gameday.site.search.INDEX_SETTINGS`' mapping), or None when they are right, whatever its
    shard count. The index must exist."""
    mapping = next(iter(api.request("GET", f"/{index}/_mapping").values()))["mappings"].get("properties", {})
    wrong = [f for f, spec in INDEX_SETTINGS["mappings"]["properties"].items()
             if mapping.get(f, {}).get("type") != spec["type"]]
    if wrong:
        return f"fields {', '.join(wrong)} not mapped as the site defines them (dynamic mapping)"
    return None
