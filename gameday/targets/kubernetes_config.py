"""The ``kubernetes:`` and ``cloud_monitoring:`` blocks of a GKE environment file, validated.

::

    kubernetes:
      context: gke_sps-staging_europe-west2_sps        # a context in the kubeconfig
      kubeconfig: ~/.kube/config                        # optional; or in_cluster: true (the CronJob)
      web:    {namespace: wordpress, deployment: wordpress, selector: app.kubernetes.io/name=wordpress}
      kafka:  {namespace: kafka, cluster: sps-events,                       # Strimzi `Kafka` resource
               brokers: strimzi.io/cluster=sps-events,strimzi.io/broker-role=true,
               controllers: strimzi.io/cluster=sps-events,strimzi.io/controller-role=true,
               bootstrap: sps-events-kafka-bootstrap.kafka.svc:9092}
      search: {namespace: search, cluster: sps-search,                      # ECK `Elasticsearch` resource
               nodes: elasticsearch.k8s.elastic.co/cluster-name=sps-search,
               url: https://sps-search-es-http.search.svc:9200}
      db:      {host: 10.20.0.5, port: 3306}          # Cloud SQL; or add namespace + selector for pods
      indexer: {namespace: content, selector: app=content-indexer}   # optional: the Kafka consumers
      toxiproxy_api: http://toxiproxy.sps.svc:8474   # optional: network faults (a toxiproxy WordPress talks through)
    cloud_monitoring: {project: sps-staging, url_map: k8s2-um-..., forwarding_rule: k8s2-fs-...}

``validate`` checks shape (missing fields named with the file); ``preflight`` checks what can be
checked without touching the cluster: the kubeconfig exists and has the context.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..yamlfile import unknown_key

LAYERS = {
    "web": {"required": ("namespace", "deployment", "selector"), "optional": ()},
    "kafka": {"required": ("namespace", "cluster", "brokers", "controllers", "bootstrap"), "optional": ()},
    "search": {"required": ("namespace", "cluster", "nodes", "url"), "optional": ()},
    "db": {"required": ("host", "port"), "optional": ("database", "namespace", "selector")},
    "indexer": {"required": ("namespace", "selector"), "optional": ("deployment",)},
}
OPTIONAL_LAYERS = ("db", "indexer")  # may live outside the cluster (Cloud SQL) or not be named
TOP = {"context", "kubeconfig", "in_cluster", "pod_disruption_budgets", "toxiproxy_api"} | set(LAYERS)
CLOUD_MONITORING = {"project", "url_map", "forwarding_rule", "export", "report_wait_s"}
SELECTOR_TERM = re.compile(r"^[A-Za-z0-9./_-]+(=|!=)[A-Za-z0-9._-]*$|^!?[A-Za-z0-9./_-]+$")


def _selector(value: Any, where: str) -> None:
    terms = str(value).split(",")
    if not value or not all(SELECTOR_TERM.match(t.strip()) for t in terms):
        raise UsageError(f"{where}: {value!r} is not a label selector",
                         hint="e.g. strimzi.io/cluster=sps-events,strimzi.io/broker-role=true")


def validate(data: Any, source: str) -> dict[str, Any]:
    where = f"{source}: kubernetes"
    if not isinstance(data, dict):
        raise UsageError(f"{where} is missing or not a mapping",
                         hint="a kind: kubernetes environment describes its cluster there; "
                              "see environments/gke-staging.example.yaml")
    for key in data:
        if key not in TOP:
            raise unknown_key(key, TOP, where)
    if data.get("in_cluster") is not True and not data.get("context"):
        raise UsageError(f"{where}.context is missing",
                         hint="name a context of your kubeconfig (kubectl config get-contexts), or set in_cluster: true")
    for layer, spec in LAYERS.items():
        if layer not in data:
            if layer in OPTIONAL_LAYERS:
                continue  # the database may live outside the cluster (Cloud SQL)
            raise UsageError(f"{where}.{layer} is missing", hint=f"it needs {', '.join(spec['required'])}")
        block = data[layer]
        if not isinstance(block, dict):
            raise UsageError(f"{where}.{layer} must be a mapping with {', '.join(spec['required'])}")
        for key in block:
            if key not in spec["required"] + spec["optional"]:
                raise unknown_key(key, set(spec["required"] + spec["optional"]), f"{where}.{layer}")
        for key in spec["required"]:
            if block.get(key) in (None, ""):
                raise UsageError(f"{where}.{layer}.{key} is missing", hint="see environments/gke-staging.example.yaml")
    _selector(data["web"]["selector"], f"{where}.web.selector")
    _selector(data["kafka"]["brokers"], f"{where}.kafka.brokers")
    _selector(data["kafka"]["controllers"], f"{where}.kafka.controllers")
    _selector(data["search"]["nodes"], f"{where}.search.nodes")
    for layer in OPTIONAL_LAYERS:
        block = data.get(layer) or {}
        if block.get("selector") is not None or block.get("namespace") is not None:
            if not block.get("selector") or not block.get("namespace"):
                raise UsageError(f"{where}.{layer}: pods in the cluster need both namespace and selector",
                                 hint=f"e.g. namespace: wordpress, selector: app.kubernetes.io/name=mariadb; "
                                      f"leave both out when the {layer} is not in the cluster")
            _selector(block["selector"], f"{where}.{layer}.selector")
    if not re.match(r"^[^:/\s]+:\d+(,[^:/\s]+:\d+)*$", str(data["kafka"]["bootstrap"])):
        raise UsageError(f"{where}.kafka.bootstrap must be host:port[,host:port...], not {data['kafka']['bootstrap']!r}")
    if not str(data["search"]["url"]).startswith(("http://", "https://")):
        raise UsageError(f"{where}.search.url must start with http:// or https://")
    if "toxiproxy_api" in data and not str(data["toxiproxy_api"]).startswith(("http://", "https://")):
        raise UsageError(f"{where}.toxiproxy_api must be the URL of a toxiproxy API, not {data['toxiproxy_api']!r}",
                         hint="e.g. http://toxiproxy.sps.svc:8474 (the proxy between WordPress and its dependencies)")
    if "pod_disruption_budgets" in data and data["pod_disruption_budgets"] not in ("respect", "ignore"):
        raise UsageError(f"{where}.pod_disruption_budgets must be respect (the default) or ignore")
    return dict(data)


def validate_cloud_monitoring(data: Any, source: str) -> dict[str, Any]:
    where = f"{source}: cloud_monitoring"
    if data is None or data == {}:  # not configured (as_configuration() writes {} for it)
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping (project, url_map[, forwarding_rule, export])")
    for key in data:
        if key not in CLOUD_MONITORING:
            raise unknown_key(key, CLOUD_MONITORING, where)
    for key in ("project", "url_map"):
        if not data.get(key):
            raise UsageError(f"{where}.{key} is missing",
                             hint="the project id and the load balancer's url map (gcloud compute url-maps list)")
    if "export" in data and not isinstance(data["export"], bool):
        raise UsageError(f"{where}.export must be true or false")
    wait = data.get("report_wait_s", 0)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 900:
        raise UsageError(f"{where}.report_wait_s must be seconds from 0 to 900, not {wait!r}",
                         hint="how long the report waits for the load balancer's metrics (default 300)")
    return dict(data)


def kubeconfig_path(block: dict[str, Any]) -> Path:
    """The kubeconfig file: ``kubeconfig`` from the file, else $KUBECONFIG (first entry), else ~/.kube/config."""
    given = block.get("kubeconfig") or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or "~/.kube/config"
    return Path(os.path.expandvars(str(given))).expanduser()


def preflight(block: dict[str, Any], env_name: str, source: str) -> None:
    """What can be known without touching the cluster: the kubeconfig is there and has the context
    (or, in a pod, the service account token is mounted)."""
    if block.get("in_cluster"):
        token = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
        if not token.is_file() or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise UsageError(f"environment {env_name!r} says in_cluster: true, but this is not a Kubernetes pod "
                             "with a service account token", hint=f"set kubernetes.context in {source} to run from outside")
        return
    path = kubeconfig_path(block)
    if not path.is_file():
        raise UsageError(f"environment {env_name!r}: no kubeconfig at {path}",
                         hint="get one with `gcloud container clusters get-credentials CLUSTER --region REGION`, "
                              "or set kubernetes.kubeconfig / $KUBECONFIG")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"kubeconfig {path} is not readable YAML ({err})") from None
    contexts = [c.get("name") for c in config.get("contexts") or [] if isinstance(c, dict)]
    if block["context"] not in contexts:
        raise UsageError(f"environment {env_name!r}: context {block['context']!r} is not in {path}",
                         hint=f"contexts there: {', '.join(map(str, contexts)) or 'none'}; fix kubernetes.context in {source}")
