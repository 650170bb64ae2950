"""Whether a live index is the site's own index, or an impostor with the site's name: re-created by
automatic index creation (dynamic mappings, the default shard count) when the indexer wrote to a
deleted index. The search playbook removes an impostor before it restores; the twin's scheduled
snapshots (:mod:`gameday.sandbox.search_snapshot_schedule`) never take one, since a restore starts
from the newest snapshot::

    why = impostor_reason(api, "content")   # None: the site's index; else a sentence
"""

from __future__ import annotations

from .search_admin import SearchAdmin
from .site.search import INDEX_SETTINGS


def impostor_reason(api: SearchAdmin, index: str) -> str | None:
    """Why ``index`` is not the site's index (its primaries or its fields' types differ from
    :data:`~gameday.site.search.INDEX_SETTINGS`), or None when they are right. The index must exist."""
    settings = api.request("GET", f"/{index}/_settings")
    index_settings = next(iter(settings.values()))["settings"]["index"]
    want_shards = INDEX_SETTINGS["settings"]["index"]["number_of_shards"]
    if int(index_settings["number_of_shards"]) != want_shards:
        return f"{index_settings['number_of_shards']} primaries instead of {want_shards}"
    mapping = next(iter(api.request("GET", f"/{index}/_mapping").values()))["mappings"].get("properties", {})
    wrong = [f for f, spec in INDEX_SETTINGS["mappings"]["properties"].items()
             if mapping.get(f, {}).get("type") != spec["type"]]
    if wrong:
        return f"fields {', '.join(wrong)} not mapped as the site defines them (dynamic mapping)"
    return None
