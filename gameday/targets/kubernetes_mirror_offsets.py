"""The standby's indexer after a promotion on GKE (issue 16, drill 2: "the indexer consumes the
mirrored topic from translated offsets"): does Strimzi's MirrorMaker 2 translate the indexer's group
offsets into the standby region, and which offsets did it translate. :mod:`.kubernetes_regions` calls
these with the standby region's target (``dr``) and the active one's (``active``)::

    got = kubernetes_mirror.read_quietly(dr)       # the KafkaMirrorMaker2 (regions.kafka.mirror), read once
    translation(dr, active, got)                   # {"translated": True, "group": "indexer", "why": ...}
    translated_offsets(dr, active, got[0])         # at a promotion, after the mirror is stopped:
                                                   # {"group", "topic", "partitions": {0: {"committed", "end"}},
                                                   #  "missing": [2], "why"}

**What is read** from the custom object, in the mirror entry :func:`.kubernetes_mirror.flow` picks
(the one from the active region). The fields are the same in both Strimzi shapes: v1beta2 names the
clusters ``mirrors[].sourceCluster`` / ``targetCluster`` and v1 ``mirrors[].source.alias`` /
``spec.target.alias``, and v1 drops the deprecated ``groupsBlacklistPattern``:

- ``checkpointConnector``: without one MirrorMaker copies no group offset at all; its ``state``
  (stopped or paused: none is copied now);
- its ``config``: ``sync.group.offsets.enabled`` (MirrorMaker's default false: the checkpoints are
  written to ``<source>.checkpoints.internal`` but no group on the standby is given them),
  ``emit.checkpoints.enabled`` (default true; false runs no checkpoint task),
  ``sync.group.offsets.interval.seconds`` and ``emit.checkpoints.interval.seconds`` (60 s each);
- the groups it takes, as Strimzi writes them into the connector's config: ``groupsPattern`` (else the
  config's ``groups``, else MirrorMaker's ``.*``) less ``groupsExcludePattern`` (else v1beta2's
  ``groupsBlacklistPattern``, else the config's ``groups.exclude``, else MirrorMaker's
  ``console-consumer-.*, connect-.*, __.*``): comma-separated regular expressions, each matching a
  whole group name. The group is the site's indexer's (:data:`INDEXER_GROUP`; no environment key
  names another);
- ``offset.lag.max`` of the source connector (MirrorMaker's default 100): 0 translates exactly (the
  twin's setting); above 0 a translated offset can be earlier than where the indexer was.

``translated`` is True only with all of these right, False with ``why``, ``warning`` and ``fix`` (the
field to set) otherwise, and None, with the same warning, when the object could not be read (no mirror
named, not in the cluster): not known, never guessed.

**What translation gives.** MirrorMaker writes the translated offsets onto the standby's group only
while that group has no active member there, once per sync interval, from checkpoints emitted once
per checkpoint interval: at a failover they can be that much older (120 s with the defaults), and a
translated offset is earlier than the indexer's, never later. The indexer indexes those records again
and skips none (the twin's indexer is idempotent by article id and version; a platform's must be too).
Where no offset was translated the indexer starts where its ``auto.offset.reset`` says: earliest
re-indexes the whole mirrored partition, latest skips every record it holds.

**The translated offsets** are read at the promotion, after the mirror is stopped (no sync changes
them any more), from the standby's Kafka alone (``kubernetes.kafka.bootstrap``, within
``regions.kafka.timeout_s``): the ``indexer`` group's committed offsets on the mirrored topic
``<source>.content-events`` (:func:`.kubernetes_mirror.mirrored_topic`) and the topic's end offsets.
The active region's Kafka is not needed (in a failover it is gone). A cluster that does not answer is
reported, not raised: ``{"partitions": None, "missing": None, "why": "not read: ..."}``.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import GamedayError
from . import kubernetes_mirror as mirror

INDEXER_GROUP = "indexer"  # the site's indexer's group.id (gameday/site/indexer.py), on the sandbox and on GKE
DEFAULT_GROUPS = ".*"  # MirrorMaker's groups
DEFAULT_GROUPS_EXCLUDE = "console-consumer-.*, connect-.*, __.*"  # MirrorMaker's groups.exclude
DEFAULT_INTERVAL_S = 60  # MirrorMaker's sync.group.offsets.interval.seconds and emit.checkpoints.interval.seconds
DEFAULT_OFFSET_LAG_MAX = 100  # MirrorMaker's offset.lag.max
UNREAD = ("after a promotion the indexer may re-index the mirrored topic from its earliest offset or skip to "
          "its latest (auto.offset.reset)")


def _on(value: Any, default: bool) -> bool:
    """A connector setting as Connect reads a boolean (Strimzi passes strings and booleans alike)."""
    return default if value is None else str(value).strip().lower() == "true"


def _number(value: Any, default: int) -> int | str:
    """A connector setting as a whole number; a value that is not one is returned as written."""
    try:
        return default if value is None else int(str(value).strip())
    except ValueError:
        return str(value)


def _takes(patterns: str, name: str) -> bool:
    return any(re.fullmatch(p.strip(), name) for p in patterns.split(",") if p.strip())


def _groups(entry: dict[str, Any], config: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """``((include, its field), (exclude, its field))`` as Strimzi hands them to MirrorMaker."""
    if entry.get("groupsPattern") is not None:
        include = (str(entry["groupsPattern"]), "groupsPattern")
    elif config.get("groups") is not None:
        include = (str(config["groups"]), "checkpointConnector.config.groups")
    else:
        include = (DEFAULT_GROUPS, "MirrorMaker's default groups")
    for key in ("groupsExcludePattern", "groupsBlacklistPattern"):
        if entry.get(key) is not None:
            return include, (str(entry[key]), key)
    if config.get("groups.exclude") is not None:
        return include, (str(config["groups.exclude"]), "checkpointConnector.config.groups.exclude")
    return include, (DEFAULT_GROUPS_EXCLUDE, "MirrorMaker's default groups.exclude")


def _unknown(group: str, where: str | None, why: str) -> dict[str, Any]:
    return {"translated": None, "group": group, "mirror": where, "why": f"not read: {why}",
            "warning": f"whether MirrorMaker translates the {group} group's offsets into this region is not known "
                       f"({why}): {UNREAD}",
            "fix": "name the KafkaMirrorMaker2 in regions.kafka.mirror of the standby's environment" if where is None
            else f"make KafkaMirrorMaker2 {where} readable in the standby's cluster, or fix regions.kafka.mirror "
                 "(kubectl get kafkamirrormaker2 -A)"}


def translation(target: Any, active: Any, got: tuple[dict[str, Any] | None, str | None] | None = None, *,
                group: str = INDEXER_GROUP) -> dict[str, Any]:
    """Whether the KafkaMirrorMaker2 into ``target``'s region translates ``group``'s offsets (see the
    module docstring): ``{"translated", "group", "why", "mirror", "checkpoint_connector",
    "sync_group_offsets", "groups", "sync_interval_s", "checkpoint_interval_s", "offset_lag_max",
    "exact"}`` and, when not translated, ``warning`` (what a promotion will do) and ``fix`` (the
    fields to set). ``got``: :func:`.kubernetes_mirror.read_quietly`'s answer (read here when not
    given). Read-only; never raises."""
    ref = mirror.named(target)
    where = f"{ref['namespace']}/{ref['name']}" if ref else None
    obj, unread = got if got is not None else mirror.read_quietly(target)
    if obj is None:
        return _unknown(group, where, str(unread))
    try:
        found = mirror.flow(target, active, obj)
    except GamedayError as err:
        return {"translated": False, "group": group, "mirror": where, "why": f"not translated: {err.message}",
                "warning": f"no mirror copies the active region's topics into this one: {UNREAD}",
                "fix": "give the KafkaMirrorMaker2 one spec.mirrors entry from the active region, with a "
                       "sourceConnector and a checkpointConnector"}
    at = f"spec.mirrors[{found['index']}]"
    entry = found["entry"]
    checkpoint = entry.get("checkpointConnector")
    config = dict((checkpoint or {}).get("config") or {})
    source_config = dict((entry.get("sourceConnector") or {}).get("config") or {})
    (include, include_from), (exclude, exclude_from) = _groups(entry, config)
    try:
        included, excluded = _takes(include, group), _takes(exclude, group)
    except re.error as err:
        included, excluded = False, False
        bad_pattern = f"its groups pattern is not a regular expression gameday can read ({err})"
    else:
        bad_pattern = None
    lag_max = _number(source_config.get("offset.lag.max"), DEFAULT_OFFSET_LAG_MAX)
    out: dict[str, Any] = {
        "group": group, "mirror": where, "checkpoint_connector": checkpoint is not None,
        "state": str((checkpoint or {}).get("state") or "running") if checkpoint is not None else None,
        "sync_group_offsets": checkpoint is not None and _on(config.get("sync.group.offsets.enabled"), False),
        "emit_checkpoints": checkpoint is not None and _on(config.get("emit.checkpoints.enabled"), True),
        "groups": {"include": include, "include_from": include_from, "exclude": exclude,
                   "exclude_from": exclude_from, "takes_group": included and not excluded},
        "sync_interval_s": _number(config.get("sync.group.offsets.interval.seconds"), DEFAULT_INTERVAL_S),
        "checkpoint_interval_s": _number(config.get("emit.checkpoints.interval.seconds"), DEFAULT_INTERVAL_S),
        "offset_lag_max": lag_max, "exact": lag_max == 0}
    reasons, fixes = [], []
    if checkpoint is None:
        reasons.append(f"{at} has no checkpointConnector: MirrorMaker copies no group offset")
        fixes.append(f"add checkpointConnector: {{config: {{sync.group.offsets.enabled: true}}}} to {at}")
    else:
        if out["state"] in ("stopped", "paused"):
            reasons.append(f"{at}.checkpointConnector is {out['state']}: no offset is copied now")
            fixes.append(f"set {at}.checkpointConnector.state: running")
        if not out["emit_checkpoints"]:
            reasons.append(f"{at}.checkpointConnector.config.emit.checkpoints.enabled is false: it runs no task")
            fixes.append(f"remove {at}.checkpointConnector.config.emit.checkpoints.enabled (or set it to true)")
        if not out["sync_group_offsets"]:
            said = config.get("sync.group.offsets.enabled")
            said = "not set (MirrorMaker: false)" if said is None else repr(str(said).lower() if isinstance(said, bool)
                                                                             else str(said))
            reasons.append(f"{at}.checkpointConnector.config.sync.group.offsets.enabled is {said}: the checkpoints "
                           f"are written to {found['source']}{found['separator']}checkpoints{found['separator']}"
                           f"internal but no group in this region is given them")
            fixes.append(f"set {at}.checkpointConnector.config.sync.group.offsets.enabled: true")
    if bad_pattern:
        reasons.append(bad_pattern)
        fixes.append(f"fix {at}.groupsPattern / groupsExcludePattern")
    elif not included:
        reasons.append(f"the groups pattern {include!r} ({include_from}) does not take group {group}")
        fixes.append(f"add {group} to {at}.groupsPattern (now {include!r})")
    elif excluded:
        reasons.append(f"the groups exclude pattern {exclude!r} ({exclude_from}) excludes group {group}")
        field = exclude_from if exclude_from.startswith("groups") else "groupsExcludePattern"
        fixes.append(f"set {at}.{field} to a pattern that leaves {group} (now {exclude!r})")
    if reasons:
        topic = mirror.mirrored_topic(found, target.CONTENT_TOPIC)
        return {"translated": False, **out, "why": "not translated: " + "; ".join(reasons),
                "warning": f"the {group} group's offsets are not translated into this region: after a promotion "
                           f"the indexer has no committed offset on {topic} (or a stale one) and starts where its "
                           "auto.offset.reset says: earliest re-indexes the whole mirrored topic, latest skips "
                           "every record the standby received",
                "fix": f"in KafkaMirrorMaker2 {where}: " + "; ".join(fixes)}
    stale = (out["sync_interval_s"] + out["checkpoint_interval_s"]
             if all(isinstance(out[k], int) for k in ("sync_interval_s", "checkpoint_interval_s")) else None)
    exact = "exactly (offset.lag.max 0)" if out["exact"] else \
        f"up to offset.lag.max ({lag_max}) records or more earlier per partition (indexed again, none skipped)"
    return {"translated": True, **out,
            "why": f"translated: the checkpoint connector copies group {group}'s offsets onto this region's {group} "
                   f"group every {out['sync_interval_s']} s (checkpoints every {out['checkpoint_interval_s']} s) "
                   f"while it has no member here, {exact}"
                   + (f"; at a failover they can be up to {stale} s old" if stale is not None else "")}


def offsets_report(group: str, topic: str, committed: dict[int, int], ends: dict[int, int]) -> dict[str, Any]:
    """What the promoted indexer will start from: ``committed`` (:func:`gameday.kafka_records.committed`:
    ``{partition: offset}``, -1 where none) and ``ends`` (the topic's end offsets) as ``{"group",
    "topic", "partitions": {p: {"committed", "end"}}, "missing": [p, ...], "why"}``. An empty
    ``committed`` means the topic is not on the standby's Kafka. ``end`` is the high watermark: with
    exactly-once copying it counts transaction markers too, so ``end - committed`` is at most the
    records left to index."""
    partitions = {p: {"committed": o, "end": ends.get(p)} for p, o in sorted(committed.items()) if o >= 0}
    missing = sorted(p for p, o in committed.items() if o < 0)
    if not committed:
        why = f"{topic} is not on this region's Kafka: nothing was mirrored into it, so nothing was translated"
    elif missing:
        why = (f"group {group} has no committed offset on {topic} partitions {missing}: there the indexer starts "
               "where auto.offset.reset says (earliest re-indexes them whole, latest skips what they hold)")
        if partitions:
            why += f"; on {sorted(partitions)} it starts from the translated offsets"
    else:
        why = f"group {group} starts from the translated offsets on every partition of {topic}"
    return {"group": group, "topic": topic, "partitions": partitions, "missing": missing, "why": why}


def translated_offsets(target: Any, active: Any, obj: dict[str, Any] | None, *,
                       group: str = INDEXER_GROUP) -> dict[str, Any]:
    """The ``group``'s committed offsets on the mirrored content topic of ``target``'s Kafka, as
    :func:`offsets_report` says them; read once the mirror is stopped (a promotion). ``obj`` is the
    KafkaMirrorMaker2 read before (None: not named or not read; then nothing is read). Never raises:
    ``{"partitions": None, "missing": None, "why": "not read: ..."}``."""
    from .. import kafka_records
    from ..deadline import Deadline

    if obj is None:
        return {"group": group, "topic": None, "partitions": None, "missing": None,
                "why": "not read: no KafkaMirrorMaker2 was read (regions.kafka.mirror), so the mirrored topic's "
                       "name is not known"}
    topic = None
    try:
        topic = mirror.mirrored_topic(mirror.flow(target, active, obj), target.CONTENT_TOPIC)
        bootstrap = target.kafka_bootstrap()
        deadline = Deadline(float(((target.env.regions or {}).get("kafka") or {}).get("timeout_s", 10)))
        committed = kafka_records.committed(bootstrap, group, topic, timeout=max(0.5, deadline.remaining()))
        ends = kafka_records.end_offsets(bootstrap, topic, timeout=max(0.5, deadline.remaining())) if committed else {}
    except GamedayError as err:  # KafkaUnavailable, or no single mirror from the active region
        where = f" (Kafka at {target.kafka_bootstrap()})" if topic else ""
        return {"group": group, "topic": topic, "partitions": None, "missing": None,
                "why": f"not read{where}: {err.message}"}
    return offsets_report(group, topic, committed, ends)
