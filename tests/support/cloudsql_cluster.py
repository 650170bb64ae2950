"""What the Cloud SQL drill tests stand up beside the local Admin server (tests/support/cloudsql.py):
a Kubernetes API server for the undo records and the lock, and one MariaDB as the site's database, on
a loopback network of their own; and the environment that reaches them as GKE would be reached::

    with control_plane_and_database("cloudsql-drill", net=38) as twin:
        env = staging_environment(twin, name="cloudsql-drill", password_var="GAMEDAY_TEST_...",
                                  site_url="http://127.38.0.250:8080/",
                                  cloud_sql={"project": "sps-staging", "instance": "sps-db"})
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any, Iterator

import yaml

from gameday.kube import build as kube_build
from gameday.kube import members as kube
from gameday.sandbox import db_roles, lifecycle, tls
from gameday.sandbox.members import db
from gameday.sandbox.paths import cache_dir
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin
from tests.support.kube_twin import kubectl

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def control_plane_and_database(name: str, net: int) -> Iterator[Twin]:
    """etcd + kube-apiserver (the undo records' ConfigMaps, the lock's Lease) and one MariaDB on
    127.<net>.x.y, the state namespace made; down and wiped when the block ends."""
    for _label, recipe in kube_build.RECIPES:  # no-op once built
        recipe(cache_dir() / "install.log")
    twin = Twin.create(name, net=net)
    lifecycle.down(twin.paths, wipe=True)
    workloads = [w for w in kube.workloads(twin, nodes=1) if w.name in ("etcd", "kube-apiserver")]
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, workloads=[*workloads, db.workload(twin)],
                        backoff_base=0.5, backoff_cap=5.0)

    def prepare():
        twin.paths.ensure()
        twin.db_password()
        twin.db_replication_password()
        db_roles.ensure(twin)
        kube.prepare(twin)
        db.prepare_member(twin, db.NAME)

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=180)
    try:
        kubectl(twin, "create", "namespace", "gameday")
        yield twin
    finally:
        lifecycle.down(twin.paths, wipe=True)


def staging_environment(twin: Twin, *, name: str, password_var: str, site_url: str, cloud_sql: dict[str, Any],
                        production: bool = False) -> dict:
    """environments/gke-staging.example.yaml, its kubeconfig the control plane's, its database the
    MariaDB here (the password from ``password_var``) and ``cloud_sql`` the local Admin server's instance."""
    data = yaml.safe_load((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    env = copy.deepcopy(data["configuration"]["gameday_environment"])
    kubeconfig = kube.kubeconfig_path(twin)
    env.update(name=name, production=production, site_url=site_url)
    env["trust"] = [{"file": str(tls.ca_bundle_path(twin))}]  # the CA of the database's certificate, as Cloud SQL's
    env.pop("cloud_cdn", None)  # the example's Cloud CDN and Memorystore are not here (and not on loopback):
    env["kubernetes"].pop("object_cache", None)  # the db playbook's flush step has no cache to empty
    env["kubernetes"].update(kubeconfig=str(kubeconfig),
                             context=yaml.safe_load(kubeconfig.read_text())["current-context"])
    env["kubernetes"]["db"] = {"host": db.address(twin), "port": 3306, "database": DB_NAME, "cloud_sql": cloud_sql,
                               "content": "articles-table",  # the test database's articles(id, version)
                               "tls": env["kubernetes"]["db"]["tls"]}  # the example's (verify-ca), as Cloud SQL's
    env["credentials"] = {"db": {"env": password_var, "username": DB_USER}}
    return env
