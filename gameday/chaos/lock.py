"""One experiment run per target at a time: a lock with an owner and an expiry.

    lock = lock_for(env)       # a file for the sandbox; a Lease in the cluster for a Kubernetes target
    lock.acquire()             # raises TargetLocked naming the owner, unless the holder is dead or expired
    lock.held_by_me()          # act only while this is true
    lock.release()             # only the owner's release removes it

The sandbox's lock is ``<state root>/locks/<target>.json``. A Kubernetes target's is the Lease
``gameday-lock-<target>`` (``coordination.k8s.io``) in its state namespace, so a laptop and the
CronJob exclude each other; its holder renews it every :data:`RENEW_S` seconds, and a Lease not
renewed for :data:`LEASE_S` seconds (its holder's pod was killed) may be taken over. On either, a lock
whose owner process is gone (same host) may be taken over at once, and the takeover is reported: a pid
reused by another process (they wrap at 32,768 here) does not keep a dead run's lock held.

The owner is its pid *and* that process's start (boot id and start tick, :func:`gameday.children.started_at`).

A ``chaos run`` releases every lock it took in its own name when it ends (:func:`release_taken`: the
guard's after-experiment hook), a region drill's other region too. Under a game day, the locks its
``chaos run`` children take are in the game day's name (``GAMEDAY_LOCK_PID``) and stay until it ends;
once it has exited they are stale. On a Kubernetes target the child renews such a Lease while it
runs (the game day renews only the Lease it took itself), and after it, nobody does: the Lease goes
stale :data:`LEASE_S` after the child ended, and a later child of the same game day takes it again.

A game day holds the lock for its whole run and lets the ``chaos run`` processes it starts act under
it: it exports ``GAMEDAY_LOCK_PID=<its pid>``, and a lock held by that pid counts as held by them
(:meth:`inherited`), which they neither take nor release.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import GamedayError
from ..statedir import state_root
from ..children import is_process, started_at

if TYPE_CHECKING:
    from ..targets.environment import Environment

DEFAULT_TTL = 4 * 3600.0
LEASE_S = 60  # a Kubernetes Lease not renewed for this long is stale
RENEW_S = 15.0
TORN_AFTER_S = 5.0  # a lock file with no record for this long was left by a writer that died writing it
HOLDER_ANNOTATION = "gameday.io/holder"

log = logging.getLogger("gameday.chaos")


class TargetLocked(GamedayError):
    pass


def lock_for(env: "Environment", **kwargs: Any) -> "TargetLock":
    """The lock of the target ``env`` describes: a Lease on a Kubernetes target, else a file."""
    if env.kind == "kubernetes":
        return LeaseLock(env, **kwargs)
    return TargetLock(env.name, **kwargs)


_taken: dict[str, "TargetLock"] = {}  # the locks this process took (its own pid), by target
_renewing: dict[str, "LeaseLock"] = {}  # the Lease each renewing thread of this process keeps, by Lease name
_taken_lock = threading.Lock()


def release_taken() -> list[str]:
    """Release every lock this process took itself (not one a game day lets it act under); returns
    the targets released. Called when an experiment ends::

        release_taken()   # ["regions-test-r1", "regions-test-r2"]
    """
    with _taken_lock:
        locks = list(_taken.values())
        _taken.clear()
    released = []
    for lock in locks:
        try:
            if lock.release():
                released.append(lock.target)
        except (GamedayError, OSError) as err:  # a Lease whose API server is gone: it goes stale after LEASE_S
            log.error("gameday: could not release the lock of %s: %s", lock.target, err)
    return released


def _forget(lock: "TargetLock") -> None:
    """A lock released (or given up) by its own call: no longer one :func:`release_taken` must release."""
    with _taken_lock:
        taken = _taken.get(lock.target)
        if taken is not None and taken.pid == lock.pid and type(taken) is type(lock):
            del _taken[lock.target]


def _default_pid(owner_pid: int | None) -> int:
    inherited = os.environ.get("GAMEDAY_LOCK_PID")
    return owner_pid or (int(inherited) if inherited else os.getpid())


def _locked(target: str, holder: dict) -> TargetLocked:
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    return TargetLocked(f"target {target!r} is locked by pid {holder.get('pid')} on {holder.get('host')} "
                        f"({holder.get('purpose')}, since {since}); nothing was touched",
                        hint="wait for that run to finish, or `gameday cleanup` if it died")


class TargetLock:
    """The file lock (the sandbox twin, and any target whose state is this machine's)."""

    def __init__(self, target: str, *, ttl: float = DEFAULT_TTL, owner_pid: int | None = None):
        self.target = target
        self.ttl = ttl
        self.pid = _default_pid(owner_pid)
        self.path = state_root() / "locks" / f"{target}.json"

    def holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _stale(self, holder: dict) -> bool:
        if holder.get("expires_at", 0) < time.time():
            return True
        return holder.get("host") == socket.gethostname() and not is_process(int(holder.get("pid", 0)),
                                                                             holder.get("pid_started"))

    def inherited(self) -> bool:
        """True when this process acts under a lock its parent game day holds."""
        return bool(os.environ.get("GAMEDAY_LOCK_PID")) and self.held_by_me()

    def _mine(self, holder: dict | None) -> bool:
        return (bool(holder) and holder.get("pid") == self.pid and holder.get("host") == socket.gethostname()
                and is_process(self.pid, holder.get("pid_started")))

    def _taken_here(self) -> None:
        if self.pid == os.getpid():
            with _taken_lock:
                _taken[self.target] = self

    def held_by_me(self) -> bool:
        return self._mine(self.holder())

    def _record(self, purpose: str) -> dict:
        return {"target": self.target, "pid": self.pid, "pid_started": started_at(self.pid),
                "host": socket.gethostname(), "purpose": purpose, "since": time.time(), "expires_at": time.time() + self.ttl}

    def acquire(self, purpose: str = "chaos") -> dict | None:
        """Take the lock; returns the stale holder it replaced, if any."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replaced = None
        if self.held_by_me():
            return None
        holder = self.holder()
        if holder is None and self._torn():
            replaced = {"target": self.target, "torn": True}  # a lock file its writer died writing (an older gameday)
            self.path.unlink(missing_ok=True)
        if holder is not None:
            if not self._stale(holder):
                raise _locked(self.target, holder)
            replaced = holder
            self.path.unlink(missing_ok=True)
        # the record is whole before the lock file exists (written aside, then linked into place: link
        # refuses an existing name, as O_EXCL does): a process killed at any moment never leaves an empty
        # lock file that no one could read, prove stale, or break
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}")
        tmp.write_text(json.dumps(self._record(purpose)))
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, self.path)
        except FileExistsError as err:
            raise TargetLocked(f"target {self.target!r} was locked by another run just now; nothing was touched") from err
        finally:
            tmp.unlink(missing_ok=True)
        self._taken_here()
        return replaced

    def _torn(self) -> bool:
        """The lock file exists but holds no record, and has for longer than a write takes: its writer
        died writing it (gameday before the record was linked into place whole)."""
        try:
            return time.time() - self.path.stat().st_mtime > TORN_AFTER_S
        except FileNotFoundError:
            return False

    def release(self) -> bool:
        _forget(self)
        if self.held_by_me():
            self.path.unlink(missing_ok=True)
            return True
        return False

    def break_stale(self) -> dict | None:
        """Remove the lock if its holder is dead or expired, or its file holds no record (a torn write);
        used by `gameday cleanup`."""
        holder = self.holder()
        if holder is None and self._torn():
            self.path.unlink(missing_ok=True)
            return {"target": self.target, "torn": True}
        if holder is not None and self._stale(holder):
            self.path.unlink(missing_ok=True)
            return holder
        return None


def _micro(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_micro(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.strptime(text.replace("+00:00", "Z"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class LeaseLock(TargetLock):
    """The target's Lease (``coordination.k8s.io/v1``) in its cluster: same interface as the file lock.

    ``spec.holderIdentity`` is ``<host>/<pid>``; the holder's purpose and start are in the annotation
    ``gameday.io/holder``. Takeover and release go through the resourceVersion read, so two processes
    racing for a stale Lease cannot both win.
    """

    def __init__(self, env: "Environment", *, ttl: float = DEFAULT_TTL, owner_pid: int | None = None,
                 lease_s: int = LEASE_S, renew_s: float = RENEW_S):
        super().__init__(env.name, ttl=ttl, owner_pid=owner_pid)
        from ..targets.kubernetes import KubernetesTarget
        from ..targets.kubernetes_state import KubernetesState, dns_name
        self.env = env
        self.state = KubernetesState(KubernetesTarget(env))
        self.name = dns_name("gameday-lock", env.name)
        self.path = None  # type: ignore[assignment]  # nothing on this machine's disk
        self.lease_s, self.renew_s = lease_s, renew_s
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()
        self.lost: str | None = None  # set when a renewal found the Lease gone or someone else's
        self._wanted = False  # set when this process takes the Lease again while this thread renews it

    def _read(self) -> tuple[dict | None, dict | None]:
        lease = self.state.read_lease(self.name)
        if lease is None:
            return None, None
        spec = lease.get("spec") or {}
        try:
            holder = json.loads((lease["metadata"].get("annotations") or {}).get(HOLDER_ANNOTATION) or "{}")
        except ValueError:
            holder = {}
        if not spec.get("holderIdentity"):
            return lease, None  # released
        holder.setdefault("host", spec["holderIdentity"].rsplit("/", 1)[0])
        renewed = _parse_micro(spec.get("renewTime") or spec.get("acquireTime"))
        holder["expires_at"] = min(holder.get("expires_at", float("inf")), renewed + int(spec.get("leaseDurationSeconds") or 0))
        return lease, holder

    def holder(self) -> dict | None:
        return self._read()[1]

    def _spec(self, *, acquired: float, transitions: int) -> dict:
        now = time.time()
        return {"holderIdentity": f"{socket.gethostname()}/{self.pid}", "leaseDurationSeconds": self.lease_s,
                "acquireTime": _micro(acquired), "renewTime": _micro(now), "leaseTransitions": transitions}

    def acquire(self, purpose: str = "chaos") -> dict | None:
        from ..targets.kubernetes_state import Conflict
        lease, holder = self._read()
        if self._mine(holder):
            self._keep_renewed()
            return None
        record = self._record(purpose)
        annotations = {HOLDER_ANNOTATION: json.dumps(record)}
        try:
            if lease is None:
                self.state.create_lease(self.name, self._spec(acquired=time.time(), transitions=0), annotations)
                replaced = None
            else:
                if holder is not None and not self._stale(holder):
                    raise _locked(self.target, holder)
                lease["metadata"]["annotations"] = {**(lease["metadata"].get("annotations") or {}), **annotations}
                lease["spec"] = self._spec(acquired=time.time(),
                                           transitions=int(lease["spec"].get("leaseTransitions") or 0) + 1)
                self.state.replace_lease(self.name, lease)  # carries the resourceVersion read
                replaced = holder
        except Conflict as err:
            raise TargetLocked(f"target {self.target!r} was locked by another run just now; nothing was touched") from err
        self._keep_renewed()
        self._taken_here()
        return replaced

    def _keep_renewed(self) -> None:
        """Renew the Lease from this process while it lives: the owner's, and a ``chaos run`` child's
        that took (or found) it in its game day's name. The game day renews only the Lease it took
        itself; a child's drill of another region outlasting :data:`LEASE_S` would otherwise act on a
        Lease that any other run may take over as stale."""
        with _taken_lock:  # the registry and each thread's decision to stop change under this lock only
            running = _renewing.get(self.name)
            if running is not None and running._renewer is not None and running._renewer.is_alive() \
                    and not running._stop.is_set() and running.pid == self.pid:
                running._wanted = True  # taken again: a renewal that found it released just before goes on
                return  # one renewing thread per Lease in a process, whichever call took it
            _renewing[self.name] = self
            self._wanted = False
            self._start_renewing()

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        """Renew every ``renew_s`` until released (a daemon thread: it dies with the process, and
        the Lease then expires after ``lease_s``). When no renewal has succeeded for ``lease_s``, the
        Lease is stale to every other process (anyone may break it): it is said ``lost`` and the
        thread stops, instead of asking an API server that is gone for as long as the process lives."""
        from ..targets.kubernetes_state import Conflict
        renewed = time.monotonic()
        while not self._stop.wait(self.renew_s):
            try:
                self.renew()
                renewed = time.monotonic()
            except (Conflict, GamedayError, OSError) as err:
                log.error("gameday: could not renew the lease %s: %s", self.name, err)
                if time.monotonic() - renewed >= self.lease_s:
                    self.lost = f"not renewed for {self.lease_s}s (the last error: {err}): stale, anyone may break it"
                    self._stop.set()
            if self.lost:
                log.error("gameday: lost the lease %s: %s", self.name, self.lost)

    def renew(self) -> None:
        """Move ``renewTime`` on; stop renewing once the Lease is released (by any instance of this
        process, or by a takeover, which is said as ``lost``)."""
        from ..targets.kubernetes_state import Conflict
        lease, holder = self._read()
        if holder is None:
            with _taken_lock:
                if getattr(self, "_wanted", False):  # taken again by this process since: renew that one next
                    self._wanted = False
                    return
                self._stop.set()  # released: nothing to renew
                if _renewing.get(self.name) is self:
                    del _renewing[self.name]
            return
        if not self._mine(holder):
            self.lost = f"now held by {holder.get('host')}/{holder.get('pid')}"
            self._stop.set()
            return
        lease["spec"]["renewTime"] = _micro(time.time())
        try:
            self.state.replace_lease(self.name, lease)
        except Conflict:
            # Another process renewing it in the same name (a game day and its chaos run child both
            # keep its Lease) moved it first: renewed all the same, if it is still ours.
            again, holder = self._read()
            renewed = _parse_micro((again or {}).get("spec", {}).get("renewTime"))
            if not (self._mine(holder) and time.time() - renewed < self.lease_s / 2):
                raise

    def release(self) -> bool:
        from ..targets.kubernetes_state import Conflict
        _forget(self)
        self._stop.set()
        lease, holder = self._read()
        if not self._mine(holder):
            return False
        try:
            return self.state.delete_lease(self.name, lease["metadata"]["resourceVersion"])
        except Conflict:
            return False

    def break_stale(self) -> dict | None:
        from ..targets.kubernetes_state import Conflict
        lease, holder = self._read()
        if holder is not None and self._stale(holder):
            try:
                self.state.delete_lease(self.name, lease["metadata"]["resourceVersion"])
            except Conflict:
                return None
            return holder
        return None
