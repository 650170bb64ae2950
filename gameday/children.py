"""Child processes that never outlive the process that started them.

Every long-lived child (Locust, ``chaos run``) is started with :func:`die_with_parent` as its
``preexec_fn``: the kernel sends it SIGTERM when the thread that started it dies, whatever killed
the runner (SIGKILL, OOM, a pod deadline)::

    subprocess.Popen(argv, preexec_fn=children.die_with_parent, env=children.marked(env, target))

SIGTERM, not SIGKILL: ``chaos run`` turns it into an interruption that runs the rollbacks, and Locust
stops its workers. A child is also marked with ``GAMEDAY_CHILD_OF=<target>`` in its environment, so
``gameday cleanup`` finds any that escaped (:func:`leftovers`, :func:`stop`).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import time
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
MARK = "GAMEDAY_CHILD_OF"
_libc = ctypes.CDLL(None, use_errno=True)


def started_at(pid: int) -> str | None:
    """Which start of process ``pid`` this is: ``"<boot id>:<start time in clock ticks since boot>"``
    (``/proc/<pid>/stat`` field 22), or None when there is no such process. A pid and its start name one
    process: pids are reused (this machine's ``pid_max`` is 32768, and a make test goes round it), starts
    are not, and unlike a wall-clock start time they do not move when the clock is stepped."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces and parentheses
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def is_process(pid: int, started: str | None) -> bool:
    """True while the process ``pid`` whose start is ``started`` (:func:`started_at`; None or not a
    string: unknown, any process with that pid counts) is alive; a process that reused the pid is not it."""
    if not is_running(pid):
        return False
    return not isinstance(started, str) or started_at(pid) == started


def is_running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def die_with_parent() -> None:
    """``preexec_fn``: SIGTERM this child when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``).
    If the parent is already gone by the time this runs, the child ends itself at once."""
    parent = os.getppid()
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died between fork and prctl
        os.kill(os.getpid(), signal.SIGTERM)


NICE_MIN, NICE_MAX = -20, 19


def relative_nice(offset: int) -> int:
    """This process's nice plus ``offset``, within the kernel's -20..19: a child's priority relative to its
    starter's (a member spec's ``cpu_nice``)."""
    return max(NICE_MIN, min(NICE_MAX, os.nice(0) + int(offset)))


def niced_argv(argv: list[str], offset: int) -> list[str]:
    """``argv`` run ``offset`` steps of nice from this process's (``nice -n``, before ``exec``: no window at
    the starter's priority); ``argv`` itself at 0. Lowering it needs root: else ``nice`` says so and runs it
    at the starter's."""
    return ["nice", "-n", str(int(offset)), *argv] if offset else list(argv)


def keep_nice(pid: int, nice: int | None = None) -> None:
    """Give the child ``pid``, just started in a session of its own (``start_new_session=True``), this
    process's CPU priority (nice) as its session's, so ``nice -n 10 gameday sandbox up`` yields the cores::

        proc = subprocess.Popen(argv, start_new_session=True)
        children.keep_nice(proc.pid)

    With the kernel's autogroups on (``/proc/sys/kernel/sched_autogroup_enabled``, the default of most
    distributions) CPU time is shared between sessions by each session's autogroup nice, and a process's own
    nice only ranks it among the processes of its session: a child in a new session weighed as much as any
    other, however niced the process that started it (a make test's quick lane at nice 10 had its twins'
    servers compete with the twin lane's as equals). A no-op when autogroups are off (the process's nice,
    which the child inherits, then counts) or the nice is 0 (a new autogroup's). Lowering it below 0 needs
    root, as lowering any nice does; an unprivileged write is refused for 100 ms after another (retried).
    ``nice`` (default this process's) gives another: a member's :func:`relative_nice`."""
    nice = os.nice(0) if nice is None else nice
    path = Path(f"/proc/{int(pid)}/autogroup")
    if nice == 0 or not path.exists():
        return
    for attempt in range(10):  # an unprivileged write waits out the kernel's 100 ms between writes
        try:
            path.write_text(str(nice))
            return
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ESRCH):  # the child has already ended
                return
            if err.errno != errno.EAGAIN or attempt == 9:
                log.warning("could not give process %s the CPU priority nice %d (%s): it runs at its session's", pid,
                            nice, err.strerror or err)
                return
        time.sleep(0.11)


def keep_nice_once_leader(pid: int, timeout: float = 10.0) -> None:
    """:func:`keep_nice` for a child that makes a session of its own as it starts (php-fpm's master calls
    ``setsid()`` even with ``--nodaemonize``): wait until it leads its session (``getsid(pid) == pid``), then
    give that session this process's nice. Started niced, its pool of workers otherwise ran at a new
    session's priority, as an equal of any other. Gives up after ``timeout`` s, saying so."""
    if os.nice(0) == 0:  # a new session's own nice: nothing to give, nothing to wait for
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.getsid(pid) == pid:
                keep_nice(pid)
                return
        except ProcessLookupError:
            return
        time.sleep(0.02)
    log.warning("process %s did not lead a session of its own within %.0fs: its CPU priority is left as it is",
                pid, timeout)


def marked(env: dict[str, str], target: str) -> dict[str, str]:
    """``env`` plus the marker that names the target this child acts on."""
    return {**env, MARK: target}


def leftovers(target: str) -> list[psutil.Process]:
    """Live processes marked as children of a game day against ``target`` (not this process)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(MARK) == target and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop(procs: list[psutil.Process], grace: float = 10.0) -> list[dict]:
    """SIGTERM each, SIGKILL what is left after ``grace`` seconds; what was stopped, by pid and name."""
    out = []
    for proc in procs:
        try:
            out.append({"pid": proc.pid, "name": " ".join(proc.cmdline()[:3])})
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5)
    return out
