"""Two regions without a server: the standby's database roles and init SQL (replicating from the
upstream region's stable endpoint, read-only, asynchronous), server ids unique across regions, the
standby's size, shared database credentials, the seed's replica mode, the global front's HAProxy
config (checked by the real ``haproxy -c``) and host names, and each region's answer header."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import tempfile

import pytest

from gameday.errors import GamedayError, UsageError
from gameday.sandbox import db_region, db_replication, db_roles, names
from gameday.sandbox.members import db, front, lb, site
from gameday.sandbox.regions import Regions
from gameday.sandbox.shape import Shape, Upstream
from gameday.sandbox.twin import Twin
from gameday.site import seed


@pytest.fixture(autouse=True)
def _state(monkeypatch):
    """A short state root: HAProxy refuses a stats socket path over 97 characters, and pytest's
    tmp_path under xdist (``.../popen-gw0/<test name>/``) is longer than the default state root."""
    with tempfile.TemporaryDirectory(prefix="gd-") as short:
        monkeypatch.setenv("GAMEDAY_STATE_DIR", short)
        yield
    monkeypatch.delenv(db_roles.ENV_VAR, raising=False)


@pytest.fixture
def regions() -> Regions:
    """rg (net 43), rg-r2 (44, a standby of rg), rg-global (45): shapes written, nothing started."""
    r = Regions.of(Twin.create("rg", 43))
    r.write_shapes()
    r = r.reload()
    for t in (r.primary, r.standby, r.front):
        t.paths.ensure()
    return r


def test_the_standby_is_small_and_its_server_ids_differ_from_the_upstreams(regions):
    r1, r2 = regions.primary, regions.standby
    assert r2.shape.standby and r2.shape.upstream == Upstream(twin="rg", net=43, region="r1")
    assert [db.server_id(r1, m) for m in db.MEMBERS] == [1, 2]
    assert [db.server_id(r2, m) for m in db.MEMBERS] == [101, 102]
    assert "--server-id=101" in db.member(r2, "db-1").argv and "--server-id=1" in db.member(r1, "db-1").argv
    assert db.replica_workload(r1).replicas == 1
    assert db.replica_workload(r2).replicas == 0 and db.replica_workload(r2).max_replicas == 1  # declared


def test_the_set_keeps_r1s_first_size_as_the_size_a_promoted_region_is_scaled_to(regions):
    assert regions.primary_size().size() == Shape().size() == regions.primary.shape.size()  # a full twin's
    small = Regions.of(Twin.create("rs", 46))
    small.write_shapes(Shape(web_replicas=2, indexer_replicas=1, search_nodes=2))
    small = small.reload()
    want = {"web_replicas": 2, "indexer_replicas": 1, "search_nodes": 2, "db_replicas": 1}
    assert small.primary.shape.size() == want and small.primary_size().size() == want
    assert small.standby.shape.size() == {"web_replicas": 1, "indexer_replicas": 1, "search_nodes": 1, "db_replicas": 0}
    # r1 scaled down to a standby later (a switchover): the set's primary size is still what r1 was made with
    Shape(**{**small.primary.shape.__dict__, **small.standby.shape.size()}).save(small.primary.paths)
    small.write_shapes(Shape(search_nodes=5))  # shapes kept once written; a new size is not taken either
    assert small.reload().primary_size().size() == want


def test_the_standby_primary_replicates_from_the_upstream_endpoint_read_only_and_asynchronously(regions):
    r1, r2 = regions.primary, regions.standby
    assert db_roles.ensure(r1).upstream is None
    roles = db_roles.ensure(r2)
    assert roles.upstream == "127.43.30.100:3306" == r1.db_addr() and roles.primary == "db-1"
    primary, replica = db.init_sql(r2, "db-1"), db.init_sql(r2, "db-2")
    assert "MASTER_HOST='127.43.30.100', MASTER_PORT=3306" in primary and "MASTER_USE_GTID=slave_pos" in primary
    assert "read_only = 0" not in primary and "SET GLOBAL read_only = 1;" in primary
    assert primary.rstrip().endswith("START SLAVE;")
    # never a semi-synchronous replica of the other region, whatever its own mode
    assert primary.index("rpl_semi_sync_slave_enabled = OFF;\nCHANGE MASTER") > 0
    assert "MASTER_HOST='127.44.30.1'" in replica  # its own replica, when scaled up, follows it
    # the upstream region's primary is writable as ever
    assert "SET GLOBAL read_only = 0;" in db.init_sql(r1, "db-1") and "CHANGE MASTER" not in db.init_sql(r1, "db-1")


def test_a_promoted_or_fenced_region_keeps_its_role_across_restarts(regions):
    r1, r2 = regions.primary, regions.standby
    db_roles.ensure(r2)
    # r2 promoted: its shape and roles without an upstream (db_region.promote writes both)
    dataclasses.replace(r2.shape, upstream=None).save(r2.paths)
    r2 = Twin.create(r2.name, r2.net)
    assert not r2.shape.standby and r2.shape.region == "r2" and r2.shape.web_replicas == 1  # region and size kept
    roles = db_roles.ensure(r2)
    assert roles.upstream is None
    assert "SET GLOBAL read_only = 0;" in db.init_sql(r2, "db-1") and "CHANGE MASTER" not in db.init_sql(r2, "db-1")
    # r1 switched away from (db_region.fence / fence_on_start): read-only, replicating from nowhere
    fenced = db_region.fence_on_start(r1)
    assert fenced["region_fenced"] and fenced["upstream"] is None
    text = db.init_sql(r1, "db-1")
    assert "read_only = 0" not in text and "CHANGE MASTER" not in text and "switched away" in text
    # then demoted: a standby of r2 (its shape keeps the primary's size), replicating from r2's endpoint
    dataclasses.replace(r1.shape, upstream=Upstream(twin=r2.name, net=r2.net, region="r2")).save(r1.paths)
    r1 = Twin.create(r1.name, r1.net)
    roles = db_roles.ensure(r1)
    assert roles.upstream == "127.44.30.100:3306" and not roles.region_fenced and r1.shape.web_replicas == 3
    assert "MASTER_HOST='127.44.30.100'" in db.init_sql(r1, "db-1")


def test_a_roles_file_from_before_regions_still_loads(regions):
    path = regions.primary.paths.data / "db-roles.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"primary": "db-2", "replicas": ["db-1"], "fenced": [], "lost": [], "mode": "async", "epoch": 3}')
    roles = db_roles.load(regions.primary)
    assert (roles.primary, roles.upstream, roles.region_fenced, roles.epoch) == ("db-2", None, False, 3)


def test_the_standby_shares_the_upstreams_database_credentials_privately(regions):
    r1, r2 = regions.primary, regions.standby
    with pytest.raises(GamedayError, match="has no db.env yet"):
        db_region.share_credentials(r2)
    password, repl = r1.db_password(), r1.db_replication_password()
    assert db_region.share_credentials(r2) == ["db.env", "db-replication.env"]
    assert (r2.db_password(), r2.db_replication_password()) == (password, repl)
    for f in (r2.db_env_file, r2.db_replication_env_file):
        assert f.stat().st_mode & 0o777 == 0o600
    assert db_region.share_credentials(r2) == []  # already the same: nothing written
    assert r2.search_password() != r1.search_password()  # search clusters are each region's own
    with pytest.raises(GamedayError, match="not a standby region"):
        db_region.share_credentials(r1)


def test_only_the_standbys_bootstrap_seeds_from_a_replica(regions, monkeypatch):
    assert seed.REPLICA_ENV not in site.bootstrap(regions.primary).members[0].env
    assert site.bootstrap(regions.standby).members[0].env[seed.REPLICA_ENV] == "1"
    monkeypatch.setenv(seed.REPLICA_ENV, "1")
    assert seed.from_replica()
    monkeypatch.setenv(seed.REPLICA_ENV, "")
    assert not seed.from_replica()


def test_each_regional_load_balancer_says_which_region_answered(regions):
    assert "http-response set-header X-Gameday-Region r1" in lb.haproxy_cfg(regions.primary)
    assert "http-response set-header X-Gameday-Region r2" in lb.haproxy_cfg(regions.standby)


def test_the_front_sends_readers_to_the_active_region_only(regions, tmp_path):
    f = regions.front
    assert f.shape.role == "front" and front.read_state(f)["active"] == "r1"
    assert front.regional_lbs(f) == {"r1": "127.43.10.1:8080", "r2": "127.44.10.1:8080"}
    cfg = front.haproxy_cfg(f, "r1")
    assert "bind 127.45.10.1:8080" in cfg and f"stats socket {front.socket_path(f)} mode 600 level admin" in cfg
    assert "    server r1 127.43.10.1:8080 check\n" in cfg and "    server r2 127.44.10.1:8080 check disabled\n" in cfg
    cfg2 = front.haproxy_cfg(f, "r2")
    assert "server r1 127.43.10.1:8080 check disabled" in cfg2 and "    server r2 127.44.10.1:8080 check\n" in cfg2
    with pytest.raises(UsageError, match="no region 'r3'"):
        front.haproxy_cfg(f, "r3")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    for text in (cfg, cfg2):
        path = tmp_path / "front.cfg"
        path.write_text(text)
        check = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
    # prepare writes the recorded active region's config; the member listens where the front's name points
    regions.record_active("r2", "test")
    front.prepare(f)
    assert "server r1 127.43.10.1:8080 check disabled" in (f.paths.conf / "front-haproxy.cfg").read_text()
    member = front.workload(f).members[0]
    assert (member.name, member.address, member.ports["http"], member.labels["zone"]) == ("front-1", "127.45.10.1", 8080, "global")
    assert member.readiness["type"] == "http"
    assert names.hostnames(f) == {"site.rg-global.gameday.test": "127.45.10.1"}
    assert "kafka-1.rg.gameday.test" in names.hostnames(regions.primary)


def test_a_twin_without_regions_is_not_a_front(tmp_path):
    plain = Twin.create("plain", 46)
    with pytest.raises(GamedayError, match="lists no regions"):
        front.haproxy_cfg(plain, "r1")
    assert Shape.load(plain.paths) == Shape()


HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port")
SERVERS_STATE = "1\n" + HEADER + """
4 regions 1 r1 127.43.10.1 2 0 1 1 1 15 3 2 6 0 0 0 - 8080 - 0 0 - - 0
4 regions 2 r2 127.44.10.1 0 5 1 1 1 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0
"""
JUST_READY = SERVERS_STATE.replace("4 regions 2 r2 127.44.10.1 0 5 1 1 1 1 0 0 14", "4 regions 2 r2 127.44.10.1 2 4 1 1 0 1 0 1 6")


def test_the_fronts_runtime_state_is_read_as_haproxy_2_6_writes_it():
    """HAProxy 2.6's own answers (the front of the integration test): r2 ``disabled`` in the config
    (admin 5 = forced + config maintenance), then just set ready (admin 4: config flag only; up at once,
    before any check ran)."""
    assert front.parse_servers_state(SERVERS_STATE) == {
        "r1": {"maint": False, "up": True, "check_passed": True},
        "r2": {"maint": True, "up": False, "check_passed": False}}
    assert front.parse_servers_state(JUST_READY)["r2"] == {"maint": False, "up": True, "check_passed": False}
    with pytest.raises(GamedayError, match="unexpected answer"):
        front.parse_servers_state("Unknown command\n")


def test_a_standby_regions_database_is_not_promoted_inside_its_region(regions):
    """The db playbook's in-region promote refuses a standby before it touches anything (no server runs
    here: a connection attempt would be a different error): the region playbook promotes a region."""
    with pytest.raises(UsageError) as err:
        db_replication.promote(regions.standby)
    assert "standby region r2" in str(err.value) and "rg (region r1)" in str(err.value)
    assert "gameday playbook region" in err.value.hint
