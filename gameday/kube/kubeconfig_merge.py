"""The twin's admin context in the user's own kubeconfig, as ``kind`` and ``gcloud container clusters
get-credentials`` put theirs.

``merge(name, server, files)`` writes a cluster, a user and a context, all named ``gameday-<twin>``,
into the user's default kubeconfig (:func:`gameday.targets.kubernetes_config.kubeconfig_path`: the
first path of ``$KUBECONFIG`` if set, else ``~/.kube/config``, where the Kubernetes target looks too):
the API server's URL and CA, and the twin's admin client certificate and key, embedded as ``*-data``
(the same identity as ``<twin home>/kubeconfig``). :func:`gameday.kube.members.prepare` passes the
twin's server URL and PKI files in. Other entries are kept; ``current-context`` is set
only when the file had none. The file is written whole (temporary file + rename, mode 0600) under an
``fcntl`` lock. ``remove(name)`` takes the three entries out again (``sandbox down --wipe``), and
the file with them if nothing else is left in it::

    kubectl --context gameday-k8s-dev get pods -n gameday
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from ..errors import UsageError
from ..statedir import locked
from ..targets.kubernetes_config import kubeconfig_path
from .pki import PkiFiles

PREFIX = "gameday-"


def context_name(name: str) -> str:
    """``gameday-<twin>``: the context, cluster and user name of twin ``name``."""
    return f"{PREFIX}{name}"


def default_path() -> Path:
    """Where kubectl writes by default: ``$KUBECONFIG``'s first entry, else ``~/.kube/config`` (the
    Kubernetes target's rule for an environment that names no kubeconfig file)."""
    return kubeconfig_path({})


def _locked():
    return locked("kubeconfig.lock")


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UsageError(f"{path} is not valid YAML ({err.__class__.__name__}): not touching it",
                         hint="fix or move the file, then bring the twin up again") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a kubeconfig (its top level is not a mapping): not touching it")
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    target = path.resolve()  # a symlinked kubeconfig keeps its link
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.gameday.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(data, fh, default_flow_style=False, sort_keys=False)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(target)


def _put(entries: list[Any] | None, name: str, key: str, value: dict[str, Any]) -> list[Any]:
    out = [e for e in (entries or []) if not (isinstance(e, dict) and e.get("name") == name)]
    return out + [{"name": name, key: value}]


def _b64(path: Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def entries(twin_name: str, server: str, files: PkiFiles) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(cluster, user, context) of twin ``twin_name``'s admin identity (API server ``server``, its
    certificates in ``files``), data embedded."""
    cert, key = files.client("admin")
    name = context_name(twin_name)
    cluster = {"server": server, "certificate-authority-data": _b64(files.ca_cert)}
    user = {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}
    context = {"cluster": name, "user": name, "namespace": "gameday"}
    return cluster, user, context


def merge(twin_name: str, server: str, files: PkiFiles, path: Path | None = None) -> Path:
    """Put twin ``twin_name``'s context into ``path`` (default: :func:`default_path`); returns the file."""
    path = Path(path) if path else default_path()
    cluster, user, context = entries(twin_name, server, files)
    name = context_name(twin_name)
    with _locked():
        data = _load(path)
        data.setdefault("apiVersion", "v1")
        data.setdefault("kind", "Config")
        data.setdefault("preferences", {})
        data["clusters"] = _put(data.get("clusters"), name, "cluster", cluster)
        data["users"] = _put(data.get("users"), name, "user", user)
        data["contexts"] = _put(data.get("contexts"), name, "context", context)
        if not data.get("current-context"):
            data["current-context"] = name
        _save(path, data)
    return path


def _ours(data: dict[str, Any], name: str) -> bool:
    """The ``name`` entries point at a twin's API server (a loopback address), not something else."""
    for c in data.get("clusters") or []:
        if isinstance(c, dict) and c.get("name") == name:
            host = urlparse(str((c.get("cluster") or {}).get("server", ""))).hostname or ""
            return host.startswith("127.")
    return any(isinstance(c, dict) and c.get("name") == name for c in data.get("contexts") or [])


def remove(twin_name: str, path: Path | None = None) -> bool:
    """Take twin ``twin_name``'s cluster, user and context out of ``path``; True when it changed.
    A ``current-context`` that named it becomes empty, as ``kind delete cluster`` leaves it."""
    path = Path(path) if path else default_path()
    name = context_name(twin_name)
    if not path.exists():
        return False
    with _locked():
        try:
            data = _load(path)
        except UsageError:
            return False  # not a file we wrote into: leave it as it is
        if not _ours(data, name):
            return False
        for section in ("clusters", "users", "contexts"):
            if data.get(section):
                data[section] = [e for e in data[section] if not (isinstance(e, dict) and e.get("name") == name)]
        if data.get("current-context") == name:
            data["current-context"] = ""
        if _empty(data):
            path.unlink()  # nothing but what merge() put there: leave no file behind
        else:
            _save(path, data)
    return True


def _empty(data: dict[str, Any]) -> bool:
    defaults = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "",
                "clusters": [], "users": [], "contexts": []}
    return all(k in defaults and (v or type(defaults[k])()) == defaults[k] for k, v in data.items())
