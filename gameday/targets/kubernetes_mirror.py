"""Strimzi's MirrorMaker 2 into a standby GKE region (issue 16, "On GKE"): the ``KafkaMirrorMaker2``
(kafka.strimzi.io/v1beta2) the standby's environment names in ``regions.kafka.mirror``, read and
stopped through the Kubernetes API, its lag measured on both Kafka clusters with the twin's core
(:func:`gameday.sandbox.mirror_lag.measure`). :mod:`.kubernetes_regions` calls these with the
standby region's target (``dr``) and the active one's (``active``)::

    named(dr)                       # {"namespace", "name"} or None: no mirror named
    read(dr)                        # the custom object; GamedayError naming it when it is not there
    got = read_quietly(dr)          # (the object, None) or (None, why): one read shared by the next two
    lag(dr, active, got=got)        # {"behind": 0, "topics": {...}, "mirror", ...} or {"behind": None, "why"}
    stop(dr, read(dr))              # every connector of every mirror: state stopped, waited for

**Stopping.** Strimzi's documented API (``KafkaMirrorMaker2ConnectorSpec.state``: running, paused or
stopped; Strimzi 0.38+, Kafka 3.5+) is used, not ``spec.replicas: 0``: each ``spec.mirrors[]``
``sourceConnector``, ``checkpointConnector`` and ``heartbeatConnector`` present is set to
``stopped`` in one JSON merge patch guarded by the object's ``resourceVersion``. A stopped connector
keeps its configuration and committed offsets and runs no task; the Connect workers stay up, so a
rebuild as standby restarts it with ``state: running``. The operator's reconcile is waited for
(``status.observedGeneration`` and, when listed, each connector ``STOPPED`` in ``status.connectors``).

**Lag.** Measured only when both regions' Kafka bootstraps (``kubernetes.kafka.bootstrap`` of each
environment, plaintext, the address every other Kafka check of gameday uses) answer from where
gameday runs, within ``regions.kafka.timeout_s``. The names are Strimzi's:

- source alias, target alias: ``mirrors[].sourceCluster`` / ``targetCluster`` (v1beta2), or
  ``mirrors[].source.alias`` / ``spec.target.alias`` (Strimzi's v1 API). With several mirrors, the
  one whose source alias is the active region's name (``regions.name``);
- the source connector's name in Connect's offsets: ``<source>-><target>.MirrorSourceConnector``;
- Connect's offsets topic (:func:`offsets_topic`): ``regions.kafka.offsets_topic`` when the
  environment gives it, else ``offset.storage.topic`` of the Connect cluster's config in the
  custom object (``spec.clusters[alias=connectCluster].config``, or v1's
  ``spec.target.offsetStorageTopic``), else Strimzi's default ``mirrormaker2-cluster-offsets``;
- the mirrored topics: the active cluster's topics that ``topicsPattern`` takes (default all) and
  ``topicsExcludePattern`` leaves (default MirrorMaker's ``.*[-.]internal, .*\\.replica, __.*``),
  less the ones mirrored from this region; each lands as ``<source><separator><topic>``
  (``replication.policy.separator``, default ``.``), or under its own name with the
  IdentityReplicationPolicy.

``exact`` says whether the Connect cluster runs ``exactly.once.source.support: enabled``: without it
the offsets are committed after the records (``offset.flush.interval.ms``), so ``behind`` may count
records already copied, never fewer than are missing. The indexer's offset translation (the checkpoint
connector's ``sync.group.offsets.enabled``, the groups pattern, the translated offsets) is read by
:mod:`.kubernetes_mirror_offsets`, from the same object and the same mirror entry (:func:`flow`).
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError

GROUP, VERSION, PLURAL, KIND = "kafka.strimzi.io", "v1beta2", "kafkamirrormaker2s", "KafkaMirrorMaker2"
CONNECTORS = ("sourceConnector", "checkpointConnector", "heartbeatConnector")
SUFFIX = {"sourceConnector": "MirrorSourceConnector", "checkpointConnector": "MirrorCheckpointConnector",
          "heartbeatConnector": "MirrorHeartbeatConnector"}
DEFAULT_OFFSETS_TOPIC = "mirrormaker2-cluster-offsets"  # Strimzi's offset.storage.topic for a KafkaMirrorMaker2
DEFAULT_EXCLUDE = r".*[\-\.]internal, .*\.replica, __.*"  # MirrorMaker's DefaultTopicFilter topics.exclude
STOP_WAIT_S = 60.0  # the operator reconciles a changed custom object within seconds (it watches them)
NOT_NAMED = "not measured: the environment names no KafkaMirrorMaker2 (regions.kafka.mirror)"


def named(target: Any) -> dict[str, str] | None:
    """``{"namespace", "name"}`` of the mirror into ``target``'s region, None when none is named."""
    return ((target.env.regions or {}).get("kafka") or {}).get("mirror")


def _where(target: Any) -> str:
    ref = named(target) or {}
    return f"{KIND} {ref.get('namespace')}/{ref.get('name')}"


def _api(target: Any) -> Any:
    from kubernetes import client
    return client.CustomObjectsApi(target.api)


def read(target: Any) -> dict[str, Any]:
    """The named custom object as the cluster holds it now. A missing one (or a cluster without
    Strimzi's CRD) is one GamedayError naming it; so is any other refusal."""
    from kubernetes.client.rest import ApiException
    ref = named(target)
    if ref is None:
        raise GamedayError(f"{target.name}: {NOT_NAMED}")
    try:
        return target._call(_api(target).get_namespaced_custom_object, GROUP, VERSION, ref["namespace"], PLURAL,
                            ref["name"])
    except ApiException as err:
        if err.status == 404:
            raise GamedayError(f"{target.name}: {_where(target)} (regions.kafka.mirror) is not in the cluster; "
                               "nothing was touched",
                               hint=f"kubectl --context {target.block.get('context')} get kafkamirrormaker2 -A; fix "
                                    f"regions.kafka.mirror in {target.env.source or 'the environment file'}") from None
        raise GamedayError(f"{target.name}: reading {_where(target)} failed: {err.status} {err.reason}") from None


def read_quietly(target: Any) -> tuple[dict[str, Any] | None, str | None]:
    """``(the custom object, None)``, or ``(None, why)`` when no mirror is named or :func:`read`
    refused (the why is its message): one read for :func:`lag` and the offset translation
    (:mod:`.kubernetes_mirror_offsets`) of the same replication status."""
    if named(target) is None:
        return None, NOT_NAMED
    try:
        return read(target), None
    except GamedayError as err:  # the object missing, the API server unreachable or refusing
        return None, err.message


def _target_alias(spec: dict[str, Any], mirror: dict[str, Any]) -> str | None:
    return mirror.get("targetCluster") or (spec.get("target") or {}).get("alias") or spec.get("connectCluster")


def _source_alias(mirror: dict[str, Any]) -> str | None:
    return mirror.get("sourceCluster") or (mirror.get("source") or {}).get("alias")


def connector_names(obj: dict[str, Any]) -> dict[str, str]:
    """``{connector name: state}`` of every connector the custom object defines (Strimzi names them
    ``<source>-><target>.<class>``; a state not given is ``running``)."""
    spec = obj.get("spec") or {}
    out = {}
    for mirror in spec.get("mirrors") or []:
        for key in CONNECTORS:
            if mirror.get(key) is not None:
                name = f"{_source_alias(mirror)}->{_target_alias(spec, mirror)}.{SUFFIX[key]}"
                out[name] = str(mirror[key].get("state") or "running")
    return out


def connect_config(obj: dict[str, Any]) -> dict[str, Any]:
    """The Connect cluster's configuration: the ``clusters[]`` entry named by ``connectCluster``
    (v1beta2) or ``spec.target`` (v1)."""
    spec = obj.get("spec") or {}
    if spec.get("target"):
        return dict((spec["target"] or {}).get("config") or {})
    alias = spec.get("connectCluster")
    found = next((c for c in spec.get("clusters") or [] if c.get("alias") == alias), {})
    return dict(found.get("config") or {})


def offsets_topic(obj: dict[str, Any], given: str | None = None) -> tuple[str, str]:
    """Connect's offsets topic of the mirror and where that name came from (see the module docstring)."""
    if given:
        return given, "regions.kafka.offsets_topic"
    spec = obj.get("spec") or {}
    v1 = (spec.get("target") or {}).get("offsetStorageTopic")
    if v1:
        return str(v1), "spec.target.offsetStorageTopic"
    found = connect_config(obj).get("offset.storage.topic")
    if found:
        return str(found), f"spec.clusters[{spec.get('connectCluster')}].config.offset.storage.topic"
    return DEFAULT_OFFSETS_TOPIC, "Strimzi's default offset.storage.topic"


def _patterns(text: str) -> list[re.Pattern[str]]:
    """MirrorMaker's topic filter: a comma-separated list of regular expressions (whole names)."""
    return [re.compile(p.strip()) for p in text.split(",") if p.strip()]


def flow(target: Any, active: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """The mirror entry from the active region into this one, with the names :func:`lag` measures by:
    ``{"source", "target", "connector", "separator", "identity", "include", "exclude", "state", "index",
    "entry"}`` (``entry`` is ``spec.mirrors[index]`` as the object has it). GamedayError when the
    object has no single mirror with a source connector from the active region. ``active`` None (its
    environment could not be loaded): the object's only such mirror."""
    spec = obj.get("spec") or {}
    mirrors = [m for m in spec.get("mirrors") or [] if m.get("sourceConnector") is not None]
    region = str(((active.env.regions if active is not None else None) or {}).get("name"))
    if len(mirrors) > 1:
        mirrors = [m for m in mirrors if _source_alias(m) == region]
    if len(mirrors) != 1:
        aliases = ", ".join(str(_source_alias(m)) for m in spec.get("mirrors") or []) or "none"
        raise GamedayError(f"{_where(target)} has no single mirror with a sourceConnector from region {region} "
                           f"(source aliases: {aliases})")
    mirror = mirrors[0]
    index = next(i for i, m in enumerate(spec.get("mirrors") or []) if m is mirror)
    config = dict(mirror["sourceConnector"].get("config") or {})
    source, into = _source_alias(mirror), _target_alias(spec, mirror)
    separator = str(config.get("replication.policy.separator", "."))
    identity = "IdentityReplicationPolicy" in str(config.get("replication.policy.class", ""))
    include = mirror.get("topicsPattern") or config.get("topics") or ".*"
    exclude = mirror.get("topicsExcludePattern") or config.get("topics.exclude") or DEFAULT_EXCLUDE
    try:
        patterns = (_patterns(str(include)), _patterns(str(exclude)))
    except re.error as err:
        raise GamedayError(f"{_where(target)}: its topics pattern is not a regular expression gameday can read "
                           f"({err})") from None
    return {"source": source, "target": into, "connector": f"{source}->{into}.{SUFFIX['sourceConnector']}",
            "separator": separator, "identity": identity, "include": patterns[0], "exclude": patterns[1],
            "state": str(mirror["sourceConnector"].get("state") or "running"), "index": index, "entry": mirror}


def mirrored_topic(flow: dict[str, Any], topic: str) -> str:
    """Where ``topic`` of the active region lands in this one (:func:`flow`'s replication policy):
    ``<source><separator><topic>``, or ``topic`` itself with the IdentityReplicationPolicy."""
    return topic if flow["identity"] else f"{flow['source']}{flow['separator']}{topic}"


def _topics(bootstrap: str, flow: dict[str, Any], timeout: float) -> list[str]:
    """The active cluster's topics the mirror copies (its include and exclude patterns; not the ones
    it would copy back from this region)."""
    from confluent_kafka import KafkaException

    from ..kafka_admin import KafkaUnavailable, admin
    try:
        names = admin(bootstrap).list_topics(timeout=max(0.5, timeout)).topics
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not answer a metadata request: {err}") from err
    back = f"{flow['target']}{flow['separator']}"
    return sorted(t for t in names if any(p.fullmatch(t) for p in flow["include"])
                  and not any(p.fullmatch(t) for p in flow["exclude"]) and not t.startswith(back))


def lag(target: Any, active: Any, *, got: tuple[dict[str, Any] | None, str | None] | None = None) -> dict[str, Any]:
    """How far this standby region's Kafka (``target``) is behind the active region's (``active``),
    :func:`gameday.sandbox.mirror_lag.measure`'s result plus ``mirror``, ``connector``,
    ``offsets_topic`` (and ``offsets_topic_from``), ``state`` (the source connector's, as the object
    says) and ``exact``. Read-only. Never raises for what it cannot read: ``{"behind": None, "why":
    "not measured: ..."}`` (no mirror named, the object missing, a cluster that does not answer).
    ``got``: :func:`read_quietly`'s answer when the caller has read the object already."""
    from ..sandbox import mirror_lag

    if named(target) is None:
        return {"behind": None, "why": NOT_NAMED}
    obj, unread = got if got is not None else read_quietly(target)
    block = (target.env.regions or {}).get("kafka") or {}
    timeout = float(block.get("timeout_s", 10))
    where = f"{named(target)['namespace']}/{named(target)['name']}"
    if obj is None:
        return {"behind": None, "mirror": where, "why": f"not measured: {unread}"}
    try:
        found = flow(target, active, obj)
        topic, source_of_name = offsets_topic(obj, block.get("offsets_topic"))
        started = time.monotonic()
        source_bootstrap, target_bootstrap = active.kafka_bootstrap(), target.kafka_bootstrap()
        topics = _topics(source_bootstrap, found, timeout)
        measured = mirror_lag.measure(
            source_bootstrap, target_bootstrap, topics=topics, offsets_topic=topic, source_alias=found["source"],
            connector=found["connector"], mirrored=lambda t: mirrored_topic(found, t),
            checkpoints_topic="{0}{1}checkpoints{1}internal".format(found["source"], found["separator"]),
            timeout=max(0.5, timeout - (time.monotonic() - started)))
    except GamedayError as err:  # KafkaUnavailable, no single mirror from the active region
        return {"behind": None, "mirror": where, "why": f"not measured: {err.message}"}
    exact = str(connect_config(obj).get("exactly.once.source.support", "")).lower() == "enabled"
    return {**measured, "mirror": where, "connector": found["connector"], "offsets_topic": topic,
            "offsets_topic_from": source_of_name, "state": found["state"], "exact": exact}


def _stopped(obj: dict[str, Any]) -> list[dict[str, Any]]:
    mirrors = copy.deepcopy((obj.get("spec") or {}).get("mirrors") or [])
    for mirror in mirrors:
        for key in CONNECTORS:
            if mirror.get(key) is not None:
                mirror[key]["state"] = "stopped"
    return mirrors


def _reconciled(obj: dict[str, Any], names: list[str]) -> bool:
    """The operator has seen the object's last change and Connect reports no named connector running."""
    status = obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int((obj.get("metadata") or {}).get("generation") or 0):
        return False
    states = {c.get("name"): str((c.get("connector") or {}).get("state") or "").upper()
              for c in status.get("connectors") or [] if isinstance(c, dict)}
    return all(states.get(n, "STOPPED") == "STOPPED" for n in names)


def stop(target: Any, obj: dict[str, Any], *, timeout: float = STOP_WAIT_S) -> dict[str, Any]:
    """Set every connector of the mirror ``obj`` (:func:`read`) to ``state: stopped`` (one merge patch
    of ``spec.mirrors``, with the object's ``resourceVersion``; a conflict re-reads and tries again, at
    most 5 times), then wait up to ``timeout`` s for the operator (:func:`_reconciled`). Idempotent:
    already stopped sends nothing (``already``). ``{"mirror", "how", "connectors", "already",
    "confirmed", "seconds"}``; ``confirmed`` False (with ``why``) when the operator did not report
    within ``timeout``: the patch stands, nothing is undone. The caller asks for consent first."""
    from kubernetes.client.rest import ApiException

    ref = named(target) or {}
    started = time.monotonic()
    names = list(connector_names(obj))
    out: dict[str, Any] = {"mirror": f"{ref.get('namespace')}/{ref.get('name')}", "how": "connector state stopped",
                           "connectors": names}
    for attempt in range(5):
        if all(state == "stopped" for state in connector_names(obj).values()):
            out["already"] = True  # nothing sent: stopped before (by a run before, or by hand meanwhile)
            break
        body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "spec": {"mirrors": _stopped(obj)}}
        try:
            target._call(_api(target).patch_namespaced_custom_object, GROUP, VERSION, ref["namespace"], PLURAL,
                         ref["name"], body, _content_type="application/merge-patch+json")
            out["already"] = False
            break
        except ApiException as err:
            if err.status != 409 or attempt == 4:
                raise GamedayError(f"{target.name}: stopping {_where(target)} failed: {err.status} {err.reason}",
                                   hint=f"kubectl --context {target.block.get('context')} -n {ref.get('namespace')} "
                                        f"edit kafkamirrormaker2 {ref.get('name')}: set each connector's state: "
                                        "stopped") from None
            obj = read(target)  # changed meanwhile: apply the change to what it is now
    def stopped() -> bool:
        now = read(target)
        if any(state != "stopped" for state in connector_names(now).values()):
            raise GamedayError(f"{target.name}: {_where(target)} does not keep its connectors' state: stopped "
                               "(a Strimzi before 0.38 has no connector state and drops it)",
                               hint=f"stop the mirror by hand: kubectl --context {target.block.get('context')} -n "
                                    f"{ref.get('namespace')} scale kafkamirrormaker2 {ref.get('name')} --replicas=0")
        return _reconciled(now, names)

    try:
        wait_until(stopped, timeout=timeout, interval=0.5, what=f"Strimzi to stop the connectors of {_where(target)}")
        out["confirmed"] = True
    except DeadlineExceeded as err:
        out.update(confirmed=False, why=f"{err.message}: the patch stands; check its status.connectors")
    out["seconds"] = round(time.monotonic() - started, 2)
    return out
