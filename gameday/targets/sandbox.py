"""The sandbox target: nodes are members of a local twin, hurt and healed through its supervisor.

::

    target = for_environment(load("sandbox"))
    target.nodes("kafka")            # desired members only (a held one is not a node)
    target.view("db").held           # the playbooks' view: baseline members, held ones included
    target.db_address()              # (host, port) of the database's stable endpoint (at the primary)

The twin's **baseline** is the replica count of each workload in its topology
(:func:`gameday.sandbox.topology.build`). The playbooks' members and every endpoint cover the
baseline's members, running or not, so the database's address is known while it is scaled to 0 or
held. Chaos acts record ``by="chaos"`` with the supervisor, the playbooks' member controls
``by="playbook"``.
"""

from __future__ import annotations

import time

from .. import zones
from ..content import ContentSchema
from ..deadline import Deadline
from ..errors import NotRunning, UsageError
from ..sandbox.client import SandboxClient
from .base import Node, Target
from .environment import Environment
from .front import Front
from .members import LayerView, Member


class SandboxTarget(Target):
    def __init__(self, env: Environment):
        super().__init__(env)
        from ..sandbox.twin import Twin
        # an environment whose net: is not its twin's would reach another twin's addresses: refused here
        Twin.create(env.sandbox, net=env.net).claimed_net(
            env.net, f"environment {env.name!r} (its `net:`)",
            "set `net:` to the twin's network in the environment's file, or leave `net:` out (the twin's own is used)")
        self.client = SandboxClient.for_name(env.sandbox)
        self._baseline: dict[str, int] | None = None

    def _status(self) -> dict:
        if not self.client.running():
            raise NotRunning(f"sandbox {self.env.sandbox!r} (environment {self.name!r}) is not running",
                             hint=f"start it: gameday sandbox --name {self.env.sandbox} up")
        return self.client.status()

    def _members(self, layer: str) -> list[dict]:
        return [m for m in self._status()["members"] if m["layer"] == layer and m.get("desired", True)]

    def nodes(self, layer: str) -> list[Node]:
        return [Node(name=m["name"], layer=layer, labels=m["labels"], address=m["address"],
                     ready=bool(m["ready"]), running=m["pid"] is not None) for m in self._members(layer)]

    def held(self, layer: str) -> list[str]:
        """Service members of the layer's replica slots that are held stopped (``stop``, a playbook
        test, ``gameday sandbox stop``): down, though not in :meth:`nodes`."""
        status = self._status()
        replicas = {w["name"]: w["replicas"] for w in status["workloads"]}
        return [m["name"] for m in status["members"] if m["layer"] == layer and m["kind"] == "service"
                and not m.get("desired", True) and m["index"] <= replicas[m["workload"]]]

    def kill(self, node: Node, *, by: str = "chaos") -> float:
        self.client.kill(node.name, "KILL", by=by)
        return time.time()

    def stop(self, node: Node, *, by: str = "chaos") -> float:
        self.client.stop(node.name, by=by)
        return time.time()

    def start(self, node: Node, *, by: str = "chaos") -> float:
        self.client.start(node.name, by=by)
        return time.time()

    HOLD_DOWN_TIMEOUT = 30.0

    def hold_down(self, node: Node, *, by: str = "chaos") -> float:
        """Hold the member (the supervisor will not restart it), SIGKILL it as a dying machine takes
        it, and wait until it has exited; :meth:`start` brings it back. Returns the kill instant."""
        self.client.stop(node.name, by=by)
        at = time.time()
        if self.client.member(node.name)["pid"] is not None:
            try:
                at = self.kill(node, by=by)
            except UsageError:
                pass  # it exited between the two requests: nothing left to kill
        self.client.wait_stopped(node.name, timeout=self.HOLD_DOWN_TIMEOUT)
        return at

    def wait_ready(self, node: Node, timeout: float) -> float:
        started = time.monotonic()
        self.client.wait_ready(node.name, timeout=timeout)
        return time.monotonic() - started

    def restart(self, layer: str, *, timeout: float = 300.0) -> list[str]:
        """One running member at a time: stopped gracefully (SIGTERM, its grace period), started
        again, waited for until ready (the load balancer's health checks take it back)."""
        deadline = Deadline(timeout)
        done = []
        for node in [n for n in self.nodes(layer) if n.running]:
            self.client.stop(node.name, by="chaos")
            self.client.wait_stopped(node.name, timeout=max(1.0, deadline.remaining()))
            self.client.start(node.name, by="chaos")
            self.client.wait_ready(node.name, timeout=max(1.0, deadline.remaining()))
            done.append(node.name)
        return done

    # ---- the playbooks' view and member controls ------------------------------------------------------
    def baseline(self) -> dict[str, int]:
        """Replica counts the twin is built with (its topology), per workload."""
        if self._baseline is None:
            from ..sandbox import topology
            from ..sandbox.twin import Twin
            self._baseline = {w.name: w.replicas for w in topology.build(Twin.create(self.env.sandbox)).workloads}
        return self._baseline

    def view(self, layer: str) -> LayerView:
        """Every member of the layer's baseline, from the supervisor's status: a member not desired
        although within its workload's replica count is held (stopped on purpose)."""
        status = self._status()  # raises NotRunning with a hint when the twin is down
        replicas = {w["name"]: int(w["replicas"]) for w in status["workloads"] if w["layer"] == layer}
        baseline = {w: n for w, n in self.baseline().items() if w in replicas}
        now = time.time()
        members = []
        for m in status["members"]:
            if m["layer"] != layer or m["kind"] == "job" or m["index"] > baseline.get(m["workload"], 0):
                continue
            running = m["pid"] is not None
            held = not m["desired"] and m["index"] <= replicas.get(m["workload"], 0) and m["state"] != "succeeded"
            members.append(Member(
                name=m["name"], workload=m["workload"], layer=layer, index=m["index"], state=m["state"],
                ready=bool(m["ready"]), running=running, held=held, wanted=True,
                up_s=None if not (running and m.get("started_at")) else now - m["started_at"],
                restarts=int(m["restarts"]), address=m.get("address")))
        return LayerView(layer=layer, replicas=replicas, baseline=baseline, members=tuple(members))

    def scale(self, workload: str, replicas: int) -> None:
        self.client.scale(workload, replicas)

    def start_member(self, member: str) -> None:
        self.start(Node(name=member, layer=""), by="playbook")

    def stop_member(self, member: str) -> None:
        self.stop(Node(name=member, layer=""), by="playbook")

    def replace_member(self, member: str) -> None:
        """SIGKILL; the supervisor starts a fresh one (as deleting a stuck pod does)."""
        self.kill(Node(name=member, layer=""), by="playbook")

    # ---- a member's storage (the disk-loss drill; the twin's own business: gameday.sandbox.storage) ----
    STORAGE_STOP_TIMEOUT = 60.0

    def _twin(self):
        from ..sandbox.twin import Twin
        return Twin.create(self.env.sandbox, net=self.env.net)  # the addresses are the twin's (its net)

    def _held_and_stopped(self, member: str, *, why: str) -> None:
        """Raise unless ``member`` is held (kept stopped) and has no process, waiting up to
        :attr:`STORAGE_STOP_TIMEOUT` seconds for it to exit."""
        m = self.client.member(member)  # a UsageError naming the members when there is none
        if m["desired"]:
            raise UsageError(f"{member} is running or wanted running; {why} only while it is held stopped",
                             hint=f"stop it first: gameday sandbox --name {self.env.sandbox} stop {member}")
        self.client.wait_stopped(member, timeout=self.STORAGE_STOP_TIMEOUT)

    def check_storage_drill(self, layer: str) -> None:
        """The twin can lose and restore the storage of Kafka brokers and search nodes."""
        from ..sandbox import storage
        if layer not in storage.NODES:
            raise UsageError(f"{self.name}: {layer} members have no storage the twin can lose; nothing was touched",
                             hint=f"layers with storage: {', '.join(storage.NODES)}")

    def lost_storage(self, layer: str) -> list[str]:
        from ..sandbox import storage
        return storage.lost(self._twin(), layer)

    def search_snapshot_repository(self) -> dict:
        """The twin's filesystem repository (``path.repo`` of every node), outside every node's data."""
        from ..sandbox.members import search
        return {"type": "fs", "settings": {"location": str(search.snapshot_dir(self._twin())), "compress": True}}

    def search_snapshot_schedule(self) -> dict:
        """The twin's snapshot schedule and its newest snapshot (:func:`gameday.sandbox.search_snapshot_schedule.status`)."""
        from ..sandbox import search_snapshot_schedule
        return search_snapshot_schedule.status(self._twin())

    def set_search_snapshot_schedule(self, *, interval_s: float | None = None, keep: int | None = None) -> dict:
        """Change the schedule (the ``search-snapshot-1`` member applies it within seconds); returns the settings."""
        from dataclasses import asdict

        from ..sandbox import search_snapshot_schedule
        return asdict(search_snapshot_schedule.configure(self._twin(), interval_s=interval_s, keep=keep))

    def lose_member_storage(self, member: str) -> dict:
        """Hold the member (the supervisor will not restart it), SIGKILL it as a dying disk crashes
        the broker or node, wait until it has exited, then delete its data directory."""
        from ..sandbox import storage
        storage.describe(self._twin(), member)  # refuses a member without such storage before touching it
        self.client.stop(member, by="chaos")
        if self.client.member(member)["pid"] is not None:
            try:
                self.client.kill(member, "KILL", by="chaos")
            except UsageError:
                pass  # it exited between the two requests: nothing left to kill
        self._held_and_stopped(member, why="its storage can be destroyed")
        return {**storage.lose(self._twin(), member), "stopped": True}

    def restore_member_storage(self, member: str) -> dict:
        """Give the held member's lost storage back (Kafka: formatted with the cluster id and its node
        id; search: an empty data directory); the caller starts it."""
        from ..sandbox import storage
        self._held_and_stopped(member, why="its storage can be formatted")
        return storage.restore(self._twin(), member)

    def describe_member_storage(self, member: str) -> dict:
        """``{"member", "data_dir", "exists", "formatted", "meta"}`` of a twin member (tests and reports)."""
        from ..sandbox import storage
        return storage.describe(self._twin(), member)

    # ---- a broker's disk full (gameday.sandbox.log_disk: kafka-3 on a small loop-mounted filesystem) ----
    def _disk_index(self, member: str) -> int:
        from ..sandbox import storage
        layer, i = storage._member(member)  # a UsageError for a member without storage
        if layer != "kafka":
            raise UsageError(f"{member}: only Kafka brokers' disks can be filled on the twin; nothing was touched")
        return i

    def log_disks(self, layer: str) -> list[dict]:
        from ..sandbox import log_disk
        from ..sandbox.twin import KAFKA_NODES
        if layer != "kafka":
            return []
        twin = self._twin()
        found = []
        for i in range(1, KAFKA_NODES + 1):
            if log_disk.record(twin, i):
                try:
                    found.append(log_disk.usage(twin, i))
                except UsageError as err:  # recorded but not mounted: say so, claim nothing about its use
                    found.append({"member": f"kafka-{i}", "error": str(err), "full": False})
        return found

    def check_disk_full_drill(self, layer: str) -> str:
        """kafka-3, when the twin put its log directory on a small filesystem (made at `sandbox up`
        as root on a fresh twin); a UsageError saying why not otherwise."""
        from ..sandbox import log_disk
        if layer != "kafka":
            raise UsageError(f"{self.name}: only Kafka brokers' disks can be filled on the twin; nothing was touched")
        log_disk.require(self._twin(), log_disk.MEMBER_INDEX)
        return f"kafka-{log_disk.MEMBER_INDEX}"

    def fill_member_disk(self, member: str) -> dict:
        from ..sandbox import log_disk
        return log_disk.fill(self._twin(), self._disk_index(member))

    def free_member_disk(self, member: str) -> dict:
        """Remove the filler (in the twin; on GKE the volume is expanded instead)."""
        from ..sandbox import log_disk
        return log_disk.free(self._twin(), self._disk_index(member))

    # ---- the database's backups and point-in-time restore (gameday.sandbox.db_backup) ------------------
    def _db_host(self):
        """The current primary's socket and binary log, and the twin's shared backup directory."""
        from ..sandbox.db_backup import DbHost
        return DbHost.of_twin(self._twin())

    def check_db_restore_drill(self) -> None:
        """The twin can destroy content and restore it to a point in time on whichever member is the
        primary now (db-1, or db-2 after a failover): it answers and keeps a binary log. Refused, with
        nothing touched, when the primary is recorded lost (fail over first) or is a read-only standby
        region's (restore in the active region: the standby follows it). The backup drill's fault calls
        it first (a target without this method refuses the drill)."""
        from ..sandbox import db_backup, db_roles
        roles = db_roles.load(self._twin())
        if roles.primary in roles.lost:
            raise UsageError(f"{self.name}: the database primary {roles.primary} is lost; nothing was touched",
                             hint="fail over first: gameday playbook db --apply")
        if roles.upstream or roles.region_fenced:
            raise UsageError(f"{self.name}: this region's database is read-only (a standby region, or one switched "
                             "away from); a restore here would diverge it from the active region; nothing was touched",
                             hint="run the drill against the active region's environment")
        with self._db_host().connect() as conn:
            db_backup.require_binlog(conn)

    def last_db_backup(self) -> dict | None:
        """The newest complete backup in the twin's backup directory (whichever member it was taken
        from; the ``db-backup-1`` member takes one every interval: :meth:`db_backup_schedule`)."""
        from ..sandbox import db_backup
        return db_backup.newest(self._db_host())

    def take_db_backup(self) -> dict:
        """A full backup of the site's database on the current primary, now: physical
        (``mariadb-backup``, prepared for export) where possible, else a ``mariadb-dump``
        (:func:`gameday.sandbox.db_backup.take`)."""
        from ..sandbox import db_backup
        return db_backup.take(self._db_host())

    def db_backup_schedule(self) -> dict:
        """The twin's backup schedule and its newest backup (:func:`gameday.sandbox.db_backup_schedule.status`)."""
        from ..sandbox import db_backup_schedule
        return db_backup_schedule.status(self._twin())

    def set_db_backup_schedule(self, *, interval_s: float | None = None, keep: int | None = None) -> dict:
        """Change the schedule (the ``db-backup-1`` member applies it within seconds); returns the settings."""
        from dataclasses import asdict

        from ..sandbox import db_backup_schedule
        return asdict(db_backup_schedule.configure(self._twin(), interval_s=interval_s, keep=keep))

    def find_db_incident(self, table: str, *, since: float) -> dict | None:
        """The first transaction at or after ``since`` that destroyed ``table`` (a DELETE of its rows, a
        DROP or TRUNCATE), read from the current primary's binary log: ``{"gtid", "file", "start", "end",
        "at", "rows", "statements", "what"}``, or None. The db playbook names it to :meth:`restore_db_to`."""
        from ..sandbox import db_backup
        host = self._db_host()
        found = db_backup.find_incident(host, table, since=since)
        if found is None:
            return None
        return {**found.to_dict(), "what": found.destroys(host.database, table)}

    def restore_db_to(self, moment: float, *, skip: list[str] | None = None) -> dict:
        """The newest backup before ``moment`` (taken from any member), the current primary's binary
        log replayed from it (from the backup's GTID position) except the transactions whose GTIDs are
        in ``skip``, and the tables they touched swapped in while the site keeps serving
        (:func:`gameday.sandbox.db_backup.restore_to`)."""
        from ..sandbox import db_backup
        return db_backup.restore_to(self._db_host(), moment, skip=skip)

    # ---- the database's primary, replica and failover (gameday.sandbox.db_replication) --------------
    def db_roles(self) -> dict | None:
        from ..sandbox import db_roles
        return db_roles.load(self._twin()).to_dict()

    def db_replication(self) -> dict:
        from ..sandbox import db_replication
        self._status()  # NotRunning with a hint when the twin is down
        return db_replication.status(self._twin())

    def lose_db_primary(self) -> dict:
        """The primary is recorded lost, held (the supervisor will not restart it) and SIGKILLed, as a
        dying machine takes it; waits until it has exited."""
        from ..sandbox import db_replication
        twin = self._twin()
        roles = self.db_roles()
        primary = roles["primary"]
        if not [r for r in roles["replicas"] if r not in roles["lost"]]:
            raise UsageError(f"{self.name}: the database has no replica to fail over to (roles {roles}); "
                             "nothing was touched", hint="rebuild the replica first: gameday playbook db --apply")
        before = db_replication.member_state(twin, primary)
        db_replication.mark_lost(twin, primary)
        self.client.stop(primary, by="chaos")
        if self.client.member(primary)["pid"] is not None:
            try:
                self.client.kill(primary, "KILL", by="chaos")
            except UsageError:
                pass  # it exited between the two requests
        self._held_and_stopped(primary, why="the primary is lost")
        return {"member": primary, "mode": roles["mode"], "semisync_active": bool(
            before.get("semisync", {}).get("primary")), "gtid": before.get("gtid_binlog_pos")}

    def promote_db_replica(self, member: str | None = None) -> dict:
        from ..sandbox import db_replication
        return db_replication.promote(self._twin(), member)

    def repoint_db_endpoint(self) -> dict:
        from ..sandbox import db_replication
        return db_replication.repoint(self._twin())

    def rebuild_db_replica(self, member: str, *, reseed: bool = False) -> dict:
        from ..sandbox import db_replication
        return db_replication.rebuild(self._twin(), member, reseed=reseed)

    def set_db_replication(self, mode: str) -> dict:
        """Switch the twin's replication mode (``async`` or ``semisync``) now and for later starts."""
        from ..sandbox import db_replication
        return db_replication.set_mode(self._twin(), mode)

    # ---- a zone lost (labels: gameday.zones) ---------------------------------------------------------------
    ZONE_STOP_TIMEOUT = 60.0

    def check_zone_drill(self) -> None:
        """The twin's members carry zone labels (zone-a/b/c; the load balancer and toxiproxy: regional)."""

    def zones(self) -> tuple[str, ...]:
        return zones.ZONES

    def zone_members(self, zone: str) -> dict[str, list[str]]:
        """Service members labelled ``zone`` that run or are wanted running (not ones held before)."""
        out: dict[str, list[str]] = {}
        for m in self._status()["members"]:
            if m["kind"] == "service" and m.get("desired", True) and m["labels"].get(zones.LABEL) == zone:
                out.setdefault(m["layer"], []).append(m["name"])
        return out

    def lose_zone(self, zone: str) -> dict:
        """Record a database primary in the zone lost (when a replica outside the zone can take over),
        SIGKILL every member of the zone, as a zone's machines go, hold them at once (the supervisor
        will not restart them), and wait until every one has exited."""
        from ..sandbox import db_replication
        try:
            zones.check_zone(zone)
        except ValueError as err:
            raise UsageError(f"{err}; nothing was touched") from None
        by_layer = self.zone_members(zone)
        names = [n for members in by_layer.values() for n in members]
        if not names:
            raise UsageError(f"{self.name}: no running member is labelled zone={zone}; nothing was touched",
                             hint="`gameday sandbox status` shows each member's labels")
        roles = self.db_roles()
        primary_lost = None
        if roles and roles["primary"] in names:
            if [r for r in roles["replicas"] if r not in roles["lost"] and r not in names]:
                db_replication.mark_lost(self._twin(), roles["primary"])
                primary_lost = roles["primary"]
        started = time.monotonic()
        running = {m["name"] for m in self._status()["members"] if m["name"] in names and m["pid"] is not None}
        for name in names:  # SIGKILL first, as a machine that loses power: no shutdown begins. A SIGTERM then
            if name in running:  # a SIGKILL left MariaDB a prepared transaction its closed binlog could not resolve
                try:
                    self.client.kill(name, "KILL", by="chaos")
                except UsageError:
                    pass  # it exited between the two requests: nothing left to kill
        for name in names:  # then held, within milliseconds: the supervisor's first restart waits at least 1 s
            self.client.stop(name, by="chaos")
        deadline = Deadline(self.ZONE_STOP_TIMEOUT)
        for name in names:
            self.client.wait_stopped(name, timeout=max(1.0, deadline.remaining()))
        return {"zone": zone, "members": names, "by_layer": by_layer, "db_primary_lost": primary_lost,
                "all_stopped_s": round(time.monotonic() - started, 2)}

    def restore_zone(self, zone: str, members: list[str]) -> dict:
        """Release every member held by :meth:`lose_zone`; the supervisor starts them (a database
        member starts fenced when its roles say it is no longer the primary)."""
        for name in members:
            self.client.start(name, by="chaos")
        return {"zone": zone, "started": list(members)}

    # ---- this twin as one region of a region set (gameday.sandbox.regions, region_control) ----------------
    def reader_url(self) -> str:
        """The twin's global front when this twin is one region of a running region set (readers
        reach the site there, whichever region is active); else its own load balancer."""
        if self.env.regions and not self.env.site_url:
            from ..sandbox.regions import Regions
            regions = Regions.containing(self._twin())
            if regions.configured() and SandboxClient(regions.front.paths).running():
                return regions.front.lb_url
        return self.site_url()

    def region_front(self, cfg: dict) -> Front:
        """``kind: twin``: the twin's global HAProxy (:class:`TwinFront`); else the generic fronts."""
        if cfg.get("kind", "twin") == "twin":
            return TwinFront(self._regions()[0])
        return super().region_front(cfg)

    def _regions(self):
        from ..sandbox.regions import Regions
        twin = self._twin()
        regions = Regions.containing(twin)
        if not regions.configured():
            from ..errors import RegionSetNotRunning
            raise RegionSetNotRunning(f"{self.name}: twin {twin.name!r} is not part of a region set",
                             hint=f"start two regions: gameday sandbox --name {regions.primary.name} up --regions 2")
        return regions, twin.shape.region

    def region_replication(self) -> dict:
        from ..sandbox import region_control
        regions, _region = self._regions()
        return region_control.replication(regions)

    def wait_region_caught_up(self, timeout: float) -> dict:
        from ..sandbox import region_control
        regions, _region = self._regions()
        return region_control.wait_caught_up(regions, timeout=timeout)

    def fence_region_writes(self) -> dict:
        from ..sandbox import region_control
        regions, region = self._regions()
        return region_control.fence_writes(regions, region)

    def fence_region_restart(self) -> dict:
        """The twin's fence is ``SET GLOBAL read_only = 1`` on MariaDB (:func:`gameday.sandbox.db_region.fence`):
        a dynamic variable, no restart."""
        self._regions()
        return {"required": False, "flags": {"read_only": False},
                "source": "MariaDB: SET GLOBAL read_only is a dynamic variable"}

    def promote_region(self, *, planned: bool) -> dict:
        from ..sandbox import region_control
        regions, region = self._regions()
        return region_control.promote(regions, region, planned=planned)

    def resize_region(self, size: str) -> dict:
        from ..sandbox import region_control
        regions, region = self._regions()
        return region_control.resize(regions, region, size)

    def lose_region(self) -> dict:
        from ..sandbox import region_control
        regions, region = self._regions()
        return region_control.lose(regions, region)

    def restore_region(self, *, active: bool) -> dict:
        from ..sandbox import region_control
        regions, region = self._regions()
        return region_control.restore(regions, region, active=active)

    def region_lost(self) -> bool:
        from ..sandbox import region_control
        regions, region = self._regions()
        return bool(region_control.held(regions, region))

    def rebuild_region_as_standby(self, active: Target) -> dict:
        from ..sandbox import region_control
        regions, region = self._regions()
        return region_control.rebuild_as_standby(regions, region)

    # ---- a web replica that runs but is not ready (gameday.sandbox.web_faults) ---------------------------
    def check_readiness_fault(self) -> None:
        """The twin's web replicas honour the readiness fault (``GAMEDAY_FAULTS_DIR``)."""

    def make_unready(self, member: str) -> dict:
        """Hold the running web replica's process not ready (its pid in the marker file)."""
        from ..sandbox import web_faults
        m = self.client.member(member)  # a UsageError naming the members when there is none
        if m["layer"] != "web" or m["pid"] is None:
            raise UsageError(f"{member} is not a running web replica; nothing was touched")
        web_faults.hold_unready(self._twin(), member, pid=int(m["pid"]))
        return {"member": member, "pid": int(m["pid"])}

    def make_ready(self, member: str) -> dict:
        from ..sandbox import web_faults
        return {"member": member, "existed": web_faults.release(self._twin(), member)}

    # ---- endpoints ---------------------------------------------------------------------------------
    def _endpoint(self, layer: str, port: str) -> list[str]:
        """``host:port`` of every member of the layer's baseline, running or not (a database held
        or scaled to 0 still has an address; asking for it must not fail)."""
        status = self._status()
        baseline = self.baseline()
        found = [f"{m['address']}:{m['ports'][port]}" for m in status["members"]
                 if m["layer"] == layer and m["address"] and port in m["ports"]
                 and m["index"] <= baseline.get(m["workload"], 0)]
        if not found:
            raise UsageError(f"sandbox {self.env.sandbox!r} has no {layer} member with a {port} port")
        return found

    def site_url(self) -> str:
        return self.env.site_url or f"http://{self._endpoint('lb', 'http')[0]}"

    def kafka_bootstrap(self) -> str:
        return ",".join(self._endpoint("kafka", "broker"))

    def search_urls(self) -> list[str]:
        return [f"https://{hp}" for hp in self._endpoint("search", "http")]

    def search_auth(self) -> tuple[str, str]:
        """The twin's search superuser (``elastic``) and its password, from its secrets directory (0600)."""
        from .. import redact
        from ..sandbox.twin import Twin
        user, password = Twin.create(self.env.sandbox).search_auth()
        redact.register(password)
        return user, password

    def publisher_auth(self) -> tuple[str, str] | None:
        """The WordPress ``publisher`` user and its Application Password, from the twin's
        ``secrets/wordpress-publisher.env`` (0600, made by the twin's WordPress files:
        :func:`gameday.sandbox.members.wordpress.publisher_credentials`), read at the moment of use;
        None when the twin has none (a web tier that asks for no credential: nothing is sent)."""
        return twin_publisher_auth(self.env.sandbox)

    def search_verify(self) -> str:
        """The twin's CA file: it issued the search nodes' certificate."""
        from ..sandbox.twin import Twin
        return Twin.create(self.env.sandbox).search_ca()

    def db_tls(self):
        """TLS to the twin's database, verified against the twin's CA (it issued the members'
        certificate, which names their addresses and ``db.<twin>.gameday.test``) and by name."""
        from ..db_client import DbTls
        from ..sandbox.twin import Twin
        return DbTls(ca_file=Twin.create(self.env.sandbox).search_ca(), where="the twin's database")

    def db_address(self) -> tuple[str, int]:
        """The database's one stable endpoint (whichever member is the primary; :meth:`Twin.db_addr`)."""
        host, port = self._twin().db_addr().split(":")
        return host, int(port)

    def flush_site_caches(self, *, timeout_s: float | None = None) -> dict:
        """The twin's object cache (``cache-N``, WordPress's Redis) emptied and its CDN (``cdn-N``,
        Varnish) banned, for those it runs (:func:`gameday.sandbox.site_caches.flush`); ``None`` for
        one it does not run (the Python site has no object cache)."""
        from ..sandbox import site_caches
        return site_caches.flush(self._twin(), self._status())

    def site_caches(self) -> dict:
        """The twin's running ``cache-N`` and ``cdn-N`` (:func:`gameday.sandbox.site_caches.members`)."""
        from ..sandbox import site_caches
        return site_caches.members(self._status())

    # ---- WordPress media (gameday.sandbox.media): uploads in the twin's WP_CONTENT_DIR, backups in data/ ----
    def has_media(self) -> bool:
        from ..sandbox import media
        return media.has_media(self._twin())

    def no_media_store(self) -> str:
        from ..sandbox import media
        twin = self._twin()
        if twin.shape.web == "python":
            return f"the twin {twin.name!r} runs the Python site as its web tier, which keeps no uploads"
        return f"the twin {twin.name!r} has no WordPress uploads directory ({media.uploads_dir(twin)}): not prepared yet"

    def last_media_backup(self) -> dict | None:
        """The newest complete copy in the twin's ``data/media-backups/`` (:func:`gameday.sandbox.media.newest`)."""
        from ..sandbox import media
        return media.newest(self._twin())

    def take_media_backup(self) -> dict:
        from ..sandbox import media
        return media.take(self._twin())

    def media_backup_manifest(self, backup_id: str) -> dict:
        from ..sandbox import media
        return media.manifest(self._twin(), backup_id)

    def media_files(self) -> dict:
        from ..sandbox import media
        return media.files(self._twin())

    def lose_media(self, fraction: float = 1.0) -> list[str]:
        from ..sandbox import media
        return media.lose(self._twin(), fraction)

    def restore_media(self, backup_id: str | None = None) -> dict:
        from ..sandbox import media
        return media.restore(self._twin(), backup_id)

    def object_cache_status(self) -> dict | None:
        """Each of the twin's ``cache-N`` as Redis counts it (:func:`gameday.sandbox.site_caches.status`);
        None when the twin runs no object cache (the Python site)."""
        from ..sandbox import site_caches
        return site_caches.status(self._twin(), self._status())

    def front_door_url(self) -> str:
        """The twin's public front door when it runs a CDN: the load balancer's ``:8081``, which sends
        readers to an edge that answers and to the origin when none does
        (:func:`gameday.sandbox.front_door.front_door_url`); else :meth:`reader_url`. An environment's
        declared ``site_url`` wins, and so does a running regions front (readers arrive there)."""
        if self.env.site_url:
            return self.env.site_url
        reader = self.reader_url()
        if reader != self.site_url():  # one region of a pair: readers arrive at the global front
            return reader
        from ..sandbox import front_door
        return front_door.front_door_url(self._twin(), self._status()) or reader

    def cdn_status(self) -> dict | None:
        """Each of the twin's ``cdn-N`` as varnishstat counts it (:func:`gameday.sandbox.front_door.cdn_status`)."""
        from ..sandbox import front_door
        return front_door.cdn_status(self._twin(), self._status())

    def web_pool_status(self) -> dict | None:
        """Each WordPress replica's PHP-FPM pool from its status socket (:func:`gameday.sandbox.fpm_status.pools`);
        None for the Python site."""
        from ..sandbox import fpm_status
        return fpm_status.pools(self._twin(), self._status())

    def content_schema(self) -> ContentSchema:
        """The twin's own (:meth:`gameday.sandbox.twin.Twin.content_schema`): the Python site's ``articles``
        and ``outbox`` tables (``ARTICLES_TABLE``), or ``WORDPRESS`` when the twin runs WordPress
        (``gameday sandbox up --web wordpress``, kept in its shape)."""
        return self._twin().content_schema()

    def db_credentials(self) -> tuple[str, str, str]:
        """(user, password, database): the twin's, from its secrets directory (0600)."""
        from .. import redact
        from ..sandbox.twin import DB_NAME, DB_USER, Twin
        password = Twin.create(self.env.sandbox).db_password()
        redact.register(password)
        return DB_USER, password, DB_NAME

    def secrets(self) -> list[str]:
        """The twin's database and search passwords, WordPress's admin and publisher passwords and the
        object cache's (those made so far)."""
        from ..sandbox.members import redis_cache, wordpress
        from ..sandbox.twin import Twin
        from .credentials import basic_token
        twin = Twin.create(self.env.sandbox)
        files = [twin.db_env_file, twin.db_replication_env_file, twin.search_env_file,
                 wordpress.publisher_env_file(twin), wordpress.admin_env_file(twin), redis_cache.env_file(twin)]
        values = [f.read_text().split("=", 1)[1].strip() for f in files if f.exists()]
        publisher = twin_publisher_auth(self.env.sandbox)
        return values + ([basic_token(*publisher)] if publisher else [])  # the header's form too

    def health_check(self, layer: str) -> dict:
        """The twin's web replicas answer ``/readyz`` on port 8000 (unless the environment says otherwise)."""
        return self.env.health_check(layer, port=8000 if layer == "web" else 80)

    def versions(self) -> dict[str, str]:
        from ..sandbox import install
        return {"kafka": install.KAFKA_VERSION, "opensearch": install.OPENSEARCH_VERSION}

    def check_tools(self) -> None:
        """The twin's servers are installed (``gameday sandbox install``)."""
        from ..sandbox import install
        install.check()

    def toxiproxy_api(self) -> str | None:
        found = self._endpoint("toxiproxy", "api")
        return f"http://{found[0]}" if found else None


class TwinFront(Front):
    """The twin's global front: an HAProxy before both regions' load balancers (:mod:`gameday.sandbox.members.front`)."""

    def __init__(self, regions):
        self.regions = regions

    def active(self) -> str:
        return self.regions.active()

    def switch(self, region: str) -> dict:
        from ..sandbox.members import front
        return front.switch(self.regions, region)

    def url(self) -> str | None:
        return self.regions.front.lb_url


def twin_publisher_auth(sandbox: str) -> tuple[str, str] | None:
    """Twin ``sandbox``'s WordPress publisher and its Application Password (``secrets/wordpress-publisher.env``),
    or None when the twin has made none; never makes one. The password is registered with :mod:`gameday.redact`."""
    from ..sandbox.members import wordpress
    from ..sandbox.twin import Twin
    from .credentials import register_basic
    try:
        password = wordpress.publisher_env_file(Twin.create(sandbox)).read_text().split("=", 1)[1].strip()
    except (FileNotFoundError, IndexError):
        return None
    if not password:
        return None
    register_basic(wordpress.PUBLISHER_USER, password)
    return wordpress.PUBLISHER_USER, password
