"""Each layer's redundancy, watched through a scenario: when could it survive its next loss again?

    watch = Watch(env).start()             # a first look at every layer, then one thread per layer
    ...                                    # the experiment, the playbook
    watch.wait(min_s=cooldown, max_s=cooldown + REDUNDANCY_WAIT_S)   # the cool-down, longer while a layer is not full
    for r in watch.stop(fault_at): events.add("redundancy", scenario=name, **r.to_event())

"Full" per layer (:data:`CHECKS`): Kafka, every partition's ISR as long as its replica list
(:func:`gameday.kafka_admin.partition_health`); search, the cluster green
(:meth:`gameday.search_admin.SearchAdmin.health`); web, every replica of the baseline ready
(``Target.view("web")``); the database, every replica replicating from the primary and within
:data:`DB_CAUGHT_UP_TRANSACTIONS` of it, no member lost or fenced (``Target.db_replication``); the
event relay (a WordPress web tier), its outbox backlog drained (:func:`gameday.outbox.backlog`); the
object cache, every member answering with keys (``Target.object_cache_status``). A layer of
:data:`OPTIONAL` the target has no members for is left out of the account. A
target whose database has no replica (``Target.db_roles()`` None) is :data:`NOT_MEASURED` for db,
said so rather than inventing a figure. A look
that fails (the cluster does not answer) counts as not full, with its reason. Reads only; each
look is bounded by its client's timeout; :meth:`Watch.wait` is bounded by ``max_s``.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from .. import kafka_admin
from ..deadline import Deadline
from ..errors import GamedayError
from ..gtid import parse_gtids
from ..measure.phases import NOT_MEASURED, LayerRedundancy, Sample, judge_samples
from ..targets import Target, for_environment
from ..targets.environment import Environment

REDUNDANCY_WAIT_S = 120.0  # after the cool-down, how much longer a game day waits for full redundancy
INTERVAL_S = 1.0
LOOK_TIMEOUT_S = 5.0

Look = Callable[[Target], tuple[bool, str]]


def kafka_full(target: Target) -> tuple[bool, str]:
    h = kafka_admin.partition_health(target.kafka_bootstrap(), timeout=LOOK_TIMEOUT_S)
    short = h["under_replicated"] + h["offline"] + [f"{t} missing" for t in h["missing_topics"]]
    if short:
        return False, f"{len(short)} of {h['partitions']} partitions short of their replicas ({', '.join(short[:3])})"
    return True, f"{h['partitions']} partitions, every ISR full, {len(h['brokers'])} brokers"


def search_full(target: Target) -> tuple[bool, str]:
    h = target.search_admin(timeout=LOOK_TIMEOUT_S).health()
    text = (f"cluster {h['status']}, {h.get('number_of_nodes')} nodes, {h.get('unassigned_shards', 0)} shards unassigned")
    return h["status"] == "green", text


DB_CAUGHT_UP_TRANSACTIONS = 10  # a replica this close to the primary's position has caught up (writes never stop)


def db_full(target: Target) -> tuple[bool, str]:
    status = target.db_replication()
    roles, members = status["roles"], status["members"]
    head = {d: n for d, (_s, n) in parse_gtids(members.get(roles["primary"], {}).get("gtid_binlog_pos")).items()}
    said, full = [], not roles["lost"] and not roles["fenced"] and bool(roles["replicas"])
    said += [f"{m} lost" for m in roles["lost"]] + [f"{m} fenced" for m in roles["fenced"]]
    for r in roles["replicas"]:
        m = members.get(r, {})
        have = {d: n for d, (_s, n) in parse_gtids(m.get("gtid_current_pos")).items()}
        behind = sum(max(0, n - have.get(d, 0)) for d, n in head.items())
        ok = bool(m.get("replicating")) and behind <= DB_CAUGHT_UP_TRANSACTIONS
        full = full and ok
        unknown = members.get(roles["primary"], {}).get("gtid_binlog_pos") is None  # Cloud SQL's Admin API gives none
        lag = "lag not measured (no GTID position)" if unknown else f"{behind} transactions behind"
        said.append(f"{r} {'replicates' if m.get('replicating') else 'does not replicate'} from {roles['primary']}, {lag}")
    return full, "; ".join(said) or f"{roles['primary']} has no replica"


def web_full(target: Target) -> tuple[bool, str]:
    view = target.view("web")
    want = sum(view.baseline.values())
    ready = [m.name for m in view.members if m.ready]
    return (not view.scaled_down and len(ready) >= want > 0), f"{len(ready)} of {want} replicas ready"


RELAY_IN_FLIGHT_S = 5.0  # an unsent outbox row younger than this is in flight (the relay polls every 0.5 s)


def events_full(target: Target) -> tuple[bool, str]:
    """The outbox's backlog drained: no row waiting longer than :data:`RELAY_IN_FLIGHT_S` (editors
    publish all along, so a row or two in flight is the steady state)."""
    from .. import outbox
    b = outbox.backlog(target)
    waiting = b["oldest_unsent_s"] if b["unsent"] else 0.0
    return b["unsent"] == 0 or waiting < RELAY_IN_FLIGHT_S, \
        f"{b['unsent']} outbox rows unsent" + (f", the oldest waiting {waiting:g} s" if b["unsent"] else "")


def cache_full(target: Target) -> tuple[bool, str]:
    """Every object cache member answers and holds keys again."""
    members = (target.object_cache_status() or {}).get("members") or {}
    bad = [n for n, m in members.items() if not (m["answers"] and m["keys"] > 0)]
    return (bool(members) and not bad), "; ".join(
        f"{n}: {m['keys']} keys" if m["answers"] else f"{n} not answering" for n, m in members.items()) or "no member"


CHECKS: dict[str, tuple[str, Look]] = {
    "kafka": ("every partition's ISR full", kafka_full),
    "search": ("cluster green", search_full),
    "web": ("every replica ready", web_full),
    "db": ("replica caught up", db_full),
    "events": ("outbox backlog drained", events_full),
    "cache": ("object cache answering and filled", cache_full),
}
OPTIONAL = {"events": "no event relay in this environment (the site publishes to Kafka itself)",
            "cache": "no object cache in this environment"}  # layers only a WordPress web tier has
NOT_MEASURED_LAYERS = {"db": ("replica caught up", "no database replica to check yet")}  # when not watched
NO_DB_REPLICA = "the database has no replica (a single server)"


def look(check: Look, target: Target) -> Sample:
    """One bounded look; a failure to answer is "not full", with its reason."""
    try:
        full, detail = check(target)
    except GamedayError as err:
        return Sample(at=time.time(), full=False, detail=f"did not answer: {err}", answered=False)
    except OSError as err:  # a socket or file the target reads, not wrapped by its client
        return Sample(at=time.time(), full=False, detail=f"did not answer: {type(err).__name__}: {err}", answered=False)
    except Exception as err:  # noqa: BLE001 (an odd answer, e.g. a health reply without its key: recorded, the
        # layer's thread keeps looking instead of dying and leaving its last sample to judge by)
        return Sample(at=time.time(), full=False, detail=f"could not be read: {type(err).__name__}: {err}",
                      answered=False)
    return Sample(at=time.time(), full=full, detail=detail)


class Watch:
    """Samples every layer of :data:`CHECKS` about once a second from :meth:`start` to :meth:`stop`,
    each layer in its own thread with its own target (a slow Kafka answer delays no other layer)."""

    def __init__(self, env: Environment, *, layers: tuple[str, ...] = tuple(CHECKS), interval_s: float = INTERVAL_S,
                 make_target: Callable[[Environment], Target] = for_environment):
        self.env, self.layers, self.interval_s = env, layers, interval_s
        self.make_target = make_target
        self.samples: dict[str, list[Sample]] = {layer: [] for layer in layers}
        self.before: dict[str, Sample] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._cutoff: float | None = None  # when :meth:`wait` last returned
        self.unmeasured: dict[str, str] = {}  # layers the target has nothing to look at for, with why
        self.absent: dict[str, str] = {}  # OPTIONAL layers this environment does not have, with why

    def start(self) -> "Watch":
        """Look at every layer once now (the state before the experiment), then keep looking."""
        try:
            for layer in self.layers:
                target = self.make_target(self.env)
                if layer in OPTIONAL:  # watched only where the target has members for it
                    try:
                        present = bool(target.view(layer).members)
                    except GamedayError as err:
                        present, why = False, f"its members could not be listed: {err}"
                    else:
                        why = OPTIONAL[layer]
                    if not present:  # not the environment's: left out of the account, not "not measured"
                        self.absent[layer] = why
                        continue
                if layer == "db":
                    try:  # Cloud SQL: read from its Admin API, which may refuse this caller
                        roles = target.db_roles()
                    except GamedayError as err:
                        self.unmeasured[layer] = f"the database's roles could not be read: {err}"
                        continue
                    if roles is None:
                        self.unmeasured[layer] = NO_DB_REPLICA
                        continue
                self.before[layer] = look(CHECKS[layer][1], target)
                thread = threading.Thread(target=self._loop, args=(layer, target), name=f"redundancy-{layer}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
        except BaseException:
            self.stop(None)  # no thread of a half-started watch keeps looking
            raise
        return self

    def _loop(self, layer: str, target: Target) -> None:
        check = CHECKS[layer][1]
        while not self._stop.is_set():
            sample = look(check, target)
            with self._lock:
                self.samples[layer].append(sample)
            self._stop.wait(self.interval_s)

    def full_now(self) -> bool:
        """Every layer that was full before the experiment says full again in its latest look (a
        layer already short before it, or never answering, is not waited for)."""
        with self._lock:
            return all(s and s[-1].full for layer, s in self.samples.items()
                       if self.before.get(layer) is not None and self.before[layer].full)

    def wait(self, *, min_s: float, max_s: float, until: Callable[[], bool] | None = None) -> float:
        """At least ``min_s`` (the cool-down), then until every layer is full again (and ``until()``
        is true, when given: the runner's "the load timeline shows the site recovered") or ``max_s``
        passed since the call; returns the seconds waited."""
        started = time.monotonic()
        floor, deadline = Deadline(min_s), Deadline(max_s)
        while not deadline.expired() and not (floor.expired() and self.full_now() and (until is None or until())):
            time.sleep(min(0.5, deadline.remaining()) or 0.05)
        self._cutoff = time.time()  # judged as seen here: a look still in flight adds nothing
        return time.monotonic() - started

    def stop(self, fault_at: float | None) -> list[LayerRedundancy]:
        """Stop looking; each layer's redundancy judged from the fault (db: not measured)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=LOOK_TIMEOUT_S * 4)
        out = []
        for layer in self.layers:
            if layer in self.absent:
                continue
            if layer in self.unmeasured:
                out.append(LayerRedundancy(layer, CHECKS[layer][0], NOT_MEASURED, detail=self.unmeasured[layer]))
                continue
            before = self.before.get(layer)
            with self._lock:
                samples = [x for x in self.samples[layer] if self._cutoff is None or x.at <= self._cutoff]
            out.append(judge_samples(layer, CHECKS[layer][0], samples, fault_at=fault_at,
                                     full_before=None if before is None else before.full))
        out += [LayerRedundancy(layer, check, NOT_MEASURED, detail=why) for layer, (check, why) in NOT_MEASURED_LAYERS.items()
                if layer not in self.layers]
        return out
