"""OpenSearch 2.x: three nodes (cluster-manager eligible, data), run as an unprivileged system user,
secured by the ``opensearch-security`` plugin as an ECK cluster is by X-Pack security.

The ``content`` index (1 primary x 2 replicas: a copy on every node) and the filesystem snapshot
repository are created by the bootstrap job; this module only lays out each node's config, data and
log directories.

Security: HTTPS on the REST port and TLS between nodes, with the certificate
:func:`gameday.sandbox.tls.ensure_search_node` issues from the twin's CA (copied into each node's
``config/certs``, owned by the node's user, 0600); HTTP basic auth for one internal user,
``elastic`` (role ``all_access``), whose password is :meth:`Twin.search_password`. Only a bcrypt hash
of it is written, to ``config/opensearch-security/internal_users.yml`` (0600). The plugin reads those
files **only when its index ``.opendistro_security`` does not exist yet** (a new cluster, or one
rebuilt from empty data): the password is made once per twin and kept, so that holds; to change it
on a running cluster, use the plugin's REST API as ``elastic``
(``PUT _plugins/_security/api/internalusers/elastic``) or wipe the twin.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import bcrypt

from ...errors import GamedayError
from ...zones import zone_for
from .. import jvm, tls
from ..install import SYSTEM_USER, java_home
from ..spec import MemberSpec, Workload
from ..twin import PORTS, SEARCH_NODES, SEARCH_USER, Twin

HEAP = "512m"
JVM_OPTIONS = """\
-Xms{heap}
-Xmx{heap}
{flags}
-Djava.io.tmpdir=${{OPENSEARCH_TMPDIR}}
-XX:ErrorFile={node_dir}/logs/hs_err_pid%p.log
18-:-Djava.security.manager=allow
-Djava.util.concurrent.ForkJoinPool.common.threadFactory=org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory
"""


ADMIN_DN = tls.SEARCH_ADMIN_DN  # its certificate stays root's (the bootstrap job's), never a node's
CERTS = "certs"                          # under each node's config directory
SECURITY_DIR = "opensearch-security"     # ditto: the plugin's configuration (read at first init only)


def _meta(kind: str) -> str:
    return f'_meta:\n  type: "{kind}"\n  config_version: 2\n'


def password_hash(password: str) -> str:
    """A bcrypt hash of ``password`` in the ``$2y$`` form the plugin's own ``hash.sh`` prints (the
    same algorithm as Python's ``$2b$``). The password never leaves this process."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()
    return "$2y$" + hashed[4:]


def _hash_matches(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), ("$2b$" + hashed[4:]).encode())
    except ValueError:
        return False


def security_files(password_hash_: str) -> dict[str, str]:
    """The plugin's configuration files (name -> text): every one it needs at first init (a missing
    one leaves it answering 503 "not initialized" for ever), user ``elastic`` with ``all_access``,
    basic auth only, no anonymous access, no audit index."""
    config = _meta("config") + """config:
  dynamic:
    http:
      anonymous_auth_enabled: false
    authc:
      basic_internal_auth_domain:
        http_enabled: true
        transport_enabled: true
        order: 0
        http_authenticator:
          type: basic
          challenge: true
        authentication_backend:
          type: intern
"""
    disabled = "config:\n  enabled: false\n"
    return {
        "config.yml": config,
        "internal_users.yml": _meta("internalusers") + f"""{SEARCH_USER}:
  hash: "{password_hash_}"
  reserved: false
  description: "the twin's superuser (ECK's elastic)"
""",
        "roles_mapping.yml": _meta("rolesmapping") + f"""all_access:
  reserved: true
  users: ["{SEARCH_USER}"]
""",
        "roles.yml": _meta("roles"), "action_groups.yml": _meta("actiongroups"), "tenants.yml": _meta("tenants"),
        "nodes_dn.yml": _meta("nodesdn"),
        "audit.yml": _meta("audit") + disabled, "allowlist.yml": _meta("allowlist") + disabled,
        "whitelist.yml": _meta("whitelist") + disabled,
    }


def _write_private(path: Path, text: str | bytes) -> None:
    """Write ``path`` 0600 from its first byte, then move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)
    tmp.replace(path)


def _current_hash(conf: Path, password: str) -> str | None:
    """The hash in a node's existing internal_users.yml if it is of ``password`` (kept: no churn)."""
    try:
        text = (conf / SECURITY_DIR / "internal_users.yml").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.strip().startswith("hash:"):
            hashed = line.split(":", 1)[1].strip().strip('"')
            return hashed if _hash_matches(password, hashed) else None
    return None


def run_as() -> str | None:
    """OpenSearch refuses root: as root we run it as the ``gameday`` system user."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def _check_readable_by(user: str, path) -> None:
    """OpenSearch runs as ``user``: every directory above its distribution must let that user through."""
    probe = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", "test", "-x", str(path)],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise GamedayError(f"search: user {user!r} cannot reach {path} (a directory above it is private)",
                           hint="keep the download cache in a world-readable place: unset GAMEDAY_CACHE "
                                "(default /var/cache/gameday) or point it at a directory with mode 755")


def node_dir(twin: Twin, i: int):
    return twin.paths.data / f"search-{i}"


def snapshot_dir(twin: Twin):
    """The filesystem snapshot repository (``path.repo``): outside every node's directory, so it
    survives the loss of the whole cluster as a real cluster's snapshots (GCS on GKE) do."""
    return twin.paths.data / "snapshots"


def data_dir(twin: Twin, i: int):
    """Node ``i``'s ``path.data``: what a lost disk takes (its config and logs stay, as a pod's
    ConfigMap and log collector would)."""
    return node_dir(twin, i) / "data"


def storage_lost(twin: Twin, i: int) -> bool:
    """True when node ``i`` is laid out (its config exists) but its data directory is gone."""
    return (node_dir(twin, i) / "config").is_dir() and not data_dir(twin, i).exists()


def destroy_data(twin: Twin, i: int) -> str:
    """Delete node ``i``'s whole data directory (cluster state, cluster UUID, shards): the fault of
    the cluster-loss drill. The node must not be running. Returns the directory. Refuses when the
    snapshot repository would go with it (it must survive, see :func:`snapshot_dir`)."""
    path = data_dir(twin, i)
    if snapshot_dir(twin).resolve().is_relative_to(path.resolve()):
        raise GamedayError(f"search-{i}: the snapshot repository {snapshot_dir(twin)} lies inside {path}; not deleted")
    if path.exists():
        shutil.rmtree(path)
    return str(path)


def make_empty_data(twin: Twin, i: int) -> str:
    """Give node ``i`` an empty data directory owned by the user OpenSearch runs as (a new volume):
    started on it, the node bootstraps or joins a cluster from nothing. Returns the directory."""
    path = data_dir(twin, i)
    path.mkdir(parents=True, exist_ok=True)
    user = run_as()
    if user:
        ids = pwd.getpwnam(user)
        os.chown(path, ids.pw_uid, ids.pw_gid)
    return str(path)


def opensearch_yml(twin: Twin, i: int) -> str:
    seeds = ", ".join(f'"{twin.address("search", n)}:{PORTS["search_transport"]}"' for n in range(1, SEARCH_NODES + 1))
    # a standby region starts with fewer nodes (its shape); the others join it when it is scaled up
    managers = ", ".join(f'"search-{n}"' for n in range(1, twin.shape.search_nodes + 1))
    d = node_dir(twin, i)
    return "\n".join([
        f"cluster.name: gameday-{twin.name}",
        f"node.name: search-{i}",
        f"network.host: {twin.address('search', i)}",
        f"http.port: {PORTS['search']}",
        f"transport.port: {PORTS['search_transport']}",
        f"discovery.seed_hosts: [{seeds}]",
        f"cluster.initial_cluster_manager_nodes: [{managers}]",
        f"path.data: {d / 'data'}",
        f"path.logs: {d / 'logs'}",
        f"path.repo: [\"{snapshot_dir(twin)}\"]",
        "cluster.routing.allocation.disk.threshold_enabled: false",
        "action.destructive_requires_name: true",
        # A write to a lost `content` index must fail, not silently create a one-shard index with
        # the wrong mapping (the playbook restores it from a snapshot instead).
        'action.auto_create_index: "-content,+*"',
        # security (the opensearch-security plugin): TLS on both layers, the node certificate from the twin's CA
        f"plugins.security.ssl.transport.pemcert_filepath: {CERTS}/node.pem",
        f"plugins.security.ssl.transport.pemkey_filepath: {CERTS}/node-key.pem",
        f"plugins.security.ssl.transport.pemtrustedcas_filepath: {CERTS}/ca.pem",
        "plugins.security.ssl.transport.enforce_hostname_verification: false",
        "plugins.security.ssl.http.enabled: true",
        f"plugins.security.ssl.http.pemcert_filepath: {CERTS}/node.pem",
        f"plugins.security.ssl.http.pemkey_filepath: {CERTS}/node-key.pem",
        f"plugins.security.ssl.http.pemtrustedcas_filepath: {CERTS}/ca.pem",
        "plugins.security.allow_default_init_securityindex: true",  # from config/opensearch-security/
        f'plugins.security.authcz.admin_dn: ["{ADMIN_DN}"]',
        f'plugins.security.nodes_dn: ["{tls.SEARCH_NODE_DN}"]',
        'plugins.security.restapi.roles_enabled: ["all_access"]',
        "plugins.security.audit.type: noop",
        "plugins.security.compliance.salt: gameday-twin-mask",  # field masking is unused; silences a WARN
        "",
    ])


def prepare(twin: Twin) -> None:
    """Write each node's config directory; create data, log and snapshot directories it owns."""
    user = run_as()
    ids = pwd.getpwnam(user) if user else None
    if user:
        _check_readable_by(user, twin.loc.opensearch_home / "bin" / "opensearch")
    dist_conf = twin.loc.opensearch_home / "config"
    snaps = snapshot_dir(twin)
    snaps.mkdir(parents=True, exist_ok=True)
    f = tls.ensure_search_node(twin)
    tls.ensure_search_admin(twin)
    certs = {"node.pem": f.search_node_cert.read_bytes(), "node-key.pem": f.search_node_key.read_bytes(),
             "ca.pem": f.ca_cert.read_bytes()}
    password = twin.search_password()
    hashed = _current_hash(node_dir(twin, 1) / "config", password) or password_hash(password)
    security = security_files(hashed)
    for i in range(1, SEARCH_NODES + 1):
        d = node_dir(twin, i)
        conf = d / "config"
        for sub in (conf, d / "data", d / "logs", conf / CERTS, conf / SECURITY_DIR):
            sub.mkdir(parents=True, exist_ok=True)
        for private in (conf / CERTS, conf / SECURITY_DIR):
            private.chmod(0o700)
        shutil.copy(dist_conf / "log4j2.properties", conf / "log4j2.properties")
        (conf / "jvm.options").write_text(JVM_OPTIONS.format(heap=HEAP, flags="\n".join(jvm.FLAGS), node_dir=d))
        (conf / "opensearch.yml").write_text(opensearch_yml(twin, i))
        for name, data in certs.items():
            _write_private(conf / CERTS / name, data)
        for name, text in security.items():
            _write_private(conf / SECURITY_DIR / name, text)
        if ids:
            for root, _dirs, files in os.walk(d):
                os.chown(root, ids.pw_uid, ids.pw_gid)
                for f in files:
                    os.chown(os.path.join(root, f), ids.pw_uid, ids.pw_gid)
    if ids:
        os.chown(snaps, ids.pw_uid, ids.pw_gid)


def workload(twin: Twin) -> Workload:
    members = []
    for i in range(1, SEARCH_NODES + 1):
        address = twin.address("search", i)
        d = node_dir(twin, i)
        members.append(MemberSpec(
            name=f"search-{i}", index=i, address=address,
            ports={"http": PORTS["search"], "transport": PORTS["search_transport"]},
            argv=[str(twin.loc.opensearch_home / "bin" / "opensearch")],
            env={"OPENSEARCH_PATH_CONF": str(d / "config"), "OPENSEARCH_JAVA_OPTS": f"-Xms{HEAP} -Xmx{HEAP}",
                 "JAVA_HOME": java_home()},
            cwd=str(d),
            run_as=run_as(),
            # a 200 over HTTPS as elastic: the node is up, in a cluster, and its security index loaded
            # (it answers 503 "not initialized" before). The password stays in its 0600 file.
            readiness={"type": "https", "url": f"https://{address}:{PORTS['search']}/_cluster/health",
                       "ca": str(tls.ca_bundle_path(twin)),
                       "auth": {"user": SEARCH_USER, "env_file": str(twin.search_env_file)}},
            labels={"app": "opensearch", "node-id": str(i), "role": "cluster_manager-data", "zone": zone_for(i)},
            stop_grace=15.0,
        ))
    return Workload(name="search", layer="search", kind="service", replicas=twin.shape.search_nodes, members=members,
                    labels={"layer": "search"})
