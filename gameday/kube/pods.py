"""One pod as host processes: its containers, their probes, restarts and the pod's status.

The node agent makes a :class:`PodRunner` per pod bound to one of its nodes and calls ``step()``
every half second; ``status()`` is the pod status to send to the API server (only sent when it
changed). Each container's ``command`` + ``args`` run (with ``$(VAR)`` expanded from its env) in a new
process group with the agent's sandbox marker in its environment; its output goes to
``<log dir>/<ns>_<pod>_<uid>/<container>.log`` (the previous instance's to ``<container>.previous.log``).
``terminate(grace)`` stops every process group (SIGTERM, then SIGKILL after ``grace`` seconds)::

    runner = PodRunner(pod, ip="127.10.101.2", host_ip="127.10.90.5", dirs=dirs, env_source=env_source)
    runner.step(); runner.status()
    runner.terminate(grace=30)
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import children
from ..deadline import Deadline
from . import images as images_mod
from .probes import Probe
from .volumes import Cluster, PodVolumes, VolumeError, expand

NSINIT = Path(__file__).with_name("nsinit.py")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
VOLUME_RETRY_S = 2.0
TOKEN_CHECK_S = 60.0

log = logging.getLogger("gameday.kube.pods")

BACKOFF_BASE, BACKOFF_CAP, BACKOFF_RESET_AFTER = 1.0, 30.0, 60.0


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_code(returncode: int) -> int:
    """Popen's negative "killed by signal N" as the container runtime reports it (128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return


@dataclass(frozen=True)
class PodDirs:
    """Where a pod's working directory, container logs and volumes (the agent's own, 0700) go."""

    work: Path
    logs: Path
    volumes: Path | None = None


class ConfigError(Exception):
    """A container's configuration cannot be made yet (a missing Secret in envFrom, runAsNonRoot as
    root): the kubelet's CreateContainerConfigError; retried."""


EnvSource = Callable[[str, dict[str, Any]], str | None]  # ("configMapKeyRef"|"secretKeyRef", ref) -> value


class ContainerRunner:
    """One container: its current process, restart count, state and probes."""

    def __init__(self, spec: dict[str, Any], pod: "PodRunner", restart_count: int, *, init: bool = False):
        self.spec = spec
        self.init = init  # an init container: runs to completion before the next one starts
        self.pod = pod
        self.name: str = spec["name"]
        self.restart_count = restart_count
        self.proc: subprocess.Popen | None = None
        self.started_mono = 0.0
        self.started_at: str | None = None
        self.ever_started = False
        self.failures = 0
        self.next_start = 0.0
        self.done = False  # terminated for good (restart policy says no)
        self.waiting_reason = "ContainerCreating"
        self.waiting_message = ""
        self.terminated: dict[str, Any] | None = None
        self.last_terminated: dict[str, Any] | None = None
        self.probes: dict[str, Probe] = {}
        self.kill_at: float | None = None  # SIGKILL the group then (a liveness kill in progress)
        self.ports = {p["name"]: int(p["containerPort"]) for p in spec.get("ports") or [] if p.get("name")}
        self.started_env: dict[str, str] = {}

    # ---- environment and command ---------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The container's environment as the kubelet makes it: the pod's (service host and port
        included), the image's PATH, ``envFrom`` (Secrets and ConfigMaps, keys that are valid names),
        then ``env`` (which wins)."""
        env = dict(self.pod.base_env)
        image = images_mod.lookup(self.pod.images, self.spec.get("image"))
        if image is not None:
            env["PATH"] = f"{image.bin_dir}:{env.get('PATH', '')}".rstrip(":")
        for source in self.spec.get("envFrom") or []:
            kind = "secretRef" if source.get("secretRef") else "configMapRef"
            ref = source.get(kind) or {}
            data = self.pod.env_from(kind, ref.get("name") or "")
            if data is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f"{'secret' if kind == 'secretRef' else 'configmap'} "
                                  f"\"{ref.get('name')}\" not found")
            for key, value in data.items():
                name = (source.get("prefix") or "") + key
                if ENV_NAME.match(name):
                    env[name] = value.decode("utf-8", errors="replace")
        for item in self.spec.get("env") or []:
            if "value" in item and item["value"] is not None:
                env[item["name"]] = expand(str(item["value"]), env)
            elif item.get("valueFrom"):
                value = self.pod.value_from(item["valueFrom"])
                if value is not None:
                    env[item["name"]] = value
        return env

    def security(self) -> dict[str, Any]:
        return {**(self.pod.pod["spec"].get("securityContext") or {}), **(self.spec.get("securityContext") or {})}

    def run_as(self) -> tuple[int, int] | None:
        """(uid, gid) from the container's or the pod's securityContext, when root can switch to it."""
        context = self.security()
        uid, gid = context.get("runAsUser"), context.get("runAsGroup")
        if context.get("runAsNonRoot") and not uid:
            raise ConfigError("container has runAsNonRoot and image will run as root (set runAsUser)")
        if (uid is None and gid is None) or os.geteuid() != 0:
            return None
        uid = int(uid) if uid is not None else 0
        return uid, int(gid) if gid is not None else uid

    def groups(self) -> list[int]:
        """Supplementary groups: the pod's ``fsGroup`` and ``supplementalGroups``, as the kubelet adds them."""
        pod_context = self.pod.pod["spec"].get("securityContext") or {}
        out = [int(pod_context["fsGroup"])] if pod_context.get("fsGroup") is not None else []
        out += [int(g) for g in pod_context.get("supplementalGroups") or [] if int(g) not in out]
        return out

    def command(self, env: dict[str, str]) -> list[str]:
        """command + args, expanded."""
        return [expand(a, env) for a in (self.spec.get("command") or []) + (self.spec.get("args") or [])]

    def argv(self, env: dict[str, str]) -> list[str]:
        """command + args, expanded; through setpriv when a securityContext asks for another user."""
        argv = self.command(env)
        ids = self.run_as()
        if argv and ids:
            groups = self.groups()
            argv = ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}",
                    f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups", "--", *argv]
        return argv

    def plan(self, env: dict[str, str]) -> dict[str, Any] | None:
        """What :mod:`.nsinit` does before the command, or None when the container needs no mount
        namespace (no volume mounts, and its image's directories are reachable as they are)."""
        mounts = self.pod.volumes.mounts(self.spec, env) if self.pod.volumes is not None else []
        ids = self.run_as()
        image = images_mod.lookup(self.pod.images, self.spec.get("image"))
        masks: list[tuple[str, list[str]]] = []
        if image is not None and ids is not None:
            try:
                masks = images_mod.masks(image.reach, uid=ids[0], gids=[ids[1], *self.groups()])
            except ValueError as err:
                raise ConfigError(f"image {self.spec.get('image')}: {err}") from None
        if not mounts and not masks:
            return None
        if os.geteuid() != 0:
            raise ConfigError("volumes need the node agent to run as root (mount namespaces)")
        stage = self.pod.dirs.volumes / "stage" / self.name if self.pod.dirs.volumes else None
        context = self.security()
        return {"masks": [{"dir": d, "keep": keep, "stage": str(stage / str(i))} for i, (d, keep) in enumerate(masks)],
                "mounts": [m.as_dict() for m in mounts],
                "uid": ids[0] if ids else None, "gid": ids[1] if ids else None,
                "groups": sorted({*self.groups()}) if ids else [],
                "no_new_privs": context.get("allowPrivilegeEscalation") is False,
                "cwd": self.spec.get("workingDir") or str(self.pod.dirs.work)}

    def launch(self, env: dict[str, str]) -> tuple[list[str], dict[str, Any] | None]:
        """The argv to start (through nsinit when a mount namespace is needed) and that plan."""
        plan = self.plan(env)
        if plan is None:
            return self.argv(env), None
        command = self.command(env)
        if not command:
            return [], plan
        path = self.pod.dirs.volumes / f"{self.name}.plan.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(plan, fh)
        return [sys.executable, "-I", str(NSINIT), str(path), "--", *command], plan

    # ---- lifecycle -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.pod.dirs.logs / f"{self.name}.log"

    def start(self, now: float) -> None:
        try:
            env = self.env()
            argv, plan = self.launch(env)
        except (ConfigError, VolumeError) as err:
            self.waiting_reason, self.waiting_message = "CreateContainerConfigError", str(err)[:300]
            self.next_start = now + VOLUME_RETRY_S
            return
        self.started_env = env
        if self.ever_started:
            self.restart_count += 1
            if self.log_path.exists():
                self.log_path.replace(self.pod.dirs.logs / f"{self.name}.previous.log")
        self.ever_started = True
        if not argv:
            self._start_failed(now, "a process-backed container needs a command (images are not run here)")
            return
        cwd = str(self.pod.dirs.work) if plan else self.spec.get("workingDir") or str(self.pod.dirs.work)
        ids = self.run_as()
        if ids:
            os.chown(self.pod.dirs.work, *ids)  # the pod's working directory and HOME are its own
        with open(self.log_path, "ab", buffering=0) as out:
            try:
                self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=cwd, env=env, start_new_session=True, close_fds=True)
            except OSError as err:
                out.write(f"gameday node agent: could not start {argv[0]}: {err}\n".encode())
                self._start_failed(now, str(err))
                return
        children.keep_nice(self.proc.pid)  # its own session: at the node agent's CPU priority
        log.info("started %s/%s container %s: pid %d", self.pod.namespace, self.pod.name, self.name, self.proc.pid)
        self.started_mono, self.started_at = now, now_rfc3339()
        self.terminated = None
        self.waiting_message = ""
        self.probes = {kind: Probe(kind, self.spec[key], now)
                       for kind, key in (("startup", "startupProbe"), ("liveness", "livenessProbe"),
                                         ("readiness", "readinessProbe")) if self.spec.get(key)}
        if plan is not None:  # exec probes see the container's volumes, as in a runtime's exec
            for probe in self.probes.values():
                probe.enter = ["nsenter", f"--target={self.proc.pid}", "--mount", "--"]

    def _start_failed(self, now: float, message: str) -> None:
        self.proc = None
        self._exited(now, {"exitCode": 128, "reason": "StartError", "message": message[:300],
                           "startedAt": now_rfc3339(), "finishedAt": now_rfc3339()})

    def _exited(self, now: float, terminated: dict[str, Any]) -> None:
        self.terminated = self.last_terminated = terminated
        self.probes = {}
        policy = "OnFailure" if self.init and self.pod.restart_policy == "Always" else self.pod.restart_policy
        if self.pod.stopping or policy == "Never" or (policy == "OnFailure" and terminated["exitCode"] == 0):
            self.done = True
            return
        ran_for = now - self.started_mono if self.started_mono else 0.0
        self.failures = 1 if ran_for >= BACKOFF_RESET_AFTER else self.failures + 1
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1))
        self.next_start = now + delay
        self.waiting_reason, self.waiting_message = "CrashLoopBackOff", (
            f"back-off {delay:g}s restarting failed container={self.name} pod={self.pod.name}")

    def step(self, now: float) -> None:
        """Start, reap, restart and probe as due. Called by the pod runner only."""
        if self.done or self.pod.stopping:
            self._reap(now)
            return
        if self.proc is None:
            if now >= self.next_start:
                self.start(now)
            return
        if self._reap(now):
            return
        if self.kill_at is not None:
            if now >= self.kill_at:
                signal_group(self.proc.pid, signal.SIGKILL)
            return
        for kind in ("startup", "liveness", "readiness"):
            probe = self.probes.get(kind)
            if probe is None or not probe.due(now):
                continue
            if kind != "startup" and self.probes.get("startup") and self.probes["startup"].result is not True:
                continue  # nothing else runs before the startup probe has passed
            result = probe.run(now, self.pod.ip, self.ports, self.started_env)
            if result is False and kind in ("startup", "liveness"):
                log.info("%s/%s container %s failed its %s probe (%s): restarting", self.pod.namespace,
                         self.pod.name, self.name, kind, probe.message)
                signal_group(self.proc.pid, signal.SIGTERM)
                self.kill_at = now + self.pod.grace_seconds(probe.spec)
                return

    def _reap(self, now: float) -> bool:
        if self.proc is None or self.proc.poll() is None:
            return False
        code = exit_code(self.proc.returncode)
        log.info("%s/%s container %s exited with %d", self.pod.namespace, self.pod.name, self.name, code)
        signal_group(self.proc.pid, signal.SIGKILL)  # what the leader left behind in its group
        self.proc, self.kill_at = None, None
        self._exited(now, {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                           "startedAt": self.started_at, "finishedAt": now_rfc3339()})
        return True

    def kill(self, grace: float) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; returns once it is gone."""
        proc = self.proc
        if proc is None:
            return
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("container %s (pid %d) survived SIGKILL for 5s", self.name, proc.pid)
        signal_group(proc.pid, signal.SIGKILL)  # children left in the group after the leader exited

    # ---- status ----------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        if not self.running:
            return False
        probe = self.probes.get("readiness")
        startup = self.probes.get("startup")
        if startup is not None and startup.result is not True:
            return False
        return probe is None or probe.result is True

    @property
    def started(self) -> bool:
        startup = self.probes.get("startup")
        return self.running and (startup is None or startup.result is True)

    def status(self) -> dict[str, Any]:
        if self.running:
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.terminated is not None and (self.done or self.pod.stopping):
            state = {"terminated": self.terminated}
        else:
            state = {"waiting": {"reason": self.waiting_reason,
                                 **({"message": self.waiting_message} if self.waiting_message else {})}}
        out = {"name": self.name, "image": self.spec.get("image") or "", "imageID": "",
               "containerID": f"process://{self.proc.pid}" if self.running else "",
               "ready": self.ready, "started": self.started, "restartCount": self.restart_count, "state": state,
               "lastState": {"terminated": self.last_terminated} if self.last_terminated and not state.get(
                   "terminated") else {}}
        return out


class PodRunner:
    """A pod bound to one of the agent's nodes, run as host processes."""

    def __init__(self, pod: dict[str, Any], *, ip: str, host_ip: str, dirs: PodDirs, base_env: dict[str, str],
                 env_source: EnvSource, cluster: Cluster | None = None,
                 images: dict[str, images_mod.Image] | None = None):
        meta, spec = pod["metadata"], pod["spec"]
        self.pod = pod
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.node: str = spec["nodeName"]
        self.ip, self.host_ip, self.dirs = ip, host_ip, dirs
        self.restart_policy = spec.get("restartPolicy") or "Always"
        self.stopping = False
        self.start_time = (pod.get("status") or {}).get("startTime") or now_rfc3339()
        self.env_source = env_source
        self.cluster = cluster
        self.images = images or {}
        # The pod's volumes, made before its first container starts (with a cluster to read them from).
        self.volumes = PodVolumes(pod, root=dirs.volumes, cluster=cluster) if cluster and dirs.volumes else None
        self.volume_retry_at = 0.0
        self.token_check_at = 0.0
        self._transitions: dict[str, tuple[str, str]] = {}
        self.lock = threading.Lock()  # step() and terminate() never run at once
        dirs.work.mkdir(parents=True, exist_ok=True)
        dirs.logs.mkdir(parents=True, exist_ok=True)
        self.base_env = {**base_env, "HOSTNAME": self.name, "HOME": str(dirs.work),
                         "GAMEDAY_KUBE_POD": f"{self.namespace}/{self.name}"}
        previous = {c["name"]: c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or []}
        # A pod this agent ran before it restarted: its containers start again, which counts as a restart.
        self.containers = [ContainerRunner(c, self, previous[c["name"]] + 1 if c["name"] in previous else 0)
                           for c in spec.get("containers") or []]
        # Init containers run again after an agent restart, as after a node reboot.
        self.init_containers = [ContainerRunner(c, self, 0, init=True) for c in spec.get("initContainers") or []]
        if self.init_containers:
            for c in self.containers:
                c.waiting_reason = "PodInitializing"

    # ---- downward API and references ---------------------------------------------------------------
    def value_from(self, source: dict[str, Any]) -> str | None:
        if source.get("fieldRef"):
            path = source["fieldRef"]["fieldPath"]
            meta = self.pod["metadata"]
            fields = {"metadata.name": self.name, "metadata.namespace": self.namespace, "metadata.uid": self.uid,
                      "spec.nodeName": self.node, "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName"),
                      "status.podIP": self.ip, "status.podIPs": self.ip, "status.hostIP": self.host_ip,
                      "status.hostIPs": self.host_ip}
            match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            if match:
                return (meta.get(match.group(1)) or {}).get(match.group(2))
            return fields.get(path)
        for kind in ("configMapKeyRef", "secretKeyRef"):
            if source.get(kind):
                return self.env_source(kind, {**source[kind], "namespace": self.namespace})
        return None  # resourceFieldRef: no resources are accounted here

    def env_from(self, kind: str, name: str) -> dict[str, bytes] | None:
        """The data of a container's ``envFrom`` source (``secretRef`` / ``configMapRef``), None if absent."""
        if self.cluster is None:
            raise ConfigError("envFrom needs the node agent's API access")
        try:
            if kind == "secretRef":
                return self.cluster.secret(self.namespace, name)
            return self.cluster.config_map(self.namespace, name)
        except VolumeError as err:
            raise ConfigError(str(err)) from None

    # ---- volumes -------------------------------------------------------------------------------------
    def _volumes_ready(self, now: float) -> bool:
        """Make the pod's volumes (retried every VOLUME_RETRY_S while a source is missing); renew tokens."""
        vols = self.volumes
        if vols is None:
            return True
        if vols.ready:
            if now >= self.token_check_at:
                self.token_check_at = now + TOKEN_CHECK_S
                try:
                    vols.refresh()
                except (VolumeError, OSError) as err:
                    log.warning("%s/%s: service account token not renewed: %s", self.namespace, self.name, err)
            return True
        if now < self.volume_retry_at:
            return False
        try:
            vols.setup()
            self.token_check_at = now + TOKEN_CHECK_S
            return True
        except (VolumeError, OSError) as err:
            self.volume_retry_at = now + VOLUME_RETRY_S
            message = f"MountVolume.SetUp failed: {err}"[:300]
            for c in self.init_containers + self.containers:
                if not c.ever_started and c.waiting_message != message:
                    c.waiting_reason, c.waiting_message = "ContainerCreating", message
                    log.warning("%s/%s: %s", self.namespace, self.name, message)
            return False

    def release_volumes(self) -> None:
        """The pod is over (deleted, or finished for good): its emptyDirs, secrets and tokens go."""
        if self.volumes is not None:
            self.volumes.teardown()

    # ---- lifecycle -----------------------------------------------------------------------------------
    def grace_seconds(self, probe_spec: dict[str, Any] | None = None) -> float:
        if probe_spec and probe_spec.get("terminationGracePeriodSeconds") is not None:
            return float(probe_spec["terminationGracePeriodSeconds"])
        value = self.pod["spec"].get("terminationGracePeriodSeconds")
        return float(30 if value is None else value)

    def update(self, pod: dict[str, Any]) -> None:
        """The latest copy of the pod from the API server (labels, conditions others set)."""
        self.pod = pod

    def step(self) -> None:
        """Advance every container; skipped while ``terminate`` holds the pod."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            now = time.monotonic()
            if self.volumes is not None and self.volumes.ready and self.phase() in ("Succeeded", "Failed"):
                self.release_volumes()
                return
            if self.phase() in ("Succeeded", "Failed"):
                return
            if not self._volumes_ready(now):
                return
            if not self.initialized:
                pending = next((c for c in self.init_containers if not c.done), None)
                if pending is not None and not self.init_failed:
                    pending.step(now)
                return
            for c in self.containers:
                c.step(now)
        finally:
            self.lock.release()

    @property
    def finished(self) -> bool:
        return all(c.done for c in self.containers)

    @property
    def initialized(self) -> bool:
        return all(c.done and (c.terminated or {}).get("exitCode") == 0 for c in self.init_containers)

    @property
    def init_failed(self) -> bool:
        return any(c.done and (c.terminated or {}).get("exitCode") != 0 for c in self.init_containers)

    def terminate(self, grace: float) -> None:
        """Stop every container (SIGTERM, SIGKILL after ``grace`` seconds in all); returns once all are gone."""
        self.stopping = True
        with self.lock:
            deadline = Deadline(max(grace, 0.0))
            every = self.init_containers + self.containers
            for c in every:
                if c.proc is not None:
                    signal_group(c.proc.pid, signal.SIGTERM)
            for c in every:
                c.kill(deadline.remaining())
            now = time.monotonic()
            for c in every:
                c.step(now)
            self.release_volumes()

    # ---- status --------------------------------------------------------------------------------------
    def phase(self) -> str:
        if self.init_failed:
            return "Failed"
        if not self.initialized:
            return "Pending"
        if self.containers and all(c.done for c in self.containers):
            failed = any((c.terminated or {}).get("exitCode", 0) != 0 for c in self.containers)
            return "Failed" if failed else "Succeeded"
        if any(c.running or c.ever_started for c in self.containers):
            return "Running"
        return "Pending"

    def _condition(self, kind: str, value: bool, reason: str = "") -> dict[str, Any]:
        status = "True" if value else "False"
        previous = self._transitions.get(kind)
        if previous is None or previous[0] != status:
            self._transitions[kind] = (status, now_rfc3339())
        out = {"type": kind, "status": status, "lastProbeTime": None,
               "lastTransitionTime": self._transitions[kind][1]}
        if reason and not value:
            out["reason"] = reason
        return out

    def status(self) -> dict[str, Any]:
        """The pod's status as the kubelet would report it (a merge patch body's ``status``)."""
        statuses = [c.status() for c in self.containers]
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        phase = self.phase()
        conditions = [
            self._condition("PodReadyToStartContainers", True),
            self._condition("Initialized", self.initialized, "ContainersNotInitialized"),
            self._condition("ContainersReady", all_ready, "ContainersNotReady"),
            self._condition("Ready", all_ready, "ContainersNotReady"),
        ]
        mine = {c["type"] for c in conditions}
        conditions += [c for c in (self.pod.get("status") or {}).get("conditions") or [] if c["type"] not in mine]
        return {"phase": phase, "hostIP": self.host_ip, "hostIPs": [{"ip": self.host_ip}], "podIP": self.ip,
                "podIPs": [{"ip": self.ip}], "startTime": self.start_time, "conditions": conditions,
                "containerStatuses": statuses,
                **({"initContainerStatuses": [c.status() for c in self.init_containers]} if self.init_containers else {})}
