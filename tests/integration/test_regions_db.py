"""Issue 16: the twin in two regions, its database across them and the global front, on real servers:
``rg`` (region r1, 127.43.x.y), ``rg-r2`` (its warm standby, 127.44.x.y) and ``rg-global`` (the
front, 127.45.x.y), brought up once for the module by ``regions.up`` and wiped at the end.

- a row written in r1 reaches r2's database (replicating from r1's stable endpoint), lag 0, and r2
  refuses the site's writes (read-only); r2's index was filled from the replicated articles;
- the front answers readers from the active region (``X-Gameday-Region``);
- a planned promotion of r2 fences r1 first and loses nothing (RPO 0: every row acknowledged in r1
  before is in r2), r2 takes writes, then the front sends readers to r2;
- r1 is demoted to a standby of r2 (by GTID: nothing diverged) and replicates r2's writes.

The tests run in order on one set of regions (each builds on the one before). The full switchover,
failover and failback drills are the region playbook's. Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_regions_db.py``.
"""

from __future__ import annotations

import time
import uuid

import pymysql
import pytest
import requests

from gameday.deadline import wait_until
from gameday.sandbox import db_region, db_roles
from gameday.sandbox import regions as regions_mod
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import front
from gameday.sandbox.regions import Regions
from gameday.sandbox.shape import Shape
from gameday.sandbox.twin import Twin
from tests.conftest import pause_session_twin

NAME, NET = "rg", 43
ROWS = 50


@pytest.fixture(scope="module")
def regions():
    from gameday.sandbox.install import install_all
    install_all()
    pause_session_twin()  # three more twins on two cores: the session twin waits, its data kept
    r = Regions.of(Twin.create(NAME, NET))
    regions_mod.down(r, wipe=True)  # from clean data
    started = time.monotonic()
    result = regions_mod.up(r, timeout=400, announce=print)
    print(f"regions up in {time.monotonic() - started:.0f} s: {result}")
    assert result["active"] == "r1" and result["link"]["member"] == "db-1", result
    yield r.reload()
    regions_mod.down(r, wipe=True)


def conn(twin: Twin, host: str):
    """The site's user (its password is the upstream's in both regions: shared credentials)."""
    return pymysql.connect(host=host, port=3306, user="sps", password=twin.db_password(), database="sps",
                           connect_timeout=3, read_timeout=30, autocommit=True)


def write_rows(twin: Twin, n: int) -> list[str]:
    """``n`` rows written one by one through the region's stable endpoint, each acknowledged."""
    markers = [uuid.uuid4().hex for _ in range(n)]
    with conn(twin, twin.db_addr().split(":")[0]) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS region_check (marker CHAR(32) PRIMARY KEY, at DOUBLE NOT NULL)")
        for m in markers:
            cur.execute("INSERT INTO region_check VALUES (%s, %s)", (m, time.time()))
    return markers


def present(twin: Twin, markers: list[str]) -> int:
    """How many of ``markers`` the region's primary holds (read at its own address)."""
    with conn(twin, twin.address("db", 1)) as c, c.cursor() as cur:
        cur.execute("SHOW TABLES LIKE 'region_check'")
        if not cur.fetchone():
            return 0
        cur.execute(f"SELECT COUNT(*) FROM region_check WHERE marker IN ({', '.join(['%s'] * len(markers))})", markers)
        return cur.fetchone()[0]


def region_answering(r: Regions) -> str | None:
    """The region that answered a reader at the front, None when none did."""
    try:
        resp = requests.get(f"{r.front.lb_url}/", timeout=5)
    except requests.RequestException:
        return None
    return resp.headers.get("X-Gameday-Region") if resp.status_code == 200 else None


def test_a_row_written_in_r1_reaches_r2_which_refuses_writes(regions):
    r1, r2 = regions.primary, regions.standby
    assert r2.shape.standby and db_roles.load(r2).upstream == r1.db_addr() == "127.43.30.100:3306"
    markers = write_rows(r1, 1)
    wait_until(lambda: present(r2, markers) == 1, timeout=30, what="r1's row in r2's database")
    waited = db_region.wait_caught_up(r2, timeout=30)
    lag = db_region.lag(r2)
    print(f"caught up after {waited} s; lag {lag}")
    assert lag["replicating"] and lag["caught_up"] and lag["transactions_behind"] == 0 and lag["seconds_behind"] == 0
    assert lag["gtid_slave_pos"] == lag["upstream_gtid"]
    with conn(r2, r2.address("db", 1)) as c, c.cursor() as cur:
        with pytest.raises(pymysql.MySQLError) as err:
            cur.execute("INSERT INTO region_check VALUES (%s, %s)", (uuid.uuid4().hex, time.time()))
        assert err.value.args[0] == 1290  # read-only
        cur.execute("SELECT @@server_id")
        assert cur.fetchone()[0] == 101  # unique across regions
    # the standby's bootstrap wrote nothing and filled its index from the replicated articles
    log = r2.paths.member_log("bootstrap-1").read_text()
    assert "'inserted': 0" in log and "'indexed': 2000" in log, log[-600:]


def test_the_front_answers_readers_from_the_active_region(regions):
    assert regions.active() == "r1"
    assert region_answering(regions) == "r1"
    assert requests.get(f"{regions.standby.lb_url}/", timeout=5).headers["X-Gameday-Region"] == "r2"
    servers = front.servers(regions.front)
    assert servers["r1"] == {"maint": False, "up": True, "check_passed": True} and servers["r2"]["maint"]


def test_a_planned_promotion_loses_nothing_and_the_front_switches_to_r2(regions):
    r1, r2 = regions.primary, regions.standby
    markers = write_rows(r1, ROWS)  # every one acknowledged by r1 before the switchover begins
    fenced = db_region.fence(r1)  # stop writes (the caller's step; promote would do it too)
    done = db_region.promote(r2, planned=True)
    print(f"promoted: {done}")
    assert done["upstream_fenced_by"] == "caller" and done["upstream_gtid"] == fenced["gtid"]
    assert present(r2, markers) == ROWS  # RPO 0
    assert not Twin.create(r2.name, r2.net).shape.standby and Shape.load(r2.paths).region == "r2"
    roles = db_roles.load(r2)
    assert roles.upstream is None and roles.promoted_at_gtid == done["promoted_at_gtid"]
    after = write_rows(r2, 1)  # r2 takes the site's writes through its endpoint
    assert present(r2, after) == 1
    with pytest.raises(pymysql.MySQLError) as err:
        write_rows(r1, 1)
    assert err.value.args[0] == 1290  # r1 fenced: never two writable regions
    switched = front.switch(regions, "r2", why="planned switchover (test)")
    print(f"front switched: {switched}")
    assert switched["from"] == "r1" and switched["to"] == "r2"
    assert regions.active() == "r2" and region_answering(regions) == "r2"
    servers = front.servers(regions.front)
    assert servers["r1"]["maint"] and servers["r2"] == {"maint": False, "up": True, "check_passed": True}
    assert "server r1 127.43.10.1:8080 check disabled" in (regions.front.paths.conf / "front-haproxy.cfg").read_text()
    SandboxClient(regions.front.paths).kill(front.NAME)  # a restarted front keeps sending readers to r2
    time.sleep(0.5)
    wait_until(lambda: region_answering(regions) == "r2", timeout=60, what="the restarted front to answer from r2")


def test_the_old_region_is_demoted_to_a_standby_of_the_new_one(regions):
    r1, r2 = regions.primary, regions.standby
    done = db_region.demote(r1, r2)
    print(f"demoted: {done}")
    assert done["how"] == "gtid" and done["lost_gtids"] == [] and done["lost"]["transactions"] == 0
    assert Shape.load(r1.paths).upstream.twin == r2.name and Shape.load(r1.paths).web_replicas == 3  # size kept
    assert db_roles.load(r1).upstream == r2.db_addr() and not db_roles.load(r1).region_fenced
    markers = write_rows(r2, 5)
    wait_until(lambda: present(r1, markers) == 5, timeout=30, what="r2's rows in r1's database")
    r1 = Twin.create(r1.name, r1.net)
    assert db_region.lag(r1)["replicating"] and db_region.wait_caught_up(r1, timeout=30) >= 0
