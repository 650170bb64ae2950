"""A supervisor member as a Kubernetes container (its command, environment, secrets and readiness
check), and the names the twin's Kubernetes objects share. Used by :mod:`.workloads` (the layers'
StatefulSets and Deployments) and :mod:`.schedules` (the scheduled jobs' Deployments)::

    container_from(member, name="web", secret=DB_SECRET)   # the member's argv at $(POD_IP), env, probe
    probe_from(member.readiness, "http")                  # its readiness check as a probe
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlparse

from ..sandbox.readiness import failure_threshold
from ..sandbox.spec import MemberSpec

NAMESPACE = "gameday"
FIELD_MANAGER = "gameday-sandbox"
NAME_LABEL = "app.kubernetes.io/name"
PART_OF = {"app.kubernetes.io/part-of": "gameday-sandbox"}
SELECTOR_ANNOTATION = "sandbox.gameday.io/selector"  # a selectorless Service's pods (our EndpointSlice controller)
DB_SECRET = "sandbox-db"          # GAMEDAY_DB_PASSWORD (what the pods read), username, password
SEARCH_SECRET = "search-es-elastic-user"  # key `elastic`: the search password, named as ECK names it
CA_SECRET = "twin-ca"             # key `ca.crt`: the twin CA (as ECK's <cluster>-es-http-certs-public)
REDIS_SECRET = "redis-auth"       # key `password`: the object cache's AUTH string (Memorystore's, WordPress reads it)
APPLY_TIMEOUT = 240.0


# ---- translation of a supervisor member into a container --------------------------------------------

# Secret variables a member's env files hold -> the Secret and key its pods read them from. The search
# password comes from ECK's Secret, the object cache's from its own; every other key from the database's
# (DB_SECRET, under its own name).
SECRET_REFS = {"GAMEDAY_SEARCH_PASSWORD": (SEARCH_SECRET, "elastic"), "GAMEDAY_REDIS_PASSWORD": (REDIS_SECRET, "password")}
PROBE_PASSWORD_ENV = "GAMEDAY_SEARCH_PASSWORD"  # what an authenticated exec probe reads its password from


def _secret_ref(key: str) -> dict[str, str]:
    """``secretKeyRef`` of a secret variable: ``{"name": <Secret>, "key": <key>}``."""
    name, ref_key = SECRET_REFS.get(key, (DB_SECRET, key))
    return {"name": name, "key": ref_key}


POD_FAILURE_THRESHOLD = 2  # a pod's probe, unless its member's readiness asks more (gameday.sandbox.readiness)


def probe_from(readiness: dict[str, Any], port_name: str) -> dict[str, Any] | None:
    """The supervisor's readiness check as a Kubernetes probe (None for ``alive``). An ``https`` check
    with basic auth (the search nodes') becomes an exec probe, as ECK's readiness script is: the
    password from the container's environment (:data:`PROBE_PASSWORD_ENV`, a Secret), never the spec."""
    kind = readiness.get("type")
    fails = max(POD_FAILURE_THRESHOLD, failure_threshold(readiness))  # the member's, if it asks more
    if kind == "http":
        return {"httpGet": {"path": urlparse(readiness["url"]).path or "/", "port": port_name},
                "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": fails}
    if kind == "https" and readiness.get("auth"):
        url = urlparse(readiness["url"])
        return {"exec": {"command": [sys.executable, "-m", "gameday.sandbox.readiness", "--port", str(url.port or 443),
                                     "--path", url.path or "/", "--ca", readiness["ca"],
                                     "--user", readiness["auth"]["user"], "--password-env", PROBE_PASSWORD_ENV]},
                "periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": fails}
    if kind == "https":
        return {"httpGet": {"path": urlparse(readiness["url"]).path or "/", "port": port_name, "scheme": "HTTPS"},
                "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": fails}
    if kind == "tcp":
        return {"tcpSocket": {"port": port_name}, "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": fails}
    return None


def secret_keys(env_files: list[str]) -> dict[str, str]:
    """KEY=VALUE lines of a member's env files (the twin's secrets), for a Secret."""
    out = {}
    for path in env_files:
        with open(path) as fh:
            for line in fh:
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    out[key.strip()] = value.strip()
    return out


def container_from(member: MemberSpec, *, name: str, secret: str | None) -> dict[str, Any]:
    """A process-backed container doing what ``member`` does, at the pod's address."""
    address = member.address or ""
    argv = [a.replace(address, "$(POD_IP)") if address else a for a in member.argv]
    env: list[dict[str, Any]] = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    env += [{"name": k, "value": v} for k, v in sorted(member.env.items())]
    if secret:
        env += [{"name": k, "valueFrom": {"secretKeyRef": _secret_ref(k)}}
                for k in sorted(secret_keys(member.env_files))]
    ports = [{"name": port_name, "containerPort": port} for port_name, port in member.ports.items()]
    container: dict[str, Any] = {"name": name, "image": "host-process", "command": argv[:1], "args": argv[1:],
                                 "env": env, "ports": ports}
    probe = probe_from(member.readiness, next(iter(member.ports), ""))
    if probe:
        container["readinessProbe"] = probe
    return container
