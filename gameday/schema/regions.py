"""An environment's ``regions:`` block: which region it is, its standby, and the front that sends
readers to one region (the twin's global front, or a Cloud DNS record)::

    regions:
      name: europe-west2              # this environment's region (the twin: r1 or r2)
      standby: gke-production-dr      # the standby region: another environment file (environments/<name>.yaml)
      decision_s: 60                  # the simulated human decision before a failover (game days wait this long)
      front:
        kind: cloud-dns               # twin (the local twin's front) | cloud-dns
        project: sps-production
        managed_zone: sps-example-nhs-uk
        record: www.sps.example.nhs.uk.
        type: A                       # A or CNAME
        ttl: 60
        targets:                      # per region: the record's data when that region is active
          europe-west2: [203.0.113.10]
          europe-west1: [198.51.100.20]
      kafka:                          # kind: kubernetes only: the Strimzi mirror into this region
        mirror: {namespace: kafka, name: sps-mirror}   # its KafkaMirrorMaker2 (stopped on promotion)
        offsets_topic: mirrormaker2-cluster-offsets    # optional: else read from the KafkaMirrorMaker2
        timeout_s: 10                 # optional: how long a lag measurement may take (default 10)

:class:`RegionsBlock` checks each key; ``RegionsBlock.problems(data, environment)`` checks between
keys (a cloud-dns front's fields, targets that fit the type, a standby that is not this environment,
a Strimzi mirror only on a kind: kubernetes environment).
That ``standby`` names an existing environment file of the same kind is checked where files are read
(:func:`gameday.targets.environment.load`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Optional

from pydantic import Field, field_validator

from .base import Problem, Strict
from .gcp_names import GCP_PROJECT, check_project

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"  # an environment name, as gameday.yamlfile.NAME
REGION = r"^[a-z][a-z0-9-]{0,62}$"
MANAGED_ZONE = r"^[a-z][a-z0-9-]{0,62}$"
FQDN = re.compile(r"^(?=.{1,254}$)([A-Za-z0-9_*]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+$")
TWIN_REGIONS = ("r1", "r2")
DNS_KEYS = ("project", "managed_zone", "record", "type", "ttl", "targets")  # every one required by cloud-dns
DNS_OPTIONAL = ("timeout_s", "poll_s")
DNS_EXAMPLE = ("e.g. {kind: cloud-dns, project: sps-production, managed_zone: sps-example-nhs-uk, "
               "record: www.sps.example.nhs.uk., type: A, ttl: 60, targets: {europe-west2: [203.0.113.10], "
               "europe-west1: [198.51.100.20]}}; see environments/gke-production.example.yaml")


def check_fqdn(value: str) -> str:
    if not FQDN.match(value):
        hint = "add the trailing dot" if FQDN.match(value + ".") else "a DNS name ending in a dot"
        raise ValueError(f"is not a fully qualified name -> {hint}, e.g. www.sps.example.nhs.uk.")
    return value


class Front(Strict):
    """What sends readers to the active region: the twin's global front, or one Cloud DNS record
    whose data is replaced by the active region's (:mod:`gameday.gcp.dns`)."""

    kind: Literal["twin", "cloud-dns"] = Field(description="twin (the local twin's global front) or cloud-dns "
                                                           "(a record in a Cloud DNS managed zone)")
    project: Optional[str] = Field(None, min_length=1, max_length=100, json_schema_extra={"pattern": GCP_PROJECT},
                                   description="cloud-dns: the Google Cloud project id of the managed zone")
    managed_zone: Optional[str] = Field(None, max_length=63, pattern=MANAGED_ZONE,
                                        description="cloud-dns: the managed zone's name (gcloud dns managed-zones "
                                                    "list), not its DNS name, e.g. sps-example-nhs-uk")
    record: Optional[str] = Field(None, min_length=1, max_length=254, description="cloud-dns: the record's fully "
                                  "qualified name with its trailing dot, e.g. www.sps.example.nhs.uk.")
    type: Optional[Literal["A", "CNAME"]] = Field(None, description="cloud-dns: the record type, A or CNAME")
    ttl: Optional[int] = Field(None, ge=0, le=86400, description="cloud-dns: the record's TTL in seconds, 0..86400 "
                               "(low, e.g. 60: resolvers follow a switch within it)")
    targets: Optional[dict[str, list[str]]] = Field(
        None, description="cloud-dns: per region, the record's data when that region is active, e.g. "
                          "{europe-west2: [203.0.113.10], europe-west1: [198.51.100.20]}")
    timeout_s: Optional[float] = Field(None, ge=1, le=3600, description="cloud-dns: seconds a switch waits for "
                                       "its change to be done, 1..3600 (default 300)")
    poll_s: Optional[float] = Field(None, ge=0.05, le=60, description="cloud-dns: seconds between two looks at a "
                                    "pending change, 0.05..60 (default 1)")

    @field_validator("record")
    @classmethod
    def _record(cls, value: str | None) -> str | None:
        return check_fqdn(value) if value is not None else value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        return check_project(value) if value is not None else value

    @staticmethod
    def problems(data: Any, path: str, region: Any) -> list[Problem]:
        """Between keys of ``front`` as written: a cloud-dns front has all its keys and targets that
        fit its type (``region``: this environment's region, which must have a target)."""
        if not isinstance(data, dict) or data.get("kind") not in ("twin", "cloud-dns"):
            return []
        if data["kind"] == "twin":
            return [Problem(f"{path}.{key} is used only with kind: cloud-dns", "remove it, or say kind: cloud-dns")
                    for key in (*DNS_KEYS, *DNS_OPTIONAL) if key in data]
        out = [Problem(f"{path}.{key} is missing: kind: cloud-dns needs it", DNS_EXAMPLE)
               for key in DNS_KEYS if key not in data]
        targets, kind = data.get("targets"), data.get("type")
        if not isinstance(targets, dict):
            return out
        seen: dict[tuple[str, ...], str] = {}
        for name, rrdatas in targets.items():
            where = f"{path}.targets.{name}"
            if not isinstance(name, str) or not re.match(REGION, name):
                out.append(Problem(f"{path}.targets has a key that is not a region name: {name!r}",
                                   "lowercase letters, digits and hyphens, e.g. europe-west2"))
            if not isinstance(rrdatas, list) or not rrdatas or not all(isinstance(r, str) for r in rrdatas):
                out.append(Problem(f"{where} must be a list of the record's data",
                                   "e.g. [203.0.113.10] for type A, [lb.europe-west2.sps.example.nhs.uk.] for CNAME"))
                continue
            out += _rrdata_problems(rrdatas, kind, where)
            key = tuple(sorted(rrdatas))
            if key in seen:
                out.append(Problem(f"{where} is the same data as {path}.targets.{seen[key]}",
                                   "each region needs its own data, or a switch would change nothing"))
            seen.setdefault(key, str(name))
        if isinstance(region, str) and region not in targets:
            out.append(Problem(f"{path}.targets has no entry for this region ({region!r}, regions.name)",
                               f"add {path}.targets.{region}: the record's data when this region is active"))
        return out


def _rrdata_problems(rrdatas: list[str], kind: Any, where: str) -> list[Problem]:
    if kind == "CNAME":
        if len(rrdatas) != 1 or not FQDN.match(rrdatas[0]):
            return [Problem(f"{where} must be one fully qualified name for type CNAME",
                            "e.g. [lb.europe-west2.sps.example.nhs.uk.] (with its trailing dot)")]
        return []
    if kind == "A":
        out = []
        for value in rrdatas:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                out.append(Problem(f"{where}: {value[:60]!r} is not an IPv4 address (type A)",
                                   "e.g. 203.0.113.10 (the region's load balancer address); a name needs type CNAME"))
        return out
    return []


K8S_NAMESPACE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"  # a DNS-1123 label
K8S_NAME = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"  # a DNS-1123 subdomain
KAFKA_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"


class MirrorRef(Strict):
    """A Strimzi ``KafkaMirrorMaker2`` (kafka.strimzi.io/v1beta2) in this region's cluster: the mirror
    that copies the other region's topics here (``kubectl get kafkamirrormaker2 -A``)."""

    namespace: str = Field(min_length=1, max_length=63, pattern=K8S_NAMESPACE,
                           description="the namespace of the KafkaMirrorMaker2: lowercase letters, digits and "
                                       "hyphens, e.g. kafka")
    name: str = Field(min_length=1, max_length=253, pattern=K8S_NAME,
                      description="the KafkaMirrorMaker2's name: lowercase letters, digits, hyphens and dots, "
                                  "e.g. sps-mirror")


class RegionKafka(Strict):
    """How Kafka reaches this (standby) region: the Strimzi mirror that gameday stops when this region
    is promoted and whose lag it measures (:mod:`gameday.targets.kubernetes_mirror`)."""

    mirror: MirrorRef = Field(description="the KafkaMirrorMaker2 into this region: {namespace, name}")
    offsets_topic: Optional[str] = Field(None, max_length=249, pattern=KAFKA_TOPIC,
                                         description="Connect's offsets topic of the mirror, on this region's Kafka "
                                                     "(letters, digits, '.', '_', '-'); "
                                                     "default: the KafkaMirrorMaker2's offset.storage.topic "
                                                     "(Strimzi's default mirrormaker2-cluster-offsets)")
    timeout_s: float = Field(10, ge=0.5, le=120, description="seconds one lag measurement may take, 0.5..120 "
                             "(default 10); a Kafka that does not answer in time is reported as not measured")


class RegionsBlock(Strict):
    """This environment's place among regions: its own region, its standby, the front, the decision time."""

    name: str = Field(max_length=63, pattern=REGION, description="this environment's region, e.g. europe-west2 "
                      "(the twin's regions are r1 and r2)")
    standby: str = Field(max_length=100, pattern=NAME_PATTERN, description="the standby region's environment: "
                         "another file in environments/ (its name, without .yaml), e.g. gke-production-dr")
    front: Front = Field(description="what sends readers to the active region: {kind: twin} or {kind: cloud-dns, ...}")
    decision_s: float = Field(60, ge=0, le=3600, description="the simulated human decision before a failover, "
                              "seconds, 0..3600 (default 60)")
    kafka: Optional[RegionKafka] = Field(None, description="kind: kubernetes: the Strimzi KafkaMirrorMaker2 "
                                         "into this region, {mirror: {namespace, name}}; without it Kafka's lag is "
                                         "not measured and a promotion leaves the mirror running")

    @staticmethod
    def problems(data: Any, environment: Any, path: str = "regions") -> list[Problem]:
        """Between keys of ``regions`` and its environment (``environment``: the gameday_environment mapping)."""
        if not isinstance(data, dict):
            return []
        env = environment if isinstance(environment, dict) else {}
        out = []
        if isinstance(data.get("standby"), str) and data["standby"] == env.get("name"):
            out.append(Problem(f"{path}.standby names this environment itself ({data['standby']!r})",
                               "name the standby region's environment file (another cluster), e.g. gke-production-dr"))
        front = data.get("front")
        kind = front.get("kind") if isinstance(front, dict) else None
        if kind == "twin" and env.get("kind") == "kubernetes":
            out.append(Problem(f"{path}.front.kind twin is the local twin's front, but this is a kind: "
                               f"{env.get('kind')} environment", f"use kind: cloud-dns; {DNS_EXAMPLE}"))
        if kind == "twin" and isinstance(data.get("name"), str) and data["name"] not in TWIN_REGIONS:
            out.append(Problem(f"{path}.name must be r1 or r2 with front kind twin, not {data['name'][:40]!r}",
                               "the twin's regions are r1 (twin NAME) and r2 (twin NAME-r2)"))
        if data.get("kafka") is not None and env.get("kind") != "kubernetes":
            out.append(Problem(f"{path}.kafka names a Strimzi KafkaMirrorMaker2, used only by a kind: kubernetes "
                               f"environment (this is kind: {env.get('kind')})",
                               "remove it: the twin's regions run their own MirrorMaker (gameday sandbox up --regions 2)"))
        out += Front.problems(front, f"{path}.front", data.get("name"))
        return out
