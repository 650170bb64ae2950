"""The Kubernetes target's logic that needs no cluster: config, budgets, StatefulSet ordinals, and the
sandbox plumbing (EndpointSlices for loopback pods, HAProxy slot plans, manifests from the topology)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from gameday.errors import UsageError
from gameday.kube import addresses, endpointslices, haproxy_backends, workloads
from gameday.sandbox import topology
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets import kubernetes as k8s
from gameday.targets import kubernetes_budgets as budgets
from gameday.targets import kubernetes_pods as podfacts
from gameday.targets import kubernetes_selectors as selectors
from gameday.targets import kubernetes_workloads as kw
from gameday.targets.environment import from_mapping, load

ROOT = Path(__file__).resolve().parents[2]


def pod(name: str, *, ready: bool = True, labels: dict | None = None, deleting: bool = False, ip: str = "127.1.101.2",
        phase: str = "Running") -> dict:
    meta = {"name": name, "namespace": "gameday", "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8000}]}]},
            "status": {"phase": phase, "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def budget(*, allowed: int, desired_healthy: int, selector: dict | None = None, generation: int = 1,
           observed: int = 1) -> dict:
    return {"metadata": {"name": "web", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector},
            "status": {"disruptionsAllowed": allowed, "desiredHealthy": desired_healthy, "observedGeneration": observed}}


# ---- selectors and budgets -------------------------------------------------------------------------

def test_label_selectors_match_like_kubernetes():
    labels = {"app": "web", "tier": "frontend"}
    assert selectors.selector_matches({"matchLabels": {"app": "web"}}, labels)
    assert not selectors.selector_matches({"matchLabels": {"app": "kafka"}}, labels)
    assert selectors.selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]}, labels)
    assert not selectors.selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}, labels)
    assert selectors.selector_matches({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels)
    assert not selectors.selector_matches({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels)
    assert selectors.selector_matches({}, labels)          # policy/v1: an empty selector selects every pod
    assert not selectors.selector_matches(None, labels)    # no selector selects nothing


def test_a_budget_allows_what_the_controller_says_but_never_more_than_the_live_count():
    three = [pod("a"), pod("b"), pod("c")]
    assert budgets.disruptions_allowed(budget(allowed=1, desired_healthy=2), three) == 1
    # A pod was just deleted: the controller still says 1, but only 2 are healthy now (2 - 2 = 0).
    two = [pod("a"), pod("b"), pod("c", deleting=True)]
    assert budgets.disruptions_allowed(budget(allowed=1, desired_healthy=2), two) == 0
    not_ready = [pod("a"), pod("b"), pod("c", ready=False)]
    assert budgets.disruptions_allowed(budget(allowed=1, desired_healthy=2), not_ready) == 0
    # The controller has not looked at the current generation yet: nothing is allowed.
    assert budgets.disruptions_allowed(budget(allowed=1, desired_healthy=2, generation=2, observed=1), three) == 0
    # Pods the budget does not select do not count.
    others = [pod("a"), pod("x", labels={"app": "kafka"}), pod("y", labels={"app": "kafka"})]
    assert budgets.disruptions_allowed(budget(allowed=1, desired_healthy=1), others) == 0


def test_blocking_budgets_name_the_budget_and_spare_a_pod_that_is_not_ready():
    pods = [pod("a"), pod("b"), pod("c", ready=False)]
    blocked = budget(allowed=0, desired_healthy=2)
    assert budgets.blocking_budgets(pods[0], [blocked], pods) == ["web"]
    assert budgets.blocking_budgets(pods[2], [blocked], pods) == []       # not ready: costs the budget nothing
    other = budget(allowed=0, desired_healthy=2, selector={"matchLabels": {"app": "kafka"}})
    assert budgets.blocking_budgets(pods[0], [other], pods) == []
    assert budgets.blocking_budgets(pod("a"), [budget(allowed=1, desired_healthy=2)], [pod("a"), pod("b"), pod("c")]) == []


def test_taking_several_pods_at_once_is_judged_against_each_budget_before_any_goes():
    three = [pod("a"), pod("b"), pod("c")]
    one = budget(allowed=1, desired_healthy=2)
    assert budgets.budgets_exceeded(three[:1], [one], three) == []
    assert budgets.budgets_exceeded(three[:2], [one], three) == ["web: 2 of its pods, it allows 1 now"]
    # with one pod already down the budget is spent: only the pod that is not ready may go
    half_down = [pod("a"), pod("b", ready=False), pod("c")]
    assert budgets.budgets_exceeded(half_down[:2], [one], half_down) == ["web: 1 of its pods, it allows 0 now"]
    assert budgets.budgets_exceeded(half_down[1:2], [one], half_down) == []
    kafka = budget(allowed=0, desired_healthy=3, selector={"matchLabels": {"app": "kafka"}})
    assert budgets.budgets_exceeded(three, [kafka], three) == []


# ---- StatefulSet ordinals and the stopped-pods record ----------------------------------------------

def test_statefulsets_whose_ordinals_start_at_one_stop_their_highest_ordinal():
    assert kw.statefulset_stop_replicas("kafka-3", 3, start=1) == 2
    with pytest.raises(UsageError) as err:
        kw.statefulset_stop_replicas("kafka-2", 3, start=1)
    assert "stop kafka-3" in str(err.value)
    assert kw.statefulset_start_replicas("kafka-3", 2, start=1) == 3
    assert kw.ordinals_start({"spec": {"ordinals": {"start": 1}}}) == 1 and kw.ordinals_start({"spec": {}}) == 0


def test_kafka_and_search_pods_get_a_node_id_from_their_pod_index_or_name():
    indexed = pod("kafka-2", labels={"app.kubernetes.io/name": "kafka", "apps.kubernetes.io/pod-index": "2"})
    assert podfacts.node_labels(indexed, "kafka")["node-id"] == "2"
    strimzi = pod("events-combined-5", labels={"strimzi.io/pool-name": "combined"})
    assert podfacts.node_labels(strimzi, "kafka-controllers")["node-id"] == "5"
    assert podfacts.node_labels(pod("search-3"), "search")["node-id"] == "3"
    own = pod("kafka-2", labels={"node-id": "7"})
    assert podfacts.node_labels(own, "kafka")["node-id"] == "7"           # a label the pod has wins
    assert "node-id" not in podfacts.node_labels(pod("web-7d9f-12345"), "web")


def test_only_the_highest_statefulset_ordinal_can_be_stopped():
    assert kw.statefulset_stop_replicas("kafka-2", 3) == 2
    with pytest.raises(UsageError) as err:
        kw.statefulset_stop_replicas("kafka-0", 3)
    assert "not the highest ordinal of StatefulSet kafka" in str(err.value)
    assert "kill kafka-0 instead" in str(err.value) and "stop kafka-2" in str(err.value)
    assert kw.statefulset_start_replicas("kafka-2", 2) == 3
    assert kw.statefulset_start_replicas("kafka-1", 3) == 3      # running already: never scale down
    assert kw.statefulset_start_replicas("kafka-4", 2) == 5


def test_the_stopped_pods_record_survives_garbage():
    assert kw.stopped_list({"metadata": {"annotations": {kw.STOPPED_ANNOTATION: '["web-a"]'}}}) == ["web-a"]
    assert kw.stopped_list({"metadata": {"annotations": {kw.STOPPED_ANNOTATION: "not json"}}}) == []
    assert kw.stopped_list({"metadata": {}}) == []
    assert sorted(["kafka-10", "kafka-2", "kafka-1"], key=podfacts.name_order) == ["kafka-1", "kafka-2", "kafka-10"]


# ---- configuration ---------------------------------------------------------------------------------

def sandbox_k8s() -> dict:
    """environments/rehearsal.yaml's gameday_environment (the GKE-shaped rehearsal on the twin)."""
    raw = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    return copy.deepcopy(raw["configuration"]["gameday_environment"])


def test_the_rehearsal_reaches_the_twin_by_context_and_names_like_gke(monkeypatch, tmp_path):
    kubeconfig = tmp_path / "config"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("GAMEDAY_I_MEAN_PRODUCTION", "")
    env = load("rehearsal")
    assert env.kind == "kubernetes" and env.production and env.kubernetes["context"] == "gameday-default"
    assert k8s.kubeconfig_of(env) == kubeconfig  # $KUBECONFIG, as kubectl: nothing twin-specific
    with pytest.raises(UsageError, match="production target"):
        for_environment(env)
    with pytest.raises(UsageError, match=f"no kubeconfig at {kubeconfig}"):
        for_environment(env, i_mean_production=True)
    kubeconfig.write_text(yaml.safe_dump({"contexts": [{"name": "gameday-default", "context": {"cluster": "c", "user": "u"}}]}))
    target = for_environment(env, i_mean_production=True)
    assert isinstance(target, k8s.KubernetesTarget)
    assert target.kafka_bootstrap() == ",".join(f"kafka-{i}.default.gameday.test:9095" for i in (1, 2, 3))  # TLS
    assert target.db_address() == ("db.default.gameday.test", 3306)
    assert target.toxiproxy_api() == "http://toxiproxy.default.gameday.test:8474"
    assert target.health_check("web") == {"path": "/readyz", "port": 8000, "scheme": "http"}
    assert target.health_check("search") == {"path": "/readyz", "port": 80, "scheme": "http"}  # the defaults
    assert target.nodes("lb") == [] and target.nodes("toxiproxy") == []  # declared outside: no API call needed
    # the relay and the object cache run outside the cluster (no pod selector): none listed, as the zone probes ask
    assert target.nodes("events") == [] and target.nodes("cache") == []
    with pytest.raises(UsageError, match="layer 'queue' has no pods on this Kubernetes target"):
        target.nodes("queue")


def test_an_explicit_kubeconfig_wins_and_pdb_policy_defaults_to_respect():
    data = sandbox_k8s()
    data["kubernetes"]["kubeconfig"] = "/somewhere/kubeconfig"
    env = from_mapping(data, "test")
    assert k8s.kubeconfig_of(env) == Path("/somewhere/kubeconfig")
    assert k8s.KubernetesTarget(env).respects_pdbs()
    data["kubernetes"]["pod_disruption_budgets"] = "ignore"
    assert not k8s.KubernetesTarget(from_mapping(data, "test")).respects_pdbs()
    assert k8s.layer_scope(env.kubernetes, "web") == ("gameday", "app.kubernetes.io/name=web")
    assert k8s.layer_scope(env.kubernetes, "indexer") == ("gameday", "app.kubernetes.io/name=indexer")
    assert k8s.layer_scope(env.kubernetes, "db") == ("gameday", "app.kubernetes.io/name=db")
    data["kubernetes"].pop("indexer")
    data["kubernetes"]["layers"].pop("indexer")
    data["kubernetes"]["db"] = {"host": "10.20.0.5", "port": 3306}  # Cloud SQL: no pods
    data["kubernetes"]["layers"]["db"] = "outside"
    outside = from_mapping(data, "test").kubernetes
    assert k8s.layer_scope(outside, "indexer") is None and k8s.layer_scope(outside, "db") is None


def test_the_declared_layers_must_agree_with_the_selectors():
    data = sandbox_k8s()
    data["kubernetes"]["layers"]["web"] = "outside"      # but kubernetes.web.selector selects pods
    data["kubernetes"]["layers"]["db"] = "pods"
    data["kubernetes"]["db"] = {"host": "10.20.0.5", "port": 3306}  # no selector
    with pytest.raises(UsageError) as err:
        from_mapping(data, "test")
    assert "layers.web is outside" in str(err.value) and "layers.db is pods" in str(err.value)


def test_database_credentials_come_from_the_environment_reference(monkeypatch):
    data = sandbox_k8s()
    data["credentials"]["db"] = {"env": "SPS_DB_PASSWORD", "username": "wordpress"}
    monkeypatch.setenv("SPS_DB_PASSWORD", "pa ss'\"word")
    assert k8s.KubernetesTarget(from_mapping(data, "test")).db_credentials() == ("wordpress", "pa ss'\"word", "sps")
    data["kubernetes"]["db"].pop("database")
    with pytest.raises(UsageError, match="database credentials are not named"):
        k8s.KubernetesTarget(from_mapping(data, "test")).db_credentials()


def test_network_faults_go_through_the_toxiproxy_the_environment_names():
    data = sandbox_k8s()
    data["kubernetes"].update(context="gke", kubeconfig="/somewhere/kubeconfig")
    data["kubernetes"].pop("toxiproxy_api")
    assert k8s.KubernetesTarget(from_mapping(data, "test")).toxiproxy_api() is None  # GKE without one: refused later
    data["kubernetes"]["toxiproxy_api"] = "http://toxiproxy.sps.svc:8474/"
    assert k8s.KubernetesTarget(from_mapping(data, "test")).toxiproxy_api() == "http://toxiproxy.sps.svc:8474"
    data["kubernetes"]["toxiproxy_api"] = "toxiproxy:8474"
    with pytest.raises(UsageError, match="toxiproxy_api must be the URL of a toxiproxy API"):
        from_mapping(data, "test")


def test_no_database_address_is_one_clear_error():
    data = sandbox_k8s()
    data["kubernetes"].pop("db")
    data["kubernetes"]["layers"].pop("db")
    with pytest.raises(UsageError, match="no database address"):
        k8s.KubernetesTarget(from_mapping(data, "test")).db_address()


# ---- EndpointSlices for loopback pods --------------------------------------------------------------

def service(annotation: str | None = "app=web", selector: dict | None = None) -> dict:
    meta = {"name": "web", "namespace": "gameday", "uid": "svc-uid"}
    if annotation:
        meta["annotations"] = {workloads.SELECTOR_ANNOTATION: annotation}
    return {"metadata": meta, "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def test_a_slice_lists_the_selected_pods_as_fqdn_addresses_with_their_conditions():
    pods = [pod("b", ip="127.1.101.3"), pod("a", ip="127.1.101.2", ready=False),
            pod("c", ip="127.1.102.2", deleting=True), pod("k", labels={"app": "kafka"}),
            pod("done", phase="Succeeded", ip="127.1.101.9")]
    wanted = endpointslices.desired_slice(service(), pods)
    assert wanted["addressType"] == "FQDN" and wanted["metadata"]["labels"][endpointslices.SERVICE_NAME] == "web"
    assert wanted["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert wanted["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP"}]  # named targetPort resolved
    got = {e["targetRef"]["name"]: (e["addresses"][0], e["conditions"]) for e in wanted["endpoints"]}
    assert got == {"a": ("127.1.101.2", {"ready": False, "serving": False, "terminating": False}),
                   "b": ("127.1.101.3", {"ready": True, "serving": True, "terminating": False}),
                   "c": ("127.1.102.2", {"ready": False, "serving": True, "terminating": True})}
    assert endpointslices.desired_slice(service(annotation=None), pods) is None
    assert endpointslices.desired_slice(service(selector={"app": "web"}), pods) is None  # Kubernetes' own
    with pytest.raises(ValueError, match="not a key=value term"):
        endpointslices.desired_slice(service(annotation="app!=web"), pods)


# ---- HAProxy slots ---------------------------------------------------------------------------------

STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 web 1 web-1 127.1.101.2 2 0 1 1 5 6 3 4 6 0 0 0 - 8000 - 0 0 - - 0
3 web 2 web-2 127.1.20.2 0 0 1 1 5 8 2 0 6 0 0 0 - 8000 - 0 0 - - 0
3 web 3 web-3 127.1.20.3 0 1 1 1 5 8 2 0 6 0 0 0 - 8000 - 0 0 - - 0
"""


def test_servers_state_parses_into_slots():
    slots = haproxy_backends.parse_servers_state(STATE, "web")
    assert [(s.name, s.address, s.port, s.up, s.maint) for s in slots] == [
        ("web-1", "127.1.101.2", 8000, True, False), ("web-2", "127.1.20.2", 8000, False, False),
        ("web-3", "127.1.20.3", 8000, False, True)]
    with pytest.raises(ValueError):
        haproxy_backends.parse_servers_state("Unknown command", "web")


def test_endpoints_keep_their_slots_new_ones_take_free_slots_and_the_rest_go_to_maintenance():
    slots = haproxy_backends.parse_servers_state(STATE, "web")
    plan = haproxy_backends.plan("web", slots, [("127.1.101.2", 8000), ("127.1.102.5", 8000)])
    assert plan == ["set server web/web-2 addr 127.1.102.5 port 8000", "set server web/web-2 state ready"]
    # web-3 is already in maintenance; nothing to say about it. Nothing wanted: every slot in maint.
    assert haproxy_backends.plan("web", slots, []) == ["set server web/web-1 state maint",
                                                       "set server web/web-2 state maint"]
    # An endpoint sitting in a slot under maintenance is just taken out of it.
    assert haproxy_backends.plan("web", slots, [("127.1.20.3", 8000), ("127.1.101.2", 8000)]) == [
        "set server web/web-3 state ready", "set server web/web-2 state maint"]
    # More endpoints than slots: the extra ones are left out, nothing breaks.
    many = [(f"127.1.101.{i}", 8000) for i in range(2, 8)]
    assert len([c for c in haproxy_backends.plan("web", slots, many) if c.endswith("addr " + many[-1][0] + " port 8000")]) == 0


def test_only_ready_endpoints_are_fed():
    slices = [{"ports": [{"name": "http", "port": 8000}],
               "endpoints": [{"addresses": ["127.1.101.2"], "conditions": {"ready": True}},
                             {"addresses": ["127.1.101.3"], "conditions": {"ready": False}}]},
              {"ports": [{"name": "http", "port": 8000}], "endpoints": [{"addresses": ["127.1.101.2"]}]}]
    assert haproxy_backends.ready_endpoints(slices) == [("127.1.101.2", 8000)]


# ---- manifests from the topology -------------------------------------------------------------------

def test_web_manifests_run_the_supervisors_command_at_the_pods_address(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("unit", net=77)
    objs = workloads.objects(twin, part="web")
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds == [("Namespace", "gameday"), ("Secret", "sandbox-db"), ("Deployment", "web"),
                     ("Service", "web"), ("PodDisruptionBudget", "web"), ("Deployment", "indexer"),
                     ("Deployment", "search-snapshot")]
    deployment = objs[2]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = container["command"] + container["args"]
    assert "$(POD_IP):8000" in argv and not any("127.77.20." in a for a in argv)
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["GAMEDAY_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "sandbox-db", "key": "GAMEDAY_DB_PASSWORD"}
    # the search password from ECK's Secret, as the site would read it on GKE; never in sandbox-db
    assert env["GAMEDAY_SEARCH_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "search-es-elastic-user",
                                                                          "key": "elastic"}
    assert env["GAMEDAY_SEARCH_URLS"]["value"].startswith("https://") and env["GAMEDAY_SEARCH_USER"]["value"] == "elastic"
    password = twin.db_password()
    assert password not in str(deployment) and objs[1]["stringData"]["GAMEDAY_DB_PASSWORD"] == password
    assert "GAMEDAY_SEARCH_PASSWORD" not in objs[1]["stringData"] and twin.search_password() not in str(objs)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert deployment["spec"]["replicas"] == 3
    svc = objs[3]
    assert "selector" not in svc["spec"] and svc["metadata"]["annotations"][workloads.SELECTOR_ANNOTATION]
    assert objs[4]["spec"]["maxUnavailable"] == 1
    assert workloads.object_path(deployment) == "/apis/apps/v1/namespaces/gameday/deployments/web"
    assert workloads.object_path(objs[0]) == "/api/v1/namespaces/gameday"
    # the indexer: a consumer group of 2, no address, the database secret by reference, no budget
    indexer = objs[5]["spec"]
    assert indexer["replicas"] == 2 and indexer["selector"]["matchLabels"] == {"app.kubernetes.io/name": "indexer"}
    container = indexer["template"]["spec"]["containers"][0]
    assert container["args"] == ["-m", "gameday.site.indexer"] and "readinessProbe" not in container and not container["ports"]
    assert {e["name"]: e for e in container["env"]}["GAMEDAY_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "sandbox-db"
    assert password not in str(objs[5])


def test_a_kubernetes_twin_hands_web_to_the_deployment(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("unit", net=77)
    plain = topology.build(twin)
    kube = topology.build(twin, kubernetes=True)
    assert plain.workload("web").replicas == 3 and kube.workload("web").replicas == 0
    job = kube.workload("kube-workloads")
    assert job.kind == "job" and {"node-agent", "bootstrap"} <= set(job.after)
    feeder = kube.workload("kube-services").members[0]
    assert "--backend" in feeder.argv and str(tmp_path / "unit" / "run" / "lb-1.sock") in feeder.argv


def test_kafka_and_search_statefulsets_run_the_supervisors_members_on_their_addresses(monkeypatch, tmp_path):
    from gameday.sandbox.members import kafka as kafka_member
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("unit", net=77)
    objs = workloads.objects(twin, part="data")
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Namespace", "gameday"), ("Service", "db"), ("StatefulSet", "db"), ("PodDisruptionBudget", "db"),
        ("Service", "kafka"), ("StatefulSet", "kafka"), ("PodDisruptionBudget", "kafka"),
        ("Service", "search"), ("StatefulSet", "search"), ("PodDisruptionBudget", "search")]
    db, kafka, search = objs[2], objs[5], objs[8]
    # the database: a StatefulSet of one, pod db-1 on the supervisor's address, its own data directory
    assert db["spec"]["replicas"] == 1 and db["spec"]["ordinals"] == {"start": 1}
    assert addresses.parse(db["spec"]["template"]["metadata"]["annotations"][addresses.ANNOTATION])[1] == twin.address("db")
    db_argv = db["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--datadir={twin.paths.data / '$(POD_NAME)'}" in db_argv
    assert f"--init-file={twin.paths.data / '$(POD_NAME)-init.sql'}" in db_argv
    assert f"--bind-address={twin.address('db')}" in db_argv  # a fixed address, like Kafka's and search's
    for sts in (kafka, search):
        spec = sts["spec"]
        assert spec["replicas"] == 3 and spec["ordinals"] == {"start": 1} and spec["podManagementPolicy"] == "Parallel"
        assert objs[objs.index(sts) + 1]["spec"]["maxUnavailable"] == 1
        assert "selector" not in objs[objs.index(sts) - 1]["spec"]  # headless, selectorless
    # pod index N (1..3) takes the N-th address of the list: the supervisor's 127.77.40.N
    annotation = kafka["spec"]["template"]["metadata"]["annotations"][addresses.ANNOTATION]
    listed = addresses.parse(annotation)
    assert [listed[n] for n in (1, 2, 3)] == [twin.address("kafka", n) for n in (1, 2, 3)]
    container = kafka["spec"]["template"]["spec"]["containers"][0]
    argv = container["command"] + container["args"]
    member = topology.build(twin).workload("kafka").members[0]
    # the broker's own command, started through kafka_storage: its data on its claim, formatted on first use
    assert argv[:3] == [twin.python, "-m", "gameday.kube.kafka_storage"]
    assert argv[argv.index("--cluster-id") + 1] == kafka_member.cluster_id(twin)
    broker = argv[argv.index("--") + 1:]
    assert broker[:-1] == member.argv[:-1] and broker[-1] == str(twin.paths.conf / "$(POD_NAME)" / "server.properties")
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/kafka"}]
    (claim,) = kafka["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    # search: each node's path.data on its own claim (ECK's elasticsearch-data), the snapshots outside it
    (claim,) = search["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "elasticsearch-data"
    node = search["spec"]["template"]["spec"]["containers"][0]
    assert node["volumeMounts"] == [{"name": "elasticsearch-data", "mountPath": "/var/lib/opensearch"}]
    assert node["args"][-1] == "-Epath.data=/var/lib/opensearch"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["readinessProbe"]["tcpSocket"] == {"port": "broker"}
    container = search["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OPENSEARCH_PATH_CONF"] == str(twin.paths.data / "$(POD_NAME)" / "config")
    assert list(env)[:2] == ["POD_NAME", "POD_IP"]  # defined before the values that use them
    # an exec probe (as ECK's readiness script): HTTPS with the twin CA, the password from the Secret
    command = container["readinessProbe"]["exec"]["command"]
    assert command[1:3] == ["-m", "gameday.sandbox.readiness"] and "/_cluster/health" in command
    assert command[command.index("--ca") + 1] == twin.search_ca() and twin.search_password() not in str(search)
    env = {e["name"]: e for e in container["env"]}
    assert env["GAMEDAY_SEARCH_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "search-es-elastic-user",
                                                                          "key": "elastic"}


def test_the_per_pod_name_replaces_only_the_members_own_name():
    assert workloads.per_pod("/s/conf/kafka-1/server.properties", "kafka-1") == "/s/conf/$(POD_NAME)/server.properties"
    assert workloads.per_pod("/s/kafka-10/x", "kafka-1") == "/s/kafka-10/x"
    assert workloads.per_pod("/s/conf/kafka-log4j2.properties", "kafka-1") == "/s/conf/kafka-log4j2.properties"


def test_search_pods_run_as_the_system_user(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    from gameday.sandbox.members import search as search_members
    monkeypatch.setattr(search_members, "run_as", lambda: "gameday")
    monkeypatch.setattr(workloads.pwd, "getpwnam", lambda user: type("P", (), {"pw_uid": 995, "pw_gid": 994})())
    objs = workloads.objects(Twin.create("unit", net=77), part="data")
    search = next(o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "search")
    container = search["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"] == {"runAsUser": 995, "runAsGroup": 994}
    # its claim is given to the node's group, as a kubelet does for fsGroup (ECK's pods have fsGroup too)
    assert search["spec"]["template"]["spec"]["securityContext"] == {"fsGroup": 994, "fsGroupChangePolicy": "OnRootMismatch"}


def test_a_kubernetes_twin_runs_kafka_and_search_before_the_bootstrap_job(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("unit", net=77)
    kube = topology.build(twin, kubernetes=True)
    assert kube.workload("kafka").replicas == 0 and kube.workload("search").replicas == 0
    assert kube.workload("db").replicas == 0 and kube.workload("indexer").replicas == 0  # pods too
    data = kube.workload("kube-data")
    assert data.kind == "job" and "node-agent" in data.after and "bootstrap" not in data.after
    assert "--part" in data.members[0].argv and data.members[0].argv[-1] == "data"
    assert "kube-data" in kube.workload("bootstrap").after
    assert kube.workload("kube-workloads").members[0].argv[-1] == "web"
    assert "kube-data" not in topology.build(twin).workload("bootstrap").after


def test_selector_strings_match_pod_templates_like_kubectl():
    labels = {"strimzi.io/cluster": "sps-events", "strimzi.io/broker-role": "true"}
    assert selectors.text_selector_matches("strimzi.io/cluster=sps-events,strimzi.io/broker-role=true", labels)
    assert selectors.text_selector_matches("strimzi.io/cluster==sps-events", labels)
    assert not selectors.text_selector_matches("strimzi.io/cluster=other", labels)
    assert not selectors.text_selector_matches("strimzi.io/broker-role!=true", labels)
    assert selectors.text_selector_matches("strimzi.io/cluster, !strimzi.io/controller-role", labels)
    assert not selectors.text_selector_matches("strimzi.io/controller-role", labels)


def test_a_rollout_is_done_only_when_every_replica_is_new_and_ready_and_no_old_pod_is_left():
    def dep(gen=2, observed=2, updated=3, ready=3, replicas=3, want=3):
        return {"metadata": {"generation": gen}, "spec": {"replicas": want},
                "status": {"observedGeneration": observed, "updatedReplicas": updated, "readyReplicas": ready,
                           "replicas": replicas}}
    assert kw.rolled_out("Deployment", dep())
    assert not kw.rolled_out("Deployment", dep(observed=1))        # the controller has not seen the restart yet
    assert not kw.rolled_out("Deployment", dep(updated=2))         # one pod still runs the old template
    assert not kw.rolled_out("Deployment", dep(replicas=4))        # the surge pod's old peer is not gone yet
    assert not kw.rolled_out("Deployment", dep(ready=2))
    sts = {"metadata": {"generation": 5}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 5, "updatedReplicas": 3, "readyReplicas": 3,
                      "currentRevision": "db-1", "updateRevision": "db-2"}}
    assert not kw.rolled_out("StatefulSet", sts)
    sts["status"]["currentRevision"] = "db-2"
    assert kw.rolled_out("StatefulSet", sts)


def test_the_bearer_token_is_stripped_whatever_the_case_of_its_scheme():
    # a kubeconfig's "Bearer", the in-cluster loader's "bearer": chaosk8s adds "Bearer " itself, and
    # "Bearer bearer <token>" was a 401 on the pod kill from inside the CronJob's pod
    assert k8s.bearer_token("Bearer abc.def") == "abc.def"
    assert k8s.bearer_token("bearer abc.def") == "abc.def"
    assert k8s.bearer_token("abc.def") == "abc.def"
    assert k8s.bearer_token(" BEARER  abc ") == "abc"
