"""A pod's volumes as the kubelet makes them, for containers that run as host processes.

Each volume becomes a host directory (or a file's directory) that :mod:`.nsinit` bind-mounts at the
container's ``mountPath`` in the container's own mount namespace; nothing is mounted on the host::

    vols = PodVolumes(pod, root=Path(".../volumes/<ns>_<pod>_<uid>"), cluster=cluster)
    vols.setup()                      # raises VolumeError (retried by the pod runner) while a source is missing
    vols.mounts(container_spec, env) # [Mount(source, target, read_only), ...]
    vols.refresh()                    # a projected service-account token near its expiry is requested again
    vols.teardown()                   # the pod is gone: its emptyDirs, secrets and tokens go too

Supported: ``emptyDir`` (0777, the pod's), ``secret`` and ``configMap`` (items, defaultMode, optional),
``projected`` (serviceAccountToken through the TokenRequest API, bound to the pod; configMap; secret;
downwardAPI), ``downwardAPI``, ``persistentVolumeClaim`` (the bound PersistentVolume's ``hostPath`` or
``local`` path) and ``hostPath`` (with its ``type`` checks). ``fsGroup`` is applied as the kubelet does:
the volume's group becomes it, group read (write for writable volumes) and setgid on directories, for
every kind but ``hostPath``; a projected token is ``0600`` and owned by the containers' ``runAsUser`` when
they all share one. Secret and ConfigMap contents are read when the pod starts (no resync); tokens are
refreshed at 80% of their lifetime. Everything under ``root`` is the agent's (0700 root): a host user
cannot read a pod's secrets, the container reaches them only through its own mount.
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

DEFAULT_MODE = 0o644          # secret, configMap, projected and downwardAPI files (420)
EMPTY_DIR_MODE = 0o777        # as the kubelet makes an emptyDir
TOKEN_REFRESH_AT = 0.8        # share of a token's lifetime after which it is requested again
TOKEN_MAX_AGE = 24 * 3600.0   # ... or after a day, whichever comes first (the kubelet's rule)
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known variables are replaced, ``$$`` is a literal ``$``,
    unknown references stay as written. Here for ``subPathExpr``; :mod:`.pods` uses it for a
    container's env, command and args."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR.sub(sub, text)


class VolumeError(Exception):
    """A volume cannot be made yet (a missing Secret, an unbound claim): the pod waits and retries."""


class Cluster(Protocol):
    """What the volumes read from the API server (the node agent implements it)."""

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None: ...

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None: ...

    def token(self, namespace: str, service_account: str, *, audiences: list[str] | None, expiration_s: int,
              pod_name: str, pod_uid: str) -> tuple[str, float]: ...

    def claim_path(self, namespace: str, claim: str) -> tuple[str, bool]: ...


@dataclass(frozen=True)
class Mount:
    """One bind mount into a container's mount namespace."""

    source: str
    target: str
    read_only: bool

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "read_only": self.read_only}


@dataclass
class _Token:
    path: Path
    source: dict[str, Any]
    issued: float = 0.0
    expires: float = 0.0
    value: str | None = None  # held only between the TokenRequest and the file's write


def safe_relative(path: str) -> PurePosixPath:
    """An item's ``path`` inside its volume: relative, no ``..`` (the API server checks too)."""
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts:
        raise VolumeError(f"volume item path {path!r} must be relative and must not contain '..'")
    return rel


def project_items(data: dict[str, bytes], items: list[dict[str, Any]] | None, default_mode: int,
                  *, what: str) -> dict[str, tuple[bytes, int]]:
    """``{relative path: (content, mode)}`` for a secret's or ConfigMap's keys: every key as a file, or
    only ``items`` (``key`` -> ``path``, with an optional ``mode``); a missing item key is an error."""
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            raise VolumeError(f"{what} has no key {item['key']!r}")
        mode = item.get("mode")
        out[str(safe_relative(item["path"]))] = (data[item["key"]], default_mode if mode is None else int(mode))
    return out


def downward_value(pod: dict[str, Any], field_path: str) -> str | None:
    """A downwardAPI volume item's ``fieldRef``: labels and annotations as ``key="value"`` lines."""
    meta = pod["metadata"]
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(field_path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    if field_path.startswith("metadata.labels['") or field_path.startswith("metadata.annotations['"):
        kind, _, key = field_path.partition("['")
        return (meta.get(kind.split(".")[1]) or {}).get(key.removesuffix("']"))
    return {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
            "metadata.uid": meta.get("uid"),
            "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
            "spec.nodeName": (pod.get("spec") or {}).get("nodeName")}.get(field_path)


def shared_run_as_user(pod: dict[str, Any]) -> int | None:
    """The ``runAsUser`` every container (and init container) of the pod runs as, if they share one."""
    spec = pod.get("spec") or {}
    pod_user = (spec.get("securityContext") or {}).get("runAsUser")
    users = {(c.get("securityContext") or {}).get("runAsUser", pod_user)
             for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
    if len(users) == 1:
        user = users.pop()
        return None if user is None else int(user)
    return None


def token_due(issued: float, expires: float, now: float) -> bool:
    """Whether a token issued at ``issued`` expiring at ``expires`` should be requested again at ``now``."""
    return now >= issued + min(TOKEN_REFRESH_AT * (expires - issued), TOKEN_MAX_AGE)


def _rfc3339(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def write_file(path: Path, content: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Write ``path`` atomically (a temporary file in the same directory, renamed): a container reading
    through its bind mount of the directory sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def apply_fs_group(root: Path, gid: int, *, writable: bool) -> None:
    """The kubelet's volume ownership for ``fsGroup``: group ``gid`` on everything, group read (and write
    when ``writable``) and execute on directories, setgid on directories so new files inherit it."""
    def one(path: str, is_dir: bool) -> None:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            return
        os.chown(path, -1, gid)
        mode = stat.S_IMODE(info.st_mode) | (0o060 if writable else 0o040)
        if is_dir:
            mode |= 0o010 | stat.S_ISGID
        os.chmod(path, mode)
    one(str(root), True)
    for base, dirs, files in os.walk(root):
        for name in dirs:
            one(os.path.join(base, name), True)
        for name in files:
            one(os.path.join(base, name), False)


class PodVolumes:
    """The volumes of one pod under ``root`` (the agent's, 0700)."""

    def __init__(self, pod: dict[str, Any], *, root: Path, cluster: Cluster):
        self.pod = pod
        self.root = root
        self.cluster = cluster
        spec = pod.get("spec") or {}
        self.namespace: str = pod["metadata"]["namespace"]
        self.fs_group: int | None = (spec.get("securityContext") or {}).get("fsGroup")
        self.token_user = shared_run_as_user(pod)
        self.paths: dict[str, tuple[Path, bool]] = {}  # volume name -> (host path, kubelet may write it)
        self.tokens: list[_Token] = []
        self.ready = False

    # ---- setup -------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Make every volume; raises VolumeError naming the first one that cannot be made yet."""
        if self.ready:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.tokens = []
        for volume in (self.pod.get("spec") or {}).get("volumes") or []:
            self.paths[volume["name"]] = self._make(volume)
        self.ready = True

    def _dir(self, kind: str, name: str) -> Path:
        path = self.root / kind / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _make(self, volume: dict[str, Any]) -> tuple[Path, bool]:
        name = volume["name"]
        if "emptyDir" in volume:
            path = self._dir("empty-dir", name)
            os.chmod(path, EMPTY_DIR_MODE)
            if self.fs_group is not None:
                apply_fs_group(path, self.fs_group, writable=True)
            return path, True
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"], name), True
        if "persistentVolumeClaim" in volume:
            source = volume["persistentVolumeClaim"]
            host, apply = self.cluster.claim_path(self.namespace, source["claimName"])
            path = Path(host)
            if not path.is_dir():
                raise VolumeError(f"volume {name!r}: the claim's path {host} is not a directory on this node")
            if apply and self.fs_group is not None and not (
                    (self.pod["spec"].get("securityContext") or {}).get("fsGroupChangePolicy") == "OnRootMismatch"
                    and path.stat().st_gid == self.fs_group):
                apply_fs_group(path, self.fs_group, writable=not source.get("readOnly"))
            return path, not source.get("readOnly")
        kinds = {"secret": "secret", "configMap": "configmap", "projected": "projected", "downwardAPI": "downward-api"}
        kind = next((k for k in kinds if k in volume), None)
        if kind is None:
            raise VolumeError(f"volume {name!r}: its kind ({', '.join(sorted(volume)) }) is not supported here")
        path = self._dir(kinds[kind], name)
        source = volume[kind] or {}
        default_mode = int(source.get("defaultMode", DEFAULT_MODE))
        files: dict[str, tuple[bytes, int]] = {}
        if kind == "projected":
            for part in source.get("sources") or []:
                files.update(self._projection(part, path, default_mode))
        elif kind == "downwardAPI":
            files.update(self._downward(source, default_mode))
        else:
            files.update(self._object(kind, source, default_mode))
        group = self.fs_group
        for rel, (content, mode) in files.items():
            if group is not None:
                mode |= 0o440  # a read-only volume's files under fsGroup, as the kubelet sets them
            write_file(path / rel, content, mode, (0, group) if group is not None else None)
        for token in self.tokens:
            if path in token.path.parents:
                self._write_token(token)
        os.chmod(path, 0o755)
        if group is not None:
            os.chown(path, -1, group)
            os.chmod(path, 0o2755)
        return path, False

    def _object(self, kind: str, source: dict[str, Any], default_mode: int) -> dict[str, tuple[bytes, int]]:
        name = source.get("secretName") if kind == "secret" else source.get("name")
        reader = self.cluster.secret if kind == "secret" else self.cluster.config_map
        data = reader(self.namespace, name)
        if data is None:
            if source.get("optional"):
                return {}
            raise VolumeError(f"{kind} {self.namespace}/{name} not found")
        return project_items(data, source.get("items"), default_mode, what=f"{kind} {self.namespace}/{name}")

    def _downward(self, source: dict[str, Any], default_mode: int) -> dict[str, tuple[bytes, int]]:
        out = {}
        for item in source.get("items") or []:
            if not item.get("fieldRef"):
                continue  # resourceFieldRef: no resources are accounted here
            value = downward_value(self.pod, item["fieldRef"]["fieldPath"])
            mode = item.get("mode")
            out[str(safe_relative(item["path"]))] = ((value or "").encode(), default_mode if mode is None else int(mode))
        return out

    def _projection(self, part: dict[str, Any], path: Path, default_mode: int) -> dict[str, tuple[bytes, int]]:
        if part.get("serviceAccountToken"):
            source = part["serviceAccountToken"]
            token = _Token(path=path / safe_relative(source["path"]), source=source)
            self._request(token)
            self.tokens.append(token)
            return {}
        if part.get("secret"):
            return self._object("secret", {**part["secret"], "secretName": part["secret"].get("name")}, default_mode)
        if part.get("configMap"):
            return self._object("configMap", part["configMap"], default_mode)
        if part.get("downwardAPI"):
            return self._downward(part["downwardAPI"], default_mode)
        raise VolumeError(f"projected source {', '.join(sorted(part))} is not supported here")

    def _host_path(self, source: dict[str, Any], name: str) -> Path:
        path = Path(source["path"])
        kind = source.get("type") or ""
        if kind == "DirectoryOrCreate" and not path.exists():
            path.mkdir(parents=True, mode=0o755)
        elif kind == "FileOrCreate" and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o644)
        checks = {"Directory": path.is_dir, "DirectoryOrCreate": path.is_dir, "File": path.is_file,
                  "FileOrCreate": path.is_file, "Socket": lambda: path.is_socket(),
                  "CharDevice": lambda: path.is_char_device(), "BlockDevice": lambda: path.is_block_device()}
        if kind in checks and not checks[kind]():
            raise VolumeError(f"volume {name!r}: hostPath {path} is not a {kind}")
        if not kind and not path.exists():
            raise VolumeError(f"volume {name!r}: hostPath {path} does not exist (type: DirectoryOrCreate makes it)")
        return path

    # ---- tokens --------------------------------------------------------------------------------------
    def _request(self, token: _Token) -> None:
        meta = self.pod["metadata"]
        audience = token.source.get("audience")
        value, expires = self.cluster.token(
            self.namespace, (self.pod.get("spec") or {}).get("serviceAccountName") or "default",
            audiences=[audience] if audience else None,
            expiration_s=int(token.source.get("expirationSeconds") or 3600),
            pod_name=meta["name"], pod_uid=meta["uid"])
        token.issued, token.expires, token.value = time.time(), expires, value

    def _write_token(self, token: _Token) -> None:
        value, token.value = token.value, None
        if value is None:
            return
        if self.token_user is not None:
            mode, owner = 0o600, (self.token_user, self.fs_group if self.fs_group is not None else self.token_user)
        else:
            mode = 0o640 if self.fs_group is not None else 0o644  # readable by the pod's processes, as the kubelet does
            owner = (0, self.fs_group) if self.fs_group is not None else None
        write_file(token.path, value.encode(), mode, owner)

    def refresh(self, now: float | None = None) -> int:
        """Request again every token that is due; returns how many were renewed."""
        now = time.time() if now is None else now
        renewed = 0
        for token in self.tokens:
            if token_due(token.issued, token.expires, now):
                self._request(token)
                self._write_token(token)
                renewed += 1
        return renewed

    # ---- mounts --------------------------------------------------------------------------------------
    def mounts(self, container: dict[str, Any], env: dict[str, str]) -> list[Mount]:
        """The container's ``volumeMounts`` as bind mounts (``subPath`` / ``subPathExpr`` resolved)."""
        out = []
        for item in container.get("volumeMounts") or []:
            if item["name"] not in self.paths:
                raise VolumeError(f"container {container['name']!r} mounts volume {item['name']!r}, which the pod "
                                  "does not declare")
            host, writable = self.paths[item["name"]]
            sub = item.get("subPath") or (expand(item["subPathExpr"], env) if item.get("subPathExpr") else "")
            source = host / safe_relative(sub) if sub else host
            if sub and not source.exists():
                source.mkdir(parents=True, exist_ok=True)  # the kubelet makes a missing subPath directory
            # secret, configMap, projected and downwardAPI volumes are always read-only, as in a kubelet
            out.append(Mount(source=str(source), target=item["mountPath"],
                             read_only=bool(item.get("readOnly")) or not writable))
        return out

    # ---- teardown ------------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Remove what the pod's volumes made here (never a claim's or a hostPath's data)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.ready = False


def token_expiry(status: dict[str, Any]) -> float:
    """A TokenRequest answer's ``status.expirationTimestamp`` as epoch seconds."""
    return _rfc3339(status["expirationTimestamp"])


def decode_secret(obj: dict[str, Any]) -> dict[str, bytes]:
    """A Secret's ``data`` (base64) and ``stringData`` as bytes."""
    out = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return out


def decode_config_map(obj: dict[str, Any]) -> dict[str, bytes]:
    """A ConfigMap's ``data`` and ``binaryData`` as bytes."""
    out = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out
