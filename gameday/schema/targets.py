"""``targets.yaml`` (schema ``gameday.targets/v1``) as a model: RTO, RPO and minimum availability per
layer and scenario, and the site SLO, with per-environment overrides. :mod:`gameday.recovery.targets_yaml`
uses it; a suite (:mod:`gameday.schema.suite`) overrides it with the same keys (:class:`Objectives`,
:class:`SloOverride`)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from .base import Strict

SCHEMA = "gameday.targets/v1"
# a suite scenario's layer is one of these (events, cache: a WordPress web tier's outbox relay and object cache)
LAYERS = ("web", "db", "kafka", "search", "indexer", "network", "site", "region", "events", "cache")


class Objectives(Strict):
    """Objectives of one layer (or one scenario of it); a field left out comes from the defaults."""

    rto_s: Optional[float] = Field(None, gt=0, le=86_400, description="recovery time objective in seconds")
    rpo_records: Optional[int] = Field(None, ge=0, le=1_000_000_000, description="acknowledged records that may be lost")
    rpo_s: Optional[float] = Field(None, ge=0, le=86_400, description="seconds of acknowledged writes that may be lost")
    min_availability: Optional[float] = Field(None, ge=0, le=1, description="successful share of requests, 0..1")


class LayerObjectives(Objectives):
    backup_age_s: Optional[float] = Field(
        None, gt=0, le=31 * 86_400,
        description="how old the layer's newest backup (database backup, search snapshot) may be: what losing the "
                    "layer together with its change log would lose. Preflight warns above it; when left out, rpo_s")
    scenarios: Optional[dict[str, Objectives]] = Field(None, description="per-scenario overrides (they do not nest)")


class DefaultLayerObjectives(LayerObjectives):
    """A layer in ``defaults``: every objective is required."""

    rto_s: float = Field(gt=0, le=86_400, description="recovery time objective in seconds")
    rpo_records: int = Field(ge=0, le=1_000_000_000, description="acknowledged records that may be lost")
    rpo_s: float = Field(ge=0, le=86_400, description="seconds of acknowledged writes that may be lost")
    min_availability: float = Field(ge=0, le=1, description="successful share of requests, 0..1")


class Layers(Strict):
    web: Optional[LayerObjectives] = None
    db: Optional[LayerObjectives] = None
    kafka: Optional[LayerObjectives] = None
    search: Optional[LayerObjectives] = None
    indexer: Optional[LayerObjectives] = None
    network: Optional[LayerObjectives] = None
    site: Optional[LayerObjectives] = None
    region: Optional[LayerObjectives] = None
    events: Optional[LayerObjectives] = None
    cache: Optional[LayerObjectives] = None


class DefaultLayers(Strict):
    """Every layer, with every objective."""

    web: DefaultLayerObjectives
    db: DefaultLayerObjectives
    kafka: DefaultLayerObjectives
    search: DefaultLayerObjectives
    indexer: DefaultLayerObjectives
    network: DefaultLayerObjectives
    site: DefaultLayerObjectives
    region: Optional[DefaultLayerObjectives] = None  # only a site with two regions (gameday.targets.regions)
    events: Optional[DefaultLayerObjectives] = None  # the outbox relay (a WordPress web tier: --web wordpress)
    cache: Optional[DefaultLayerObjectives] = None  # WordPress's object cache (--web wordpress)


class SloOverride(Strict):
    success_ratio: Optional[float] = Field(None, ge=0, le=1, description="per-second success ratio, 0..1")
    p95_ms: Optional[float] = Field(None, gt=0, le=600_000, description="per-second p95 latency in ms")
    window_s: Optional[int] = Field(None, ge=1, le=3600, description="good seconds in a row that end the RTO")


class Slo(SloOverride):
    success_ratio: float = Field(ge=0, le=1, description="per-second success ratio, 0..1")
    p95_ms: float = Field(gt=0, le=600_000, description="per-second p95 latency in ms")
    window_s: int = Field(ge=1, le=3600, description="good seconds in a row that end the RTO")


class Defaults(Strict):
    slo: Slo = Field(description="the site SLO every environment starts from")
    layers: DefaultLayers = Field(description="objectives of every layer")


class EnvironmentOverrides(Strict):
    slo: Optional[SloOverride] = None
    layers: Optional[Layers] = None


class TargetsFile(Strict):
    """``targets.yaml``: the one source of recovery objectives."""

    schema_: Literal["gameday.targets/v1"] = Field(alias="schema", description=f"always {SCHEMA}")
    defaults: Defaults = Field(description="objectives for every environment")
    environments: Optional[dict[str, EnvironmentOverrides]] = Field(None, description="overrides per environment name")
