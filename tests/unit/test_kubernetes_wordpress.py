"""The Kubernetes twin with WordPress as its web tier (issue 17, C6): the objects and the start order made
from the twin's topology, without a cluster. Each web pod runs the supervisor's launcher with its own
address, name and run directory; the object cache and the relay stay outside; the Redis password is in
a Secret of its own; the install job comes before web. The Python site's objects are unchanged."""

from __future__ import annotations

import dataclasses

from gameday.kube import workloads
from gameday.sandbox import topology
from gameday.sandbox.members import redis_cache
from gameday.sandbox.shape import Shape
from gameday.sandbox.twin import Twin
from gameday.sandbox.wordpress import launch
from gameday.site.indexer import RELAY_ENV


def _twin(monkeypatch, tmp_path, web: str = "wordpress") -> Twin:
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("unit", net=77)
    return dataclasses.replace(twin, shape=Shape(web=web))


def _by_kind(objs: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def _expanded(container: dict, **values: str) -> list[str]:
    """The container's args as the node agent runs them: ``$(VAR)`` replaced by the pod's values."""
    out = []
    for arg in container["args"]:
        for key, value in values.items():
            arg = arg.replace(f"$({key})", value)
        out.append(arg)
    return out


def test_each_web_pod_runs_the_launcher_with_its_own_address_name_and_run_directory(monkeypatch, tmp_path):
    twin = _twin(monkeypatch, tmp_path)
    objs = workloads.objects(twin, part="web")
    deployment = _by_kind(objs, "Deployment", "web")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == [twin.python] and container["args"][:2] == ["-m", workloads.WORDPRESS_LAUNCHER]
    args = container["args"]
    assert args[args.index("--address") + 1] == "$(POD_IP)" and args[args.index("--member") + 1] == "$(POD_NAME)"
    assert args[args.index("--run-dir") + 1] == workloads.pod_run_dir(twin)
    assert spec["volumes"] == [{"name": "run", "emptyDir": {}}]
    assert container["volumeMounts"] == [{"name": "run", "mountPath": workloads.pod_run_dir(twin)}]
    env = {e["name"]: e for e in container["env"]}
    names = [e["name"] for e in container["env"]]
    assert names[:2] == ["POD_NAME", "POD_IP"]  # defined before the args that use them
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["readinessProbe"]["failureThreshold"] == 3  # the replica's failure_threshold (a pod's default is 2)
    assert deployment["spec"]["replicas"] == 3 and deployment["metadata"]["labels"]["app"] == "wordpress"
    # two pods: two replicas that share nothing (the launcher renders each one's configs)
    short = {workloads.pod_run_dir(twin): "/run/unit-web-pod"}  # pytest's tmp_path: too long for a socket's
    first = launch.parse([short.get(a, a) for a in _expanded(container, POD_IP="127.77.101.2", POD_NAME="web-5d8-abcde")[2:]])
    second = launch.parse([short.get(a, a) for a in _expanded(container, POD_IP="127.77.102.3", POD_NAME="web-5d8-fghij")[2:]])
    one, two = (launch.render_configs(r, root=False) for r in (first, second))
    assert "listen 127.77.101.2:8000;" in one["nginx.conf"] and "X-Served-By web-5d8-abcde" in one["nginx.conf"]
    assert "listen 127.77.102.3:8000;" in two["nginx.conf"] and "web-5d8-abcde" not in two["nginx.conf"]
    assert "127.77.20.1" not in one["nginx.conf"] + two["nginx.conf"]  # nothing of the supervisor's web-1


def test_the_redis_password_is_in_a_secret_of_its_own_never_in_the_databases(monkeypatch, tmp_path):
    twin = _twin(monkeypatch, tmp_path)
    objs = workloads.objects(twin, part="web")
    password = redis_cache.password(twin)
    db_secret = _by_kind(objs, "Secret", "sandbox-db")
    assert redis_cache.PASSWORD_ENV not in db_secret["stringData"] and password not in str(db_secret)
    assert _by_kind(objs, "Secret", "redis-auth")["stringData"] == {"password": password}
    container = _by_kind(objs, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env[redis_cache.PASSWORD_ENV]["valueFrom"]["secretKeyRef"] == {"name": "redis-auth", "key": "password"}
    assert env["GAMEDAY_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "sandbox-db"
    assert password not in str(_by_kind(objs, "Deployment", "web"))
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds.index(("Secret", "redis-auth")) < kinds.index(("Deployment", "web"))


def test_the_indexer_pods_leave_the_outbox_to_the_java_relay(monkeypatch, tmp_path):
    objs = workloads.objects(_twin(monkeypatch, tmp_path), part="web")
    container = _by_kind(objs, "Deployment", "indexer")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in container["env"]}[RELAY_ENV] == "0"


def test_the_cache_and_the_relay_stay_outside_and_the_install_job_comes_before_web(monkeypatch, tmp_path):
    twin = _twin(monkeypatch, tmp_path)
    plain, kube = topology.build(twin), topology.build(twin, kubernetes=True)
    for name in ("web", "indexer", "db", "kafka", "search"):
        assert kube.workload(name).replicas == 0
    for name in ("cache", "relay"):  # supervisor members, as in the process twin
        assert kube.workload(name).replicas == plain.workload(name).replicas >= 1
    assert "cdn" not in [w.name for w in kube.workloads]
    assert "kube-data" in kube.workload("wp-bootstrap").after and "kube-data" in kube.workload("bootstrap").after
    assert {"wp-bootstrap", "bootstrap", "node-agent"} <= set(kube.workload("kube-workloads").after)
    names = {w.name for w in kube.workloads}
    for w in kube.workloads:  # every workload waits only for workloads the topology has
        assert set(w.after) <= names, (w.name, set(w.after) - names)


def test_the_python_sites_pods_are_unchanged(monkeypatch, tmp_path):
    twin = _twin(monkeypatch, tmp_path, web="python")
    objs = workloads.objects(twin, part="web")
    spec = _by_kind(objs, "Deployment", "web")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert "volumes" not in spec and "volumeMounts" not in container and "--member" not in container["args"]
    assert "gunicorn" in " ".join(container["args"]) and "$(POD_IP)" in " ".join(container["args"])
    assert not [o for o in objs if o["metadata"]["name"] == "redis-auth"]
    assert "wp-bootstrap" not in topology.build(twin, kubernetes=True).workload("kube-workloads").after


def test_the_publishers_credential_is_a_secret_clients_read_and_no_pod_does(monkeypatch, tmp_path):
    from gameday.sandbox.members import wordpress
    twin = _twin(monkeypatch, tmp_path)
    user, password = wordpress.publisher_credentials(twin)
    secret = _by_kind(workloads.credential_objects(twin), "Secret", "wordpress-publisher")
    assert secret["stringData"] == {"username": user, "password": password}
    assert password not in str(workloads.objects(twin, part="all"))
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "python"))
    python = dataclasses.replace(Twin.create("unit", net=77), shape=Shape(web="python"))
    assert not [o for o in workloads.credential_objects(python) if o["metadata"]["name"] == "wordpress-publisher"]
