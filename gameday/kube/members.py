"""The Kubernetes control plane and the node agent as members of the sandbox supervisor.

Only a twin brought up with ``--kubernetes`` has them. Addresses are on the ``kube`` layer
(``127.<net>.90.N``): etcd .1, kube-apiserver .2 (:6443, TLS), kube-controller-manager .3,
kube-scheduler .4, the node agent .5 (its kubelet port :10250 serves ``kubectl logs``). Pods get
addresses from ``127.<net>.<100+node>.0/24``; Services' cluster IPs come from ``127.<net>.96.0/24``
(numbers only: nothing routes them). The admin kubeconfig is ``<twin home>/kubeconfig``::

    kubectl --kubeconfig ~/.local/state/gameday/default/kubeconfig get nodes
    kubectl --context gameday-default get nodes     # the same identity, merged into ~/.kube/config
"""

from __future__ import annotations

from pathlib import Path

from .. import zones
from ..sandbox.spec import MemberSpec, Workload
from ..sandbox.twin import LAYERS, Twin
from . import build, kubeconfig_merge, pki

ETCD_PORT, ETCD_PEER_PORT = 2379, 2380
APISERVER_PORT = 6443
CONTROLLER_MANAGER_PORT, SCHEDULER_PORT = 10257, 10259
KUBELET_PORT = 10250
NODES = 3  # one per zone (gameday.zones.ZONES): node N is in zone_for(N)
SERVICE_LAYER = 96
# The twin's image map (gameday.kube.images): deploy/'s `image: gameday` (any registry, any tag) runs
# this checkout's venv, whose bin directory goes first on the container's PATH.
IMAGES = {"gameday": lambda twin: str(Path(twin.python).parent)}
# What the API server writes to its audit log (<logs>/kube-apiserver-audit.log): every request a
# workload's ServiceAccount makes (user, groups, and the pod a bound token belongs to), none of the
# control plane's own (kube-system's controllers, nodes, the admin), at Metadata level (no bodies).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""


def addresses(twin: Twin) -> dict[str, str]:
    return {name: twin.address("kube", i)
            for i, name in enumerate(("etcd", "apiserver", "controller-manager", "scheduler", "node-agent"), 1)}


def server_url(twin: Twin) -> str:
    return f"https://{addresses(twin)['apiserver']}:{APISERVER_PORT}"


def kubeconfig_path(twin: Twin) -> Path:
    """The admin kubeconfig (cluster-admin through a client certificate) for kubectl and tests."""
    return twin.paths.home / "kubeconfig"


def pki_files(twin: Twin) -> pki.PkiFiles:
    return pki.PkiFiles(twin.paths.secrets / "kube")


def _component_kubeconfig(twin: Twin, client: str) -> Path:
    return twin.paths.secrets / "kube" / f"{client}.kubeconfig"


def audit_log_path(twin: Twin) -> Path:
    """The API server's audit log: what workloads' ServiceAccounts asked for (AUDIT_POLICY)."""
    return twin.paths.logs / "kube-apiserver-audit.log"


def _audit_policy_path(twin: Twin) -> Path:
    return twin.paths.conf / "kube-audit-policy.yaml"


def volumes_root(twin: Twin) -> Path:
    """Where the twin's provisioner keeps PersistentVolumes' data (one directory per claim)."""
    return twin.paths.data / "persistent-volumes"


def pod_cidr(twin: Twin, node: int) -> str:
    return f"127.{twin.net}.{LAYERS['pods'] + node}.0/24"


def service_cidr(twin: Twin) -> str:
    return f"127.{twin.net}.{SERVICE_LAYER}.0/24"


def prepare(twin: Twin) -> None:
    """Certificates, keys and kubeconfigs (kept if they exist); the etcd data directory."""
    addr = addresses(twin)
    files = pki.ensure(pki_files(twin).root, apiserver_ips=[addr["apiserver"], f"127.{twin.net}.{SERVICE_LAYER}.1"],
                       agent_ips=[addr["node-agent"]])
    for client in ("controller-manager", "scheduler", "node-agent"):
        _component_kubeconfig(twin, client).write_text(pki.kubeconfig(server_url(twin), files, client))
    kubeconfig_path(twin).write_text(pki.kubeconfig(server_url(twin), files, "admin"))
    kubeconfig_path(twin).chmod(0o600)
    kubeconfig_merge.merge(twin.name, server_url(twin), files)  # context gameday-<twin> in the user's kubeconfig, as kind does
    (twin.paths.data / "etcd").mkdir(parents=True, exist_ok=True)
    (twin.paths.data / "etcd").chmod(0o700)
    _audit_policy_path(twin).parent.mkdir(parents=True, exist_ok=True)
    _audit_policy_path(twin).write_text(AUDIT_POLICY)
    volumes_root(twin).mkdir(parents=True, exist_ok=True)


def _etcd(twin: Twin) -> MemberSpec:
    me = addresses(twin)["etcd"]
    client, peer = f"http://{me}:{ETCD_PORT}", f"http://{me}:{ETCD_PEER_PORT}"
    return MemberSpec(
        name="etcd-1", index=1, address=me, ports={"client": ETCD_PORT, "peer": ETCD_PEER_PORT},
        argv=[str(build.binaries()["etcd"]), "--name", "etcd-1", "--data-dir", str(twin.paths.data / "etcd"),
              "--listen-client-urls", client, "--advertise-client-urls", client,
              "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
              "--initial-cluster", f"etcd-1={peer}", "--initial-cluster-state", "new",
              "--log-level", "warn",
              # A throwaway twin on a shared disk: no fsync per write (etcd would be the bottleneck).
              "--unsafe-no-fsync", "--quota-backend-bytes", str(2 * 1024**3)],
        readiness={"type": "http", "url": f"{client}/health"},
        labels={"app": "etcd"}, stop_grace=10.0,
    )


def _apiserver(twin: Twin) -> MemberSpec:
    me = addresses(twin)["apiserver"]
    files = pki_files(twin)
    cert, key = files.serving("apiserver")
    kcert, kkey = files.client("apiserver-kubelet-client")
    return MemberSpec(
        name="kube-apiserver-1", index=1, address=me, ports={"https": APISERVER_PORT},
        argv=[str(build.binaries()["kube-apiserver"]),
              f"--etcd-servers=http://{addresses(twin)['etcd']}:{ETCD_PORT}",
              f"--bind-address={me}", f"--secure-port={APISERVER_PORT}", f"--advertise-address={me}",
              f"--tls-cert-file={cert}", f"--tls-private-key-file={key}", f"--client-ca-file={files.ca_cert}",
              f"--service-account-key-file={files.sa_pub}", f"--service-account-signing-key-file={files.sa_key}",
              "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
              f"--service-cluster-ip-range={service_cidr(twin)}",
              "--authorization-mode=RBAC",
              f"--kubelet-client-certificate={kcert}", f"--kubelet-client-key={kkey}",
              f"--kubelet-certificate-authority={files.ca_cert}",
              "--kubelet-preferred-address-types=InternalIP",
              # Endpoints may not hold loopback addresses, so the `kubernetes` Service gets none.
              "--endpoint-reconciler-type=none",
              "--profiling=false", "--event-ttl=1h",
              f"--audit-policy-file={_audit_policy_path(twin)}", f"--audit-log-path={audit_log_path(twin)}",
              "--audit-log-maxsize=50", "--audit-log-maxbackup=2"],
        readiness={"type": "https", "url": f"https://{me}:{APISERVER_PORT}/readyz", "ca": str(files.ca_cert)},
        labels={"app": "kube-apiserver"}, stop_grace=10.0,
    )


def _controller_manager(twin: Twin) -> MemberSpec:
    me = addresses(twin)["controller-manager"]
    files = pki_files(twin)
    kubeconfig = _component_kubeconfig(twin, "controller-manager")
    return MemberSpec(
        name="kube-controller-manager-1", index=1, address=me, ports={"https": CONTROLLER_MANAGER_PORT},
        argv=[str(build.binaries()["kube-controller-manager"]),
              f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
              f"--authorization-kubeconfig={kubeconfig}",
              f"--bind-address={me}", f"--secure-port={CONTROLLER_MANAGER_PORT}",
              f"--service-account-private-key-file={files.sa_key}", f"--root-ca-file={files.ca_cert}",
              f"--service-cluster-ip-range={service_cidr(twin)}",
              "--use-service-account-credentials=true", "--leader-elect=false", "--profiling=false",
              # Pods of a node whose lease lapsed are evicted after this long (kubelet default: 5m).
              "--node-monitor-grace-period=40s"],
        readiness={"type": "tcp", "host": me, "port": CONTROLLER_MANAGER_PORT},
        labels={"app": "kube-controller-manager"}, stop_grace=5.0,
    )


def _scheduler(twin: Twin) -> MemberSpec:
    me = addresses(twin)["scheduler"]
    kubeconfig = _component_kubeconfig(twin, "scheduler")
    return MemberSpec(
        name="kube-scheduler-1", index=1, address=me, ports={"https": SCHEDULER_PORT},
        argv=[str(build.binaries()["kube-scheduler"]),
              f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
              f"--authorization-kubeconfig={kubeconfig}",
              f"--bind-address={me}", f"--secure-port={SCHEDULER_PORT}", "--leader-elect=false",
              "--profiling=false"],
        readiness={"type": "tcp", "host": me, "port": SCHEDULER_PORT},
        labels={"app": "kube-scheduler"}, stop_grace=5.0,
    )


def _node_agent(twin: Twin, nodes: int) -> MemberSpec:
    me = addresses(twin)["node-agent"]
    files = pki_files(twin)
    cert, key = files.serving("node-agent")
    argv = [twin.python, "-m", "gameday.kube.agent",
            "--kubeconfig", str(_component_kubeconfig(twin, "node-agent")),
            "--address", me, "--port", str(KUBELET_PORT),
            "--tls-cert", str(cert), "--tls-key", str(key), "--client-ca", str(files.ca_cert),
            "--state-dir", str(twin.paths.data / "pods"), "--log-dir", str(twin.paths.logs / "pods"),
            "--volumes-root", str(volumes_root(twin))]
    for name, bin_dir in IMAGES.items():
        argv += ["--image", f"{name}={bin_dir(twin)}"]
    for i in range(1, nodes + 1):
        argv += ["--node", f"{twin.name}-node-{i}={pod_cidr(twin, i)},{zones.zone_for(i)}"]
    return MemberSpec(
        name="node-agent-1", index=1, address=me, ports={"kubelet": KUBELET_PORT}, argv=argv,
        readiness={"type": "tcp", "host": me, "port": KUBELET_PORT},  # listens once its nodes are registered
        labels={"app": "node-agent"}, stop_grace=15.0,
    )


def workloads(twin: Twin, nodes: int = NODES) -> list[Workload]:
    """etcd, then the apiserver, then the controller-manager, scheduler and node agent."""
    def one(name: str, member: MemberSpec, after: list[str]) -> Workload:
        return Workload(name=name, layer="kube", kind="service", replicas=1, members=[member], after=after,
                        labels={"layer": "kubernetes"})
    return [
        one("etcd", _etcd(twin), []),
        one("kube-apiserver", _apiserver(twin), ["etcd"]),
        one("kube-controller-manager", _controller_manager(twin), ["kube-apiserver"]),
        one("kube-scheduler", _scheduler(twin), ["kube-apiserver"]),
        one("node-agent", _node_agent(twin, nodes), ["kube-apiserver"]),
    ]
