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
      db:      {host: 10.20.0.5, port: 3306, database: wordpress,  # or namespace + selector for pods
                cloud_sql: {project: sps-staging, instance: sps-staging-db,   # backups, failover, PITR through
                            failover: ha, restore_instance: sps-staging-db-pitr}}  # the Cloud SQL Admin API
      indexer: {namespace: content, selector: app=content-indexer}   # optional: the Kafka consumers
      toxiproxy_api: http://toxiproxy.sps.svc:8474   # optional: network faults (a toxiproxy WordPress talks through)
    cloud_monitoring: {project: sps-staging, url_map: k8s2-um-..., forwarding_rule: k8s2-fs-...}

``validate`` checks shape (missing fields named with the file); ``preflight`` checks what can be
checked without touching the cluster: the kubeconfig exists and has the context.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..schema.base import Problem, Strict, check
from ..schema.environment import CloudMonitoring, KubernetesBlock

def validate(data: Any, source: str) -> dict[str, Any]:
    """The ``kubernetes:`` block as written, checked against
    :class:`gameday.schema.environment.KubernetesBlock`; one UsageError lists every problem."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: kubernetes is missing or not a mapping",
                         hint="a kind: kubernetes environment describes its cluster there; "
                              "see environments/gke-staging.example.yaml")
    check(_Kubernetes, {"kubernetes": data}, source, schema="environment")
    return dict(data)


def validate_cloud_monitoring(data: Any, source: str) -> dict[str, Any]:
    """The ``cloud_monitoring:`` block as written ({} when not configured), checked against
    :class:`gameday.schema.environment.CloudMonitoring`."""
    if data is None or data == {}:  # not configured (as_configuration() writes {} for it)
        return {}
    check(_CloudMonitoring, {"cloud_monitoring": data}, source, schema="environment")
    return dict(data)


class _Kubernetes(Strict):
    """The ``kubernetes:`` block alone (its problems carry the key path ``kubernetes.<...>``)."""

    kubernetes: KubernetesBlock

    @classmethod
    def cross_problems(cls, data: Any) -> list[Problem]:
        return KubernetesBlock.cross_problems(data.get("kubernetes")) if isinstance(data, dict) else []


class _CloudMonitoring(Strict):
    cloud_monitoring: CloudMonitoring


def kubeconfig_path(block: dict[str, Any]) -> Path:
    """The kubeconfig file: ``kubeconfig`` from the file, else $KUBECONFIG (first entry), else ~/.kube/config."""
    given = block.get("kubeconfig") or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or "~/.kube/config"
    return Path(os.path.expandvars(str(given))).expanduser()


def load_kubeconfig(path: Path) -> dict[str, Any]:
    """The kubeconfig as a mapping. Its errors name the file and the line/column, never its content:
    a kubeconfig holds bearer tokens and keys, and YAML's own messages quote the text around a fault."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"kubeconfig {path} is not readable ({type(err).__name__})",
                         hint="check its permissions and that it is a text file") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UsageError(f"kubeconfig {path} is not valid YAML{where}",
                         hint="fix that line (kubectl config view shows the file with secrets hidden)") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise UsageError(f"kubeconfig {path} is not a mapping (apiVersion, clusters, contexts, users)")
    return config


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
    config = load_kubeconfig(path)
    contexts = [c.get("name") for c in config.get("contexts") or [] if isinstance(c, dict)]
    if block["context"] not in contexts:
        raise UsageError(f"environment {env_name!r}: context {block['context']!r} is not in {path}",
                         hint=f"contexts there: {', '.join(map(str, contexts)) or 'none'}; fix kubernetes.context in {source}")
