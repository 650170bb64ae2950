"""The environment file (``environments/<name>.yaml``, a Chaos Toolkit var file) as models.

    EnvironmentFile       configuration.gameday_environment (+ secrets, which gameday does not read)
    EnvironmentModel      the gameday_environment mapping itself
    KubernetesBlock, CredentialRef, CloudMonitoring, LoadBlock, Limits   its blocks
    RegionsBlock          regions: its region, its standby environment, the front (gameday.schema.regions)
    CloudSqlInstance      kubernetes.db.cloud_sql: the database's Cloud SQL instance

:mod:`gameday.targets.environment` turns a checked model into its ``Environment``; the
``validate`` functions of :mod:`gameday.targets.credentials` and
:mod:`gameday.targets.kubernetes_config` check one block with these models.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .base import Problem, Strict
from .gcp_names import GCP_PROJECT, check_project
from .regions import RegionsBlock

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"  # as gameday.yamlfile.NAME: no '/', no '..'
SELECTOR_TERM = re.compile(r"^[A-Za-z0-9./_-]+(=|!=)[A-Za-z0-9._-]*$|^!?[A-Za-z0-9./_-]+$")
SELECTOR_FIX = "a label selector, e.g. strimzi.io/cluster=sps-events,strimzi.io/broker-role=true"
EXAMPLE = "see environments/gke-staging.example.yaml"


def check_url(value: str) -> str:
    """An http(s) URL with a host and no user:password (the message never repeats the URL)."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port out of range
    except ValueError:
        raise ValueError("is not a valid URL -> e.g. https://staging.sps.example.nhs.uk") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host -> e.g. https://staging.sps.example.nhs.uk")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("carries credentials (user:password@ in the URL); they are not echoed here -> "
                         "remove them from the URL; give credentials by reference under credentials:")
    del port
    return value


def check_selector(value: str) -> str:
    if not value or not all(SELECTOR_TERM.match(t.strip()) for t in value.split(",")):
        raise ValueError(f"is not a label selector -> {SELECTOR_FIX}")
    return value


class Limits(Strict):
    """Blast-radius caps and the emergency stop."""

    web_max_percent: float = Field(50, ge=0, le=100, description="share of web replicas one fault may take, 0..100")
    kafka_max_brokers: int = Field(2, ge=0, le=100, description="Kafka brokers down at once, a whole number")
    search_max_nodes: int = Field(1, ge=0, le=100, description="search nodes down at once, a whole number")
    emergency_error_ratio: float = Field(0.9, ge=0, le=1,
                                         description="the site's error ratio that aborts the experiment, 0..1")


class LoadBlock(Strict):
    """The game day's load: distributed Locust (a master waiting for ``workers`` external workers), and
    whether the site's address is behind a CDN (``through_cdn``: the load then sends the edge's rate)."""

    workers: int = Field(0, ge=0, le=100, description="external Locust workers, 0..100 (0: one local process)")
    master_bind: str = Field("0.0.0.0:5557", max_length=300, description="HOST:PORT the workers connect to, e.g. 0.0.0.0:5557")
    through_cdn: bool = Field(False, description="the site_url is behind the platform's CDN (Cloud CDN): the game day "
                                                 "drives the edge's modelled rate there, true or false")

    @field_validator("master_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT -> e.g. 0.0.0.0:5557")
        return value


class CloudMonitoring(Strict):
    """Cloud Monitoring: the SLO probes and the result export."""

    project: str = Field(min_length=1, max_length=100, description="the Google Cloud project id")
    url_map: str = Field(min_length=1, max_length=300,
                         description="the load balancer's url map (gcloud compute url-maps list)")
    forwarding_rule: Optional[str] = Field(None, max_length=300, description="the load balancer's forwarding rule")
    export: Optional[bool] = Field(None, description="export each game day's results as custom metrics")
    report_wait_s: Optional[float] = Field(None, ge=0, le=900, description="seconds the report waits for the "
                                                                           "load balancer's metrics, 0..900")


class CloudCdn(Strict):
    """Cloud CDN in front of the site: invalidated by the playbooks when the content changed underneath it."""

    project: Optional[str] = Field(None, min_length=1, max_length=100,
                                   description="the Google Cloud project id (default: cloud_monitoring.project)")
    url_map: Optional[str] = Field(None, min_length=1, max_length=300, description="the load balancer's url map "
                                   "(default: cloud_monitoring.url_map; gcloud compute url-maps list)")
    path: Optional[str] = Field(None, pattern=r"^/[^*\s]*\*?$", max_length=1024,
                                description="what to invalidate: a path, * only at its end (default /*: every page)")
    host: Optional[str] = Field(None, min_length=1, max_length=253, description="only this host's pages (default: all)")
    timeout_s: Optional[float] = Field(None, gt=0, le=600, description="seconds to wait for the invalidation "
                                                                       "to finish (default 240, at most 600: the "
                                                                       "playbook step's deadline)")


class CredentialRef(Strict):
    """Where one secret lives: exactly one of ``env``, ``secret`` (+ ``key``) or ``adc: true``."""

    env: Optional[str] = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
                               description="the environment variable that holds it")
    secret: Optional[str] = Field(None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                                  description="a Kubernetes secret: namespace/name with a key, "
                                              "e.g. {secret: search/es-elastic-user, key: elastic}")
    key: Optional[str] = Field(None, min_length=1, max_length=253, description="the key in the Kubernetes secret")
    username: Optional[str] = Field(None, max_length=253, description="the user name that goes with it")
    adc: Optional[Literal[True]] = Field(None, description="Application Default Credentials")

    @model_validator(mode="before")
    @classmethod
    def _one_reference(cls, data: Any) -> Any:
        hint = "use {env: VARIABLE}, {secret: namespace/name, key: KEY} or {adc: true}"
        if not isinstance(data, dict):
            raise ValueError(f"is a literal value; credentials are given by reference only -> {hint}")
        kinds = [k for k in ("env", "secret", "adc") if k in data]
        unknown = sorted(str(k) for k in data if k not in ("env", "secret", "adc", "key", "username"))
        if len(kinds) != 1 or unknown:
            raise ValueError("must have exactly one of env, secret, adc"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else "") + f" -> {hint}")
        if "secret" in data and not data.get("key"):
            raise ValueError("secret must be namespace/name with a key "
                             "-> e.g. {secret: search/sps-search-es-elastic-user, key: elastic}")
        return data


class CaRef(Strict):
    """A certificate authority to trust: exactly one of ``file`` or ``secret`` (+ ``key``)."""

    file: Optional[str] = Field(None, min_length=1, max_length=1000, description="a PEM file on this machine")
    secret: Optional[str] = Field(None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                                  description="a Kubernetes secret: namespace/name with a key, e.g. "
                                              "{secret: search/sps-search-es-http-certs-public, key: ca.crt}")
    key: Optional[str] = Field(None, min_length=1, max_length=253, description="the key in the Kubernetes secret")

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        hint = "use {secret: namespace/name, key: ca.crt} or {file: /path/to/ca.pem}"
        if not isinstance(data, dict) or ("file" in data) == ("secret" in data):
            raise ValueError(f"must have exactly one of file, secret -> {hint}")
        if "secret" in data and not data.get("key"):
            raise ValueError(f"secret needs a key -> {hint}")
        if "file" in data and "key" in data:
            raise ValueError(f"key goes with secret, not file -> {hint}")
        return data


class HealthCheck(Strict):
    """How a layer's members say they are healthy (an HTTP GET answering 200)."""

    path: str = Field("/readyz", pattern=r"^/[^\s]*$", max_length=500, description="the path, e.g. /readyz")
    port: int = Field(80, ge=1, le=65535, description="the members' port, e.g. 8000")
    scheme: Literal["http", "https"] = Field("http", description="http or https")


LAYER_NAMES = ("web", "kafka", "kafka-controllers", "search", "db", "indexer", "lb", "toxiproxy")
LayerName = Literal["web", "kafka", "kafka-controllers", "search", "db", "indexer", "lb", "toxiproxy"]


class WebLayer(Strict):
    namespace: str = Field(min_length=1, max_length=63, description="the namespace of the web Deployment")
    deployment: str = Field(min_length=1, max_length=253, description="the web Deployment")
    selector: str = Field(min_length=1, max_length=500, description=SELECTOR_FIX)

    @field_validator("selector")
    @classmethod
    def selectors(cls, value: str | None) -> str | None:
        return check_selector(value) if value is not None else value


class KafkaLayer(Strict):
    namespace: str = Field(min_length=1, max_length=63, description="the namespace of the Kafka cluster")
    cluster: str = Field(min_length=1, max_length=253, description="the Strimzi Kafka resource")
    brokers: str = Field(min_length=1, max_length=500, description=SELECTOR_FIX)
    controllers: str = Field(min_length=1, max_length=500, description=SELECTOR_FIX)
    bootstrap: str = Field(min_length=1, max_length=1000, pattern=r"^[^:/\s,]+:\d+(,[^:/\s,]+:\d+)*$",
                           description="host:port[,host:port...], e.g. sps-events-kafka-bootstrap.kafka.svc:9092")
    tls: Optional[Literal["disabled", "verify-identity", "verify-ca"]] = Field(
        None, description="how gameday's Kafka clients reach bootstrap (gameday.kafka_client): disabled (the default: "
                          "Strimzi's plain listener, 9092), verify-identity (its tls listener, 9093: each broker's "
                          "certificate verified against trust: - Strimzi's <cluster>-cluster-ca-cert - and its name) "
                          "or verify-ca (the CA only)")

    @field_validator("brokers", "controllers")
    @classmethod
    def selectors(cls, value: str) -> str:
        return check_selector(value)


class SnapshotRepository(Strict):
    """A snapshot repository as ``PUT _snapshot/<name>`` takes it, e.g. ``{type: gcs, settings: {bucket:
    sps-staging-search-snapshots, base_path: search}}`` (ECK on GKE) or ``{type: fs, settings: {location:
    /mnt/snapshots}}`` (a shared filesystem every node mounts, in its ``path.repo``)."""

    type: Literal["gcs", "s3", "azure", "fs", "url"] = Field(description="the repository type")
    settings: dict[str, str | int | bool] = Field(description="its settings (no credentials: those are in the "
                                                              "cluster's keystore)")

    @field_validator("settings")
    @classmethod
    def where(cls, value: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
        if not ({"bucket", "location", "container", "url"} & set(value)):
            raise ValueError("settings need where the snapshots are: bucket (gcs, s3), container (azure), "
                             "location (fs) or url (url)")
        return value


class SearchLayer(Strict):
    namespace: str = Field(min_length=1, max_length=63, description="the namespace of the search cluster")
    cluster: str = Field(min_length=1, max_length=253, description="the ECK Elasticsearch resource")
    nodes: str = Field(min_length=1, max_length=500, description=SELECTOR_FIX)
    url: str = Field(min_length=1, max_length=500, description="https://... of the search cluster")
    snapshot_repository: SnapshotRepository | None = Field(
        None, description="where the cluster's snapshots live, as PUT _snapshot/<name> takes it: the search "
                          "playbook registers it on a cluster rebuilt from nothing (the cluster-loss drill)")

    @field_validator("nodes")
    @classmethod
    def selectors(cls, value: str) -> str:
        return check_selector(value)

    @field_validator("url")
    @classmethod
    def urls(cls, value: str) -> str:
        return check_url(value)


CLOUD_SQL_INSTANCE = r"^[a-z][a-z0-9-]{0,97}$"
INSTANCE_FIX = "lowercase letters, digits and hyphens, starting with a letter, at most 98 characters, e.g. sps-staging-db"


def check_instance_name(value: str) -> str:
    """A Cloud SQL instance name as the Admin API takes it; a connection name or a resource path
    (the usual slips) is named as such."""
    if value.count(":") == 2:
        project, _, instance = value.split(":")
        raise ValueError(f"is a connection name (project:region:instance), not an instance name -> give the "
                         f"instance alone ({instance or 'INSTANCE'}) and its project in project: ({project or 'PROJECT'})")
    if "/" in value:
        raise ValueError(f"is a resource path, not an instance name -> give the last part alone; {INSTANCE_FIX}")
    if not re.match(CLOUD_SQL_INSTANCE, value):
        raise ValueError(f"is not a Cloud SQL instance name -> {INSTANCE_FIX}")
    return value


class CloudSqlInstance(Strict):
    """A Cloud SQL instance: backups, failover, replica promotion and point-in-time restore go through
    the Cloud SQL Admin API (gameday.gcp.cloudsql)."""

    project: str = Field(min_length=1, max_length=100, json_schema_extra={"pattern": GCP_PROJECT},
                         description="the Google Cloud project id of the instance, e.g. sps-staging")
    instance: str = Field(min_length=1, max_length=98, json_schema_extra={"pattern": CLOUD_SQL_INSTANCE},
                          description="the primary's instance name (not its connection name), e.g. sps-staging-db")
    failover: Literal["ha", "replica"] = Field(
        "ha", description="how a lost primary is replaced: ha (failover of a REGIONAL instance to its standby; "
                          "same name and address) or replica (the read replica named in replica is promoted; "
                          "a new address the site must be pointed at)")
    replica: Optional[str] = Field(None, min_length=1, max_length=98, json_schema_extra={"pattern": CLOUD_SQL_INSTANCE},
                                   description="with failover: replica, the read replica of the instance to promote")
    restore_instance: Optional[str] = Field(
        None, min_length=1, max_length=98, json_schema_extra={"pattern": CLOUD_SQL_INSTANCE},
        description="the new instance a point-in-time restore clones into, e.g. sps-staging-db-pitr (it must not exist)")
    operation_timeout_s: float = Field(3600, ge=1, le=86400,
                                       description="seconds gameday waits for one Cloud SQL operation, 1..86400")
    poll_s: float = Field(5, ge=0.05, le=60, description="seconds between two looks at a running operation, 0.05..60")

    @field_validator("instance", "replica", "restore_instance")
    @classmethod
    def _instance(cls, value: str | None) -> str | None:
        return check_instance_name(value) if value is not None else value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        return check_project(value)

    @staticmethod
    def problems(data: Any, path: str) -> list[Problem]:
        """Between keys of ``cloud_sql`` as written: the replica ``failover`` needs, names that collide."""
        if not isinstance(data, dict):
            return []
        out = []
        failover, replica = data.get("failover", "ha"), data.get("replica")
        if failover == "replica" and not replica:
            out.append(Problem(f"{path}.replica is missing: failover: replica promotes the read replica named there",
                               "name the read replica (gcloud sql instances list), or say failover: ha"))
        if failover == "ha" and replica is not None:
            out.append(Problem(f"{path}.replica is used only with failover: replica",
                               "remove it, or say failover: replica to promote it when the primary is lost"))
        names = {key: data.get(key) for key in ("instance", "replica", "restore_instance")
                 if isinstance(data.get(key), str)}
        for one, other in (("replica", "instance"), ("restore_instance", "instance"), ("restore_instance", "replica")):
            if one in names and names[one] == names.get(other):
                out.append(Problem(f"{path}.{one} is the same instance as {path}.{other} ({names[one]!r})",
                                   f"{one} names another instance"))
        return out


class DbLayer(Strict):
    host: str = Field(min_length=1, max_length=253, description="the database host (Cloud SQL address)")
    port: int = Field(ge=1, le=65535, description="the database port, e.g. 3306")
    database: Optional[str] = Field(None, max_length=64, description="the database name")
    namespace: Optional[str] = Field(None, max_length=63, description="with selector: database pods in the cluster")
    selector: Optional[str] = Field(None, max_length=500, description=SELECTOR_FIX)
    cloud_sql: Optional[CloudSqlInstance] = Field(None, description="the database is this Cloud SQL instance: "
                                                  "backups, failover and point-in-time restore through its Admin API")
    tls: Optional[Literal["verify-identity", "verify-ca", "disabled"]] = Field(
        None, description="how gameday's connections to the database use TLS (gameday.db_client): verify-identity "
                          "(the default: the certificate verified against trust: and the system's roots, and its name "
                          "against host), verify-ca (not its name: Cloud SQL's certificates name the instance, not its "
                          "address; trust its server CA) or disabled (a connection already encrypted on its way: the "
                          "Cloud SQL Auth Proxy on localhost)")
    content: Optional[Literal["articles-table", "wordpress"]] = Field(
        None, description="where the site's content lives (gameday.content): wordpress (the default: WordPress's "
                          "wp_posts and wp_postmeta, read as they are; gameday makes no view or table in the database) "
                          "or articles-table (an articles table: the twin's Python site)")

    @field_validator("selector")
    @classmethod
    def selectors(cls, value: str | None) -> str | None:
        return check_selector(value) if value is not None else value


class IndexerLayer(Strict):
    namespace: str = Field(min_length=1, max_length=63, description="the namespace of the indexer (Kafka consumers)")
    selector: str = Field(min_length=1, max_length=500, description=SELECTOR_FIX)
    deployment: Optional[str] = Field(None, max_length=253, description="its Deployment")

    @field_validator("selector")
    @classmethod
    def selectors(cls, value: str | None) -> str | None:
        return check_selector(value) if value is not None else value


class ObjectCacheLayer(Strict):
    """The site's object cache outside the cluster (Memorystore for Redis), emptied by the playbooks'
    flush-site-caches step; its AUTH string is credentials.object_cache."""

    host: str = Field(min_length=1, max_length=253, description="its address or name (gcloud redis instances describe: "
                                                                 "host), as its TLS certificate names it")
    port: int = Field(6379, ge=1, le=65535, description="its port (Memorystore: 6379, or 6378 with in-transit "
                                                        "encryption)")
    tls: bool = Field(False, description="it speaks TLS (Memorystore's in-transit encryption): its CA under trust:")
    name: Optional[str] = Field(None, min_length=1, max_length=100, description="how the step names it "
                                                                               "(default: its host)")


class KubernetesBlock(Strict):
    """How to reach a GKE (or the twin's) cluster and where each layer lives in it."""

    context: Optional[str] = Field(None, min_length=1, max_length=253,
                                   description="a context of your kubeconfig (kubectl config get-contexts)")
    kubeconfig: Optional[str] = Field(None, min_length=1, max_length=1000, description="the kubeconfig file")
    in_cluster: Optional[bool] = Field(None, description="true inside a pod (the CronJob): use its service account")
    pod_disruption_budgets: Optional[Literal["respect", "ignore"]] = Field(
        None, description="respect (the default): evictions honour PodDisruptionBudgets")
    toxiproxy_api: Optional[str] = Field(None, max_length=500, description="the URL of a toxiproxy API, "
                                                                          "e.g. http://toxiproxy.sps.svc:8474")
    state_namespace: Optional[str] = Field(
        None, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
        description="where gameday keeps the target's Lease and undo records (default gameday: deploy/'s "
                    "namespace, whose gameday-state Role grants exactly those)")
    layers: Optional[dict[LayerName, Literal["pods", "outside"]]] = Field(
        None, description="where each layer runs: pods (found by its selector here) or outside (reached "
                          "directly, e.g. Cloud SQL, the cloud load balancer); a layer left out is pods when it "
                          "has a selector")
    web: WebLayer
    kafka: KafkaLayer
    search: SearchLayer
    db: Optional[DbLayer] = None
    indexer: Optional[IndexerLayer] = None
    object_cache: Optional[ObjectCacheLayer] = Field(None, description="the site's object cache (Memorystore): "
                                                     "emptied after a restore, a failover or a promotion")

    @field_validator("toxiproxy_api")
    @classmethod
    def urls(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be the URL of a toxiproxy API -> e.g. http://toxiproxy.sps.svc:8474 "
                             "(the proxy between WordPress and its dependencies)")
        return check_url(value) if value is not None else value

    @classmethod
    def cross_problems(cls, data: Any, path: str = "kubernetes") -> list[Problem]:
        if not isinstance(data, dict):
            return []
        out = []
        if data.get("in_cluster") is not True and not data.get("context"):
            out.append(Problem(f"{path}.context is missing", "name a context of your kubeconfig "
                               "(kubectl config get-contexts), or set in_cluster: true"))
        out += cls.layer_problems(data, path)
        for layer in ("db", "indexer"):
            block = data.get(layer)
            if isinstance(block, dict) and layer == "db" and (("namespace" in block) != ("selector" in block)):
                out.append(Problem(f"{path}.{layer}: pods in the cluster need both namespace and selector",
                                   f"e.g. namespace: wordpress, selector: app.kubernetes.io/name=mariadb; "
                                   f"leave both out when the {layer} is not in the cluster"))
        db = data.get("db")
        if isinstance(db, dict) and "cloud_sql" in db:
            out += CloudSqlInstance.problems(db["cloud_sql"], f"{path}.db.cloud_sql")
            layers = data.get("layers")
            if "selector" in db or "namespace" in db or (isinstance(layers, dict) and layers.get("db") == "pods"):
                out.append(Problem(f"{path}.db.cloud_sql names a Cloud SQL instance, but the database is also given "
                                   "as pods in the cluster", f"remove {path}.db.namespace and .selector (and say "
                                   f"layers.db: outside), or remove {path}.db.cloud_sql"))
        return out


    @staticmethod
    def layer_problems(data: dict[str, Any], path: str) -> list[Problem]:
        """``layers:`` agrees with the selectors: a pods layer has one, an outside layer has none."""
        declared = data.get("layers")
        if not isinstance(declared, dict):
            return []
        out = []
        selectors = {"web": ("web", "selector"), "kafka": ("kafka", "brokers"), "kafka-controllers": ("kafka", "controllers"),
                     "search": ("search", "nodes"), "db": ("db", "selector"), "indexer": ("indexer", "selector")}
        for layer, where in declared.items():
            section, key = selectors.get(layer, (None, None))
            has = bool(section and isinstance(data.get(section), dict) and data[section].get(key))
            if where == "pods" and not has:
                out.append(Problem(f"{path}.layers.{layer} is pods, but {path}.{section or layer} has no selector",
                                   f"add {path}.{section or layer}.{key or 'selector'}, or say outside"))
            if where == "outside" and has:
                out.append(Problem(f"{path}.layers.{layer} is outside, but {path}.{section}.{key} selects pods",
                                   "remove the selector, or say pods"))
        return out


class EnvironmentModel(Strict):
    """The ``gameday_environment`` mapping: how to reach a target, and what it allows."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="the environment's name "
                      "(letters, digits, '-', '_', single dots)")
    kind: Literal["sandbox", "kubernetes"] = Field(description="sandbox (the local twin) or kubernetes (GKE)")
    allowed: bool = Field(description="the allow-list: nothing runs against a target without allowed: true")
    production: bool = Field(False, description="true: every destructive command also needs --i-mean-production")
    description: Optional[str] = Field(None, max_length=2000, description="one line about the target")
    sandbox: str = Field("default", pattern=NAME_PATTERN, max_length=100,
                         description="which twin (gameday sandbox --name)")
    net: Optional[int] = Field(None, ge=0, le=255, description="the twin's loopback network 127.<net>.x.y, 0..255")
    site_url: Optional[str] = Field(None, max_length=500, description="the site's public URL, through the load "
                                                                      "balancer (no user:password in it)")
    limits: Optional[Limits] = Field(None, description="blast-radius caps")
    kubernetes: Optional[KubernetesBlock] = Field(None, description="kind kubernetes: the cluster")
    credentials: Optional[dict[str, CredentialRef]] = Field(None, description="references to secrets, never values")
    trust: Optional[list[CaRef]] = Field(None, max_length=20, description="certificate authorities to trust besides the "
                                         "system's, for the site and search (e.g. ECK's <cluster>-es-http-certs-public)")
    health: Optional[dict[LayerName, HealthCheck]] = Field(None, description="per layer: how its members say they are "
                                                           "healthy (path, port, scheme); defaults fit the platform")
    cloud_monitoring: Optional[CloudMonitoring] = Field(None, description="Cloud Monitoring probes and export")
    cloud_cdn: Optional[CloudCdn] = Field(None, description="Cloud CDN in front of the site: the playbooks invalidate "
                                          "it after a restore, a failover or a region promotion")
    load: Optional[LoadBlock] = Field(None, description="distributed Locust")
    regions: Optional[RegionsBlock] = Field(None, description="this environment's region, its standby region "
                                            "(another environment) and the front that sends readers to one of them")

    @field_validator("kubernetes", "cloud_monitoring", "cloud_cdn", "load", "credentials", "limits", "health", "regions",
                     mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == {} else value  # as_configuration() writes {} for a block not given

    @field_validator("site_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value) if value is not None else value

    @classmethod
    def cross_problems(cls, data: Any) -> list[Problem]:
        if not isinstance(data, dict):
            return []
        out = []
        if data.get("kind") == "kubernetes":
            if not data.get("kubernetes"):
                out.append(Problem("kubernetes is missing", "a kind: kubernetes environment describes its cluster "
                                   f"there; {EXAMPLE}"))
            if not data.get("site_url"):
                out.append(Problem("site_url is missing", "the site's public URL, through the load balancer"))
        if data.get("kubernetes"):
            out += KubernetesBlock.cross_problems(data["kubernetes"])
        if data.get("regions"):
            out += RegionsBlock.problems(data["regions"], data)
        out += cls.publisher_problems(data.get("credentials"))
        return out

    @staticmethod
    def publisher_problems(credentials: Any) -> list[Problem]:
        """``credentials.publisher`` (optional: the site's publisher, sent as HTTP basic auth with every
        publish) is a Kubernetes secret or an environment variable, with the ``username`` it goes with."""
        ref = credentials.get("publisher") if isinstance(credentials, dict) else None
        if not isinstance(ref, dict):
            return []
        fix = ("e.g. {secret: wordpress/sps-publisher, key: password, username: publisher} or "
               "{env: SPS_PUBLISHER_PASSWORD, username: publisher}")
        out = []
        if "adc" in ref:
            out.append(Problem("credentials.publisher is adc, but a publish sends a user name and password "
                               "(HTTP basic auth)", fix))
        elif not ref.get("username"):
            out.append(Problem("credentials.publisher has no username (the site's publisher, sent with its "
                               "password as HTTP basic auth)", fix))
        return out


class Configuration(Strict):
    model_config = Strict.model_config | {"extra": "allow"}  # other Chaos Toolkit configuration may sit beside it
    gameday_environment: EnvironmentModel = Field(description="the target: see gameday.targets.environment")


class EnvironmentFile(Strict):
    """``environments/<name>.yaml``: a Chaos Toolkit var file (``chaos run --var-file``)."""

    configuration: Configuration = Field(description="Chaos Toolkit configuration; gameday reads gameday_environment")
    secrets: Optional[dict[str, Any]] = Field(None, description="Chaos Toolkit secrets (gameday does not read them)")

    @classmethod
    def cross_problems(cls, data: Any) -> list[Problem]:
        if not isinstance(data, dict) or not isinstance(data.get("configuration"), dict):
            return []
        inner = data["configuration"].get("gameday_environment")
        prefix = "configuration.gameday_environment."
        return [Problem(prefix + p.text, p.fix) for p in EnvironmentModel.cross_problems(inner)]
