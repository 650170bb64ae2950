"""The node agent: registers Nodes and runs the pods bound to them as host processes.

Run by the sandbox supervisor (see :mod:`gameday.kube.members`)::

    python -m gameday.kube.agent --kubeconfig node-agent.kubeconfig --address 127.10.90.5 --port 10250 \\
        --tls-cert node-agent.crt --tls-key node-agent.key --client-ca ca.crt \\
        --state-dir DATA/pods --log-dir LOGS/pods --node default-node-1=127.10.101.0/24

What it does, per node: keeps the Node Ready and its Lease renewed (:mod:`.nodes`); lists and watches
pods, and for each pod bound to one of its nodes runs a :class:`~gameday.kube.pods.PodRunner` with an
address from that node's pod CIDR or the pod's own list (:mod:`.addresses`); sends each pod's status
when it changes; when a pod is being deleted it stops the processes (honouring the grace period) and
then removes the pod object; serves
``kubectl logs`` (:mod:`.logserver`). Each pod's volumes (:mod:`.volumes`: emptyDir, secret, configMap,
projected with its bound ServiceAccount token, downwardAPI, persistentVolumeClaim, hostPath) are made
under ``<state dir>/volumes`` and bind-mounted in each container's own mount namespace
(:mod:`.nsinit`); containers get ``KUBERNETES_SERVICE_HOST``/``PORT`` (the API server's address, as
``--api-host``/``--api-port`` or the agent's kubeconfig give it) and, for an image in the ``--image``
map (:mod:`.images`), that image's ``bin`` first on their ``PATH``. With ``--volumes-root`` the agent
is also the twin's volume provisioner (:mod:`.provisioner`: the default StorageClass). Pod processes carry
the sandbox marker (``GAMEDAY_SANDBOX_ID``)
and this agent's own, so a restarted agent first kills what its predecessor left running, and then
starts those pods again (a restart of each container).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from ..deadline import Deadline
from . import addresses, images, logserver, nodes
from .nodes import MERGE, Node, raw
from .pods import PodDirs, PodRunner, signal_group
from .provisioner import Provisioner
from .volumes import VolumeError, decode_config_map, decode_secret, token_expiry
from .watching import Trigger

log = logging.getLogger("gameday.kube.agent")

STEP = 0.5
WATCH_SECONDS = 60
SHUTDOWN_GRACE = 10.0
SERVICE_ACCOUNT_WAIT = 90.0
TERMINAL = ("Succeeded", "Failed")
API_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


class ApiCluster:
    """What pods' volumes and envFrom read from the API server (:class:`gameday.kube.volumes.Cluster`).
    An answer other than 404 becomes a VolumeError (the pod waits and retries); values are never logged."""

    def __init__(self, core: client.CoreV1Api):
        self.core = core

    def _read(self, fn, namespace: str | None, name: str, what: str) -> dict[str, Any] | None:
        try:
            args = (name, namespace) if namespace is not None else (name,)
            return raw(fn, *args, _request_timeout=20)
        except ApiException as err:
            if err.status == 404:
                return None
            raise VolumeError(f"reading {what} {namespace + '/' if namespace else ''}{name}: {err.status} {err.reason}") \
                from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise VolumeError(f"reading {what} {name}: {err}") from None

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self._read(self.core.read_namespaced_secret, namespace, name, "secret")
        return None if obj is None else decode_secret(obj)

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self._read(self.core.read_namespaced_config_map, namespace, name, "configmap")
        return None if obj is None else decode_config_map(obj)

    def token(self, namespace: str, service_account: str, *, audiences: list[str] | None, expiration_s: int,
              pod_name: str, pod_uid: str) -> tuple[str, float]:
        """A TokenRequest for the pod's ServiceAccount, bound to the pod (invalid once the pod is gone)."""
        spec: dict[str, Any] = {"expirationSeconds": expiration_s,
                                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid}}
        if audiences:
            spec["audiences"] = audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            status = raw(self.core.create_namespaced_service_account_token, service_account, namespace, body,
                         _request_timeout=20)["status"]
        except ApiException as err:
            raise VolumeError(f"token for serviceaccount {namespace}/{service_account}: {err.status} {err.reason}") \
                from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise VolumeError(f"token for serviceaccount {namespace}/{service_account}: {err}") from None
        return status["token"], token_expiry(status)

    def claim_path(self, namespace: str, claim: str) -> tuple[str, bool]:
        """The host path of the PersistentVolume bound to ``claim``, and whether fsGroup applies to it
        (``local`` volumes: yes; ``hostPath`` ones: no, as in a kubelet)."""
        pvc = self._read(self.core.read_namespaced_persistent_volume_claim, namespace, claim, "persistentvolumeclaim")
        if pvc is None:
            raise VolumeError(f"persistentvolumeclaim {claim!r} not found")
        volume = (pvc.get("spec") or {}).get("volumeName")
        if (pvc.get("status") or {}).get("phase") != "Bound" or not volume:
            raise VolumeError(f"persistentvolumeclaim {claim!r} is not bound yet")
        pv = self._read(self.core.read_persistent_volume, None, volume, "persistentvolume")
        if pv is None:
            raise VolumeError(f"persistentvolume {volume!r} of claim {claim!r} not found")
        spec = pv.get("spec") or {}
        if spec.get("local"):
            return spec["local"]["path"], True
        if spec.get("hostPath"):
            return spec["hostPath"]["path"], False
        raise VolumeError(f"persistentvolume {volume!r}: only local and hostPath volumes are reachable here")


def kill_leftovers(marker: str) -> list[int]:
    """SIGKILL the process group of every process carrying ``marker`` in its environment."""
    needle = marker.encode()
    killed = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
            pgid = os.getpgid(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if pgid != os.getpgid(0):
            signal_group(pgid, signal.SIGKILL)
            killed.append(pgid)
    return killed


class Agent:
    def __init__(self, args: argparse.Namespace):
        self.api = config.new_client_from_config(config_file=args.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.address, self.port = args.address, args.port
        self.args = args
        self.state_dir, self.log_dir = Path(args.state_dir), Path(args.log_dir)
        self.nodes: dict[str, Node] = {}
        self.node_hosts: dict[str, list[str]] = {}
        self.book = addresses.AddressBook()
        for item in args.node:
            name, cidr, zone = _node_arg(item)
            self.nodes[name] = Node(name=name, pod_cidr=cidr, address=args.address, port=args.port, zone=zone)
            self.node_hosts[name] = addresses.cidr_hosts(cidr)
        self.agent_id = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:16]
        api_url = urllib3.util.parse_url(self.api.configuration.host)
        api_host, api_port = args.api_host or api_url.host, str(args.api_port or api_url.port or 443)
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8",
                         "GAMEDAY_KUBE_AGENT": self.agent_id,
                         # as the kubelet sets them from the `kubernetes` Service (here: the API server itself)
                         "KUBERNETES_SERVICE_HOST": api_host, "KUBERNETES_SERVICE_PORT": api_port,
                         "KUBERNETES_SERVICE_PORT_HTTPS": api_port, "KUBERNETES_PORT": f"tcp://{api_host}:{api_port}"}
        self.cluster = ApiCluster(self.core)
        self.images = {i.name: i for i in (images.parse(spec) for spec in args.image or [])}
        self.provisioner = (Provisioner(self.api, root=Path(args.volumes_root), nodes=list(self.nodes))
                            if args.volumes_root else None)
        if os.environ.get("GAMEDAY_SANDBOX_ID"):
            self.base_env["GAMEDAY_SANDBOX_ID"] = os.environ["GAMEDAY_SANDBOX_ID"]
        self.runners: dict[str, PodRunner] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self.terminating: set[str] = set()
        self.waiting: dict[str, dict[str, Any]] = {}  # pods whose address is not free yet, by uid
        self.lock = threading.RLock()
        self.stop = threading.Event()

    # ---- references from env -------------------------------------------------------------------
    def env_source(self, kind: str, ref: dict[str, Any]) -> str | None:
        try:
            if kind == "configMapKeyRef":
                obj = raw(self.core.read_namespaced_config_map, ref["name"], ref["namespace"])
                return (obj.get("data") or {}).get(ref["key"])
            obj = raw(self.core.read_namespaced_secret, ref["name"], ref["namespace"])
            value = (obj.get("data") or {}).get(ref["key"])
            return base64.b64decode(value).decode() if value is not None else None
        except ApiException as err:
            log.warning("cannot read %s %s/%s: %s", kind, ref["namespace"], ref.get("name"), err.reason)
            return None

    # ---- pods ----------------------------------------------------------------------------------------
    def reconcile(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if spec.get("nodeName") not in self.nodes:
            return
        uid = meta["uid"]
        with self.lock:
            runner = self.runners.get(uid)
            if meta.get("deletionTimestamp"):
                grace = meta.get("deletionGracePeriodSeconds")
                self._terminate(uid, pod, float(30 if grace is None else grace), finalize=True)
                return
            if runner is not None:
                runner.update(pod)
                return
            if (pod.get("status") or {}).get("phase") in TERMINAL:
                return
            node = spec["nodeName"]
            try:
                ip = self.book.claim(addresses.candidates(pod, self.node_hosts[node]),
                                     preferred=(pod.get("status") or {}).get("podIP"))
            except ValueError as err:
                self._not_started(pod, "InvalidAddresses", str(err))
                return
            if ip is None:
                self.waiting[uid] = pod  # retried every step until a pod holding its address is gone
                self._not_started(pod, "AddressInUse", "every address this pod may have is held by another pod")
                return
            self.waiting.pop(uid, None)
            key = f"{meta['namespace']}_{meta['name']}_{uid}"
            dirs = PodDirs(work=self.state_dir / key, logs=self.log_dir / key, volumes=self.state_dir / "volumes" / key)
            self.runners[uid] = PodRunner(pod, ip=ip, host_ip=self.address, dirs=dirs, base_env=self.base_env,
                                          env_source=self.env_source, cluster=self.cluster, images=self.images)
            log.info("pod %s/%s on %s: address %s", meta["namespace"], meta["name"], node, ip)

    def _not_started(self, pod: dict[str, Any], reason: str, message: str) -> None:
        """Tell why a pod cannot start (once per reason): a Ready=False condition with the message."""
        meta = pod["metadata"]
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] != "Ready"]
        if any(c.get("reason") == reason for c in (pod.get("status") or {}).get("conditions") or []):
            return
        log.warning("pod %s/%s cannot start: %s", meta["namespace"], meta["name"], message)
        conditions.append({"type": "Ready", "status": "False", "reason": reason, "message": message})
        try:
            raw(self.core.patch_namespaced_pod_status, meta["name"], meta["namespace"],
                {"status": {"conditions": conditions}}, _content_type=MERGE)
        except ApiException as err:
            log.warning("status of pod %s/%s not sent: %s %s", meta["namespace"], meta["name"], err.status, err.reason)

    def gone(self, pod: dict[str, Any]) -> None:
        """The pod object was removed: stop its processes at once."""
        self._terminate(pod["metadata"]["uid"], pod, 0.0, finalize=False)

    def _terminate(self, uid: str, pod: dict[str, Any], grace: float, *, finalize: bool) -> None:
        with self.lock:
            self.waiting.pop(uid, None)
            if uid in self.terminating:
                return
            self.terminating.add(uid)
            runner = self.runners.get(uid)
        threading.Thread(target=self._stop_pod, args=(uid, pod, runner, grace, finalize),
                         name=f"stop-{pod['metadata']['name']}", daemon=True).start()

    def _stop_pod(self, uid: str, pod: dict[str, Any], runner: PodRunner | None, grace: float,
                  finalize: bool) -> None:
        meta = pod["metadata"]
        try:
            if runner is not None:
                log.info("stopping pod %s/%s (grace %gs)", meta["namespace"], meta["name"], grace)
                runner.terminate(grace)
                self._send_status(runner)
            if finalize:
                body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                        "preconditions": {"uid": uid}}
                try:
                    raw(self.core.delete_namespaced_pod, meta["name"], meta["namespace"], body=body)
                    log.info("pod %s/%s deleted", meta["namespace"], meta["name"])
                except ApiException as err:
                    if err.status not in (404, 409):
                        raise
        except API_ERRORS as err:
            log.warning("finishing the deletion of pod %s/%s failed: %s", meta["namespace"], meta["name"], err)
        finally:
            with self.lock:
                self.runners.pop(uid, None)
                self.sent.pop(uid, None)
                self.terminating.discard(uid)
                if runner is not None:
                    self.book.release(runner.ip)

    def _send_status(self, runner: PodRunner) -> None:
        status = runner.status()
        if self.sent.get(runner.uid) == status:
            return
        try:
            raw(self.core.patch_namespaced_pod_status, runner.name, runner.namespace, {"status": status},
                _content_type=MERGE)
            self.sent[runner.uid] = status
        except ApiException as err:
            if err.status != 404:
                log.warning("status of pod %s/%s not sent: %s %s", runner.namespace, runner.name, err.status,
                            err.reason)

    def step_pods(self) -> None:
        """Every STEP seconds: start, probe and restart containers; send statuses that changed."""
        while not self.stop.wait(STEP):
            with self.lock:
                for pod in list(self.waiting.values()):
                    self.reconcile(pod)
                active = [r for uid, r in self.runners.items() if uid not in self.terminating]
            for runner in active:
                runner.step()
                try:
                    self._send_status(runner)
                except API_ERRORS as err:
                    log.warning("status of pod %s/%s not sent: %s", runner.namespace, runner.name, err)

    # ---- watching ------------------------------------------------------------------------------------
    def list_and_watch(self) -> None:
        """List every pod (resync), then watch for up to WATCH_SECONDS; repeat until stopped."""
        while not self.stop.is_set():
            try:
                listed = raw(self.core.list_pod_for_all_namespaces)
                seen = set()
                for pod in listed.get("items") or []:
                    seen.add(pod["metadata"]["uid"])
                    self.reconcile(pod)
                with self.lock:
                    vanished = [(uid, r.pod) for uid, r in self.runners.items() if uid not in seen]
                    # a pod deleted while no watch ran is no longer waiting for its address: started later
                    # from this stale copy, it would hold the address its successor (same name) needs
                    for uid in [uid for uid in self.waiting if uid not in seen]:
                        del self.waiting[uid]
                for _uid, pod in vanished:
                    self.gone(pod)
                stream = watch.Watch().stream(self.core.list_pod_for_all_namespaces, deserialize=False,
                                              resource_version=listed["metadata"]["resourceVersion"],
                                              timeout_seconds=WATCH_SECONDS)
                for event in stream:
                    if self.stop.is_set():
                        return
                    obj = event.get("raw_object") or event["object"]
                    if event["type"] == "DELETED":
                        self.gone(obj)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self.reconcile(obj)
            except API_ERRORS as err:
                log.warning("pod watch interrupted (%s); listing again", err)
                self.stop.wait(2.0)

    def heartbeat(self) -> None:
        """Renew every node's Lease each LEASE_RENEW seconds; post node status each STATUS_EVERY."""
        since_status = 0.0
        while not self.stop.wait(nodes.LEASE_RENEW):
            since_status += nodes.LEASE_RENEW
            for node in self.nodes.values():
                try:
                    nodes.renew_lease(self.api, node)
                    if since_status >= nodes.STATUS_EVERY:
                        nodes.post_status(self.api, node)
                except API_ERRORS as err:
                    log.warning("heartbeat of node %s failed: %s", node.name, err)
            if since_status >= nodes.STATUS_EVERY:
                since_status = 0.0

    def provision(self) -> None:
        """The twin's volume provisioner: reconcile on every claim or volume event, and every 10 s."""
        assert self.provisioner is not None
        trigger = Trigger(self.stop)
        trigger.watch(self.core.list_persistent_volume_claim_for_all_namespaces)
        trigger.watch(self.core.list_persistent_volume)
        while not self.stop.is_set():
            try:
                self.provisioner.reconcile()
            except API_ERRORS as err:
                log.warning("volume provisioning interrupted (%s); again shortly", err)
            trigger.wait(10.0)

    def wait_for_default_service_account(self) -> None:
        """Hold back readiness (the kubelet port) until pods can be created: the ServiceAccount
        admission plugin refuses pods until the controller-manager made ``default/default``."""
        deadline = Deadline(SERVICE_ACCOUNT_WAIT)
        while not deadline.expired() and not self.stop.is_set():
            try:
                raw(self.core.read_namespaced_service_account, "default", "default")
                return
            except ApiException as err:
                if err.status != 404:
                    raise
            self.stop.wait(0.5)
        log.warning("no default service account after %gs: is the controller-manager running?", SERVICE_ACCOUNT_WAIT)

    # ---- main ----------------------------------------------------------------------------------------
    def run(self) -> int:
        leftovers = kill_leftovers(f"GAMEDAY_KUBE_AGENT={self.agent_id}")
        if leftovers:
            log.info("killed %d process groups a previous agent left running", len(leftovers))
        for node in self.nodes.values():
            nodes.register(self.api, node)
            nodes.renew_lease(self.api, node)
        if self.provisioner is not None:
            self.provisioner.ensure_storage_class()
        self.wait_for_default_service_account()
        server = logserver.serve(self.address, self.port, self.args.tls_cert, self.args.tls_key,
                                 self.args.client_ca, self.log_dir)
        loops = [self.step_pods, self.heartbeat, self.list_and_watch] + ([self.provision] if self.provisioner else [])
        for target in loops:
            threading.Thread(target=target, name=target.__name__, daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        self.stop.wait()
        log.info("stopping: ending every pod's processes")
        server.stopping.set()
        server.shutdown()
        with self.lock:
            runners = list(self.runners.values())
        threads = [threading.Thread(target=r.terminate, args=(min(r.grace_seconds(), SHUTDOWN_GRACE),))
                   for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SHUTDOWN_GRACE + 6)
        return 0


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gameday.kube.agent", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--address", required=True, help="the agent's address (nodes' InternalIP)")
    parser.add_argument("--port", type=int, default=10250, help="kubelet API port (kubectl logs)")
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--client-ca", required=True, help="CA of the API server's kubelet client certificate")
    parser.add_argument("--state-dir", required=True, help="pods' working directories")
    parser.add_argument("--log-dir", required=True, help="containers' logs")
    parser.add_argument("--node", action="append", required=True, metavar="NAME=CIDR[,ZONE]",
                        help="a node to register, its pod CIDR and its topology.kubernetes.io/zone label "
                             "(repeat for more nodes)")
    parser.add_argument("--image", action="append", metavar="NAME=BIN_DIR",
                        help="containers of image NAME (any registry and tag) get BIN_DIR first on PATH (repeatable)")
    parser.add_argument("--api-host", help="KUBERNETES_SERVICE_HOST for pods (default: the kubeconfig's server)")
    parser.add_argument("--api-port", type=int, help="KUBERNETES_SERVICE_PORT for pods (default: the kubeconfig's)")
    parser.add_argument("--volumes-root", help="provision claims of the default StorageClass as local volumes here")
    args = parser.parse_args(argv)
    for item in args.image or []:
        try:
            images.parse(item)
        except ValueError as err:
            parser.error(str(err))
    for item in args.node:
        try:
            _node_arg(item)
        except ValueError:
            parser.error(f"--node {item!r}: expected NAME=CIDR[,ZONE], e.g. node-1=127.10.101.0/24,zone-a")
    return args


def _node_arg(item: str) -> tuple[str, str, str | None]:
    """``node-1=127.10.101.0/24,zone-a`` -> (name, CIDR, zone or None); ValueError when malformed."""
    name, sep, rest = item.partition("=")
    cidr, _, zone = rest.partition(",")
    ipaddress.ip_network(cidr)
    if not sep or not name:
        raise ValueError(item)
    return name, cidr, zone or None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _args(sys.argv[1:] if argv is None else argv)
    return Agent(args).run()


if __name__ == "__main__":
    sys.exit(main())
