"""deploy/ renders with kustomize (built from its Go module into the gameday cache) into the objects we mean:
least-privilege RBAC in the target namespaces only, a CronJob with a Secret reference, Locust workers
sized from the traffic model. Schema validation against an API server comes later."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from gameday.load import model
from gameday.load.distributed import worker_count
from gameday.sandbox import install
from gameday.targets import kubernetes_rbac
from gameday.targets.environment import load as load_environment

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = {"staging": "gke-staging", "production": "gke-production"}

# Every permission the Kubernetes target uses, from its calls (gameday/targets/kubernetes_rbac.py).
# A Role may grant nothing else; the search namespace's adds get on the one secret credentials.search names.
def search_secrets(env) -> list[str]:
    """The secrets of the search namespace the environment names (credentials and trust): by name only."""
    namespace = env.kubernetes["search"]["namespace"]
    refs = [*env.credentials.values(), *env.trust]
    return sorted({r["secret"].split("/")[1] for r in refs if r.get("secret", "").startswith(namespace + "/")})


def expected_rules(env) -> dict[str, list[tuple[set, set, set]]]:
    as_sets = lambda rs: [(set(r["apiGroups"]), set(r["resources"]), set(r["verbs"])) for r in rs]  # noqa: E731
    return {"gameday-web": as_sets(kubernetes_rbac.rules()), "gameday-kafka": as_sets(kubernetes_rbac.rules(mirror=True)),
            "gameday-search": as_sets(kubernetes_rbac.rules(secrets=search_secrets(env))),
            "gameday-state": as_sets(kubernetes_rbac.state_rules())}


@pytest.fixture(scope="module")
def kustomize() -> Path:
    install.install_kustomize(install.cache_dir() / "install.log")  # no-op once built (make test builds it)
    return install.kustomize_binary()


def render(kustomize: Path, overlay: str) -> list[dict]:
    out = subprocess.run([str(kustomize), "build", str(ROOT / "deploy" / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_the_objects_we_mean(kustomize, overlay):
    objects = render(kustomize, overlay)
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["CronJob", "Deployment", "Namespace", "NetworkPolicy", "PersistentVolumeClaim", "Role",
                     "RoleBinding", "Service", "ServiceAccount"]
    assert "Secret" not in kinds and "ClusterRole" not in kinds  # credentials are referenced, never rendered
    for o in objects:
        if o["kind"] not in ("Namespace", "Role", "RoleBinding"):
            assert o["metadata"]["namespace"] == "gameday", o["metadata"]["name"]
    (sa,) = by_kind(objects, "ServiceAccount").values()
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    images = {c["image"] for o in objects if o["kind"] in ("CronJob", "Deployment")
              for c in (o["spec"].get("jobTemplate", {}).get("spec", o["spec"])["template"]["spec"]["containers"])}
    assert len(images) == 1 and all(":" in i and "/" in i for i in images)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_rbac_is_least_privilege_in_the_target_namespaces_only(kustomize, overlay):
    objects = render(kustomize, overlay)
    env = load_environment(f"{OVERLAYS[overlay]}.example")
    roles = by_kind(objects, "Role")
    expected = expected_rules(env)
    assert set(roles) == set(expected)
    namespaces = {"gameday-web": env.kubernetes["web"]["namespace"], "gameday-kafka": env.kubernetes["kafka"]["namespace"],
                  "gameday-search": env.kubernetes["search"]["namespace"], "gameday-state": "gameday"}
    for name, role in roles.items():
        assert role["metadata"]["namespace"] == namespaces[name]
        got = [(set(r["apiGroups"]), set(r["resources"]), set(r["verbs"])) for r in role["rules"]]
        assert sorted(got, key=str) == sorted(expected[name], key=str), name
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            if "secrets" in rule["resources"]:  # exactly the secrets the environment names, nothing else
                assert rule["resources"] == ["secrets"] and name == "gameday-search"
                assert sorted(rule["resourceNames"]) == search_secrets(env) == ["sps-search-es-elastic-user",
                                                                                "sps-search-es-http-certs-public"]
            assert not {"persistentvolumeclaims", "persistentvolumes"} & set(rule["resources"])
    for binding in by_kind(objects, "RoleBinding").values():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": binding["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gameday", "namespace": "gameday"}]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_cronjob_runs_the_overlay_environment_with_referenced_credentials(kustomize, overlay):
    objects = render(kustomize, overlay)
    cron = by_kind(objects, "CronJob")["gameday"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert pod["spec"]["serviceAccountName"] == "gameday"
    args = container["args"]
    assert args[:1] == ["run"] and args[args.index("--env") + 1] == OVERLAYS[overlay]
    env = load_environment(f"{OVERLAYS[overlay]}.example")
    assert ("--i-mean-production" in args) == env.production  # production needs the explicit flag
    assert container["envFrom"] == [{"secretRef": {"name": "gameday-credentials"}}]
    assert "env" not in container  # no literal values
    service = by_kind(objects, "Service")["gameday-locust-master"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert {p["containerPort"] for p in container["ports"]} == {5557}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_locust_workers_are_sized_from_the_traffic_model(kustomize, overlay):
    objects = render(kustomize, overlay)
    workers = by_kind(objects, "Deployment")["gameday-locust-worker"]
    assert workers["spec"]["replicas"] == worker_count(model.load().plan(), "surge")
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    assert container["args"][container["args"].index("--master-host") + 1] == "gameday-locust-master"
    # the image copies the project to /opt/gameday and works in /home/gameday: a relative -f finds nothing
    locustfile = Path(container["args"][container["args"].index("-f") + 1])
    containerfile = (ROOT / "deploy" / "image" / "Containerfile").read_text()
    assert "COPY project/ /opt/gameday/" in containerfile and locustfile.is_absolute()
    assert (ROOT / locustfile.relative_to("/opt/gameday")).is_file()
    assert workers["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    # the publisher's credentials by reference only (loadtests/locustfile.py reads them from the environment)
    assert container["envFrom"] == [{"secretRef": {"name": "gameday-publisher", "optional": True}}]
    assert "env" not in container


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_only_gameday_workers_may_reach_the_locust_master(kustomize, overlay):
    objects = render(kustomize, overlay)
    policies = by_kind(objects, "NetworkPolicy")
    pod = by_kind(objects, "CronJob")["gameday"]["spec"]["jobTemplate"]["spec"]["template"]
    workers = by_kind(objects, "Deployment")["gameday-locust-worker"]["spec"]["template"]
    runner = next(p for p in policies.values() if p["spec"]["podSelector"]["matchLabels"].items()
                  <= pod["metadata"]["labels"].items())
    assert runner["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = runner["spec"]["ingress"]
    (source,) = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= workers["metadata"]["labels"].items()
    assert source["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "locust-worker"
    assert rule["ports"] == [{"protocol": "TCP", "port": 5557}]
    worker_policy = next(p for p in policies.values() if p["spec"]["podSelector"]["matchLabels"].items()
                         <= workers["metadata"]["labels"].items())
    assert worker_policy["spec"]["ingress"] == []


def test_worker_count_grows_with_the_audience():
    raw = yaml.safe_load((ROOT / "loadtests" / "traffic.yaml").read_text())
    small = model.TrafficModel.from_dict(raw).plan()
    raw["audience"]["monthly_active_users"] = 500_000_000
    big = model.TrafficModel.from_dict(raw).plan()
    assert worker_count(small) == 2  # the floor: losing one worker pod must not end the load
    assert worker_count(big) > worker_count(small)


def staging_with_component(kustomize: Path, tmp_path: Path, component: str) -> list[dict]:
    """deploy/overlays/staging with the opt-in ``deploy/components/<component>`` added, built by
    kustomize (paths relative: kustomize takes no other); the objects it prints."""
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(ROOT / "deploy" / "overlays" / "staging", tmp_path)],
        "components": [os.path.relpath(ROOT / "deploy" / "components" / component, tmp_path)]}))
    out = subprocess.run([str(kustomize), "build", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def test_the_zone_drill_component_grants_the_node_calls_to_gameday_only(kustomize, tmp_path):
    """Opt-in (an overlay adds components: [../../components/zone-drill]): a ClusterRole of exactly
    kubernetes_rbac.node_rules(), bound to gameday's ServiceAccount and nothing else."""
    objects = staging_with_component(kustomize, tmp_path, "zone-drill")
    (role,) = by_kind(objects, "ClusterRole").values()
    assert role["rules"] == kubernetes_rbac.node_rules()
    (binding,) = by_kind(objects, "ClusterRoleBinding").values()
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gameday", "namespace": "gameday"}]
    assert len(by_kind(objects, "Role")) == 4  # the overlay's namespaced Roles are unchanged


def test_the_disk_loss_component_grants_claim_deletion_in_the_kafka_namespace_only(kustomize, tmp_path):
    """Opt-in (components: [../../components/disk-loss-drill]): a Role in the overlay environment's Kafka
    namespace of exactly kubernetes_rbac.storage_rules(), bound to gameday's ServiceAccount."""
    objects = staging_with_component(kustomize, tmp_path, "disk-loss-drill")
    role = by_kind(objects, "Role")["gameday-kafka-disk-loss"]
    env = load_environment(f"{OVERLAYS['staging']}.example")
    assert role["metadata"]["namespace"] == env.kubernetes["kafka"]["namespace"]
    assert role["rules"] == kubernetes_rbac.storage_rules()
    binding = by_kind(objects, "RoleBinding")["gameday-kafka-disk-loss"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gameday", "namespace": "gameday"}]


def test_the_search_cluster_loss_component_grants_claim_deletion_in_the_search_namespace_only(kustomize, tmp_path):
    """Opt-in (components: [../../components/search-cluster-loss-drill]): a Role in the overlay
    environment's search namespace of exactly kubernetes_rbac.storage_rules(), bound to gameday's
    ServiceAccount; the overlay's other Roles unchanged."""
    objects = staging_with_component(kustomize, tmp_path, "search-cluster-loss-drill")
    roles = by_kind(objects, "Role")
    role = roles["gameday-search-cluster-loss"]
    env = load_environment(f"{OVERLAYS['staging']}.example")
    assert role["metadata"]["namespace"] == env.kubernetes["search"]["namespace"]
    assert role["rules"] == kubernetes_rbac.storage_rules()
    assert len(roles) == 5  # the overlay's four, and this one
    binding = by_kind(objects, "RoleBinding")["gameday-search-cluster-loss"]
    assert binding["roleRef"]["name"] == "gameday-search-cluster-loss"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gameday", "namespace": "gameday"}]
