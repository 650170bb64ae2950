"""A container's first moments, as a container runtime has them: its own mount namespace with its
volumes bind-mounted at their ``mountPath``, its user and groups, then its command.

The node agent starts ``python -I nsinit.py PLAN -- COMMAND ARGS...`` as root (this file is run by
path, standard library only, so nothing of the container's environment is imported); PLAN is a JSON
file the agent wrote (0600, paths and ids only, never a secret)::

    {"masks": [{"dir": "/root", "keep": ["/root/.pyenv"], "stage": ".../stage/0"}],
     "mounts": [{"source": "...", "target": "/reports", "read_only": false}],
     "uid": 10001, "gid": 10001, "groups": [10001], "no_new_privs": true, "cwd": "/some/dir"}

1. ``unshare(CLONE_NEWNS)`` and every mount made private: nothing below reaches the host's namespace.
2. ``masks``: a host directory the container's user may not search (``/root``, where the interpreter
   of the image's venv lives) is covered by a small tmpfs (0755) holding only ``keep`` (bind-mounted
   back): the container reaches its interpreter, and nothing else of that directory (not root's
   kubeconfig), as an image's filesystem would have it.
3. ``mounts``: each volume bind-mounted at its target (read-only ones remounted ``ro``). A missing
   target is made first (an empty directory on the host: nothing else of the host's tree changes).
4. ``setgroups``/``setresgid``/``setresuid`` to the container's ids, ``no_new_privs`` when
   ``allowPrivilegeEscalation: false``, ``chdir``, and ``execvp`` of the command with the environment
   this process was given (``PATH`` included). The pid stays the one the agent started.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = (
    1, 2, 4, 32, 4096, 8192, 16384, 1 << 18)
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source} on {target}")


def _make_target(source: str, target: str) -> None:
    if os.path.lexists(target):
        return
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        with open(target, "a"):
            pass


def enter(plan: dict) -> None:
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for mask in plan.get("masks") or []:
        os.makedirs(mask["stage"], mode=0o700, exist_ok=True)
        staged = []
        for i, keep in enumerate(mask["keep"]):
            stage = os.path.join(mask["stage"], str(i))
            os.makedirs(stage, mode=0o700, exist_ok=True)
            mount(keep, stage, None, MS_BIND | MS_REC)
            staged.append((stage, keep))
        mount("tmpfs", mask["dir"], "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for stage, keep in staged:
            target = os.path.join(mask["dir"], os.path.basename(keep))
            os.makedirs(target, mode=0o755, exist_ok=True)
            mount(stage, target, None, MS_MOVE)
    for item in plan.get("mounts") or []:
        _make_target(item["source"], item["target"])
        mount(item["source"], item["target"], None, MS_BIND | MS_REC)
        if item.get("read_only"):
            mount(None, item["target"], None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    if plan.get("uid") is not None:
        gid = int(plan["gid"])
        os.setgroups([int(g) for g in plan.get("groups") or []])
        os.setresgid(gid, gid, gid)
        os.setresuid(int(plan["uid"]), int(plan["uid"]), int(plan["uid"]))
    if plan.get("no_new_privs"):
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if plan.get("cwd"):
        os.chdir(plan["cwd"])


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: nsinit.py PLAN -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with open(argv[0]) as fh:
        plan = json.load(fh)
    command = argv[2:]
    try:
        enter(plan)
    except OSError as err:
        print(f"gameday node agent: could not set up the container: {err}", file=sys.stderr, flush=True)
        return 128
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(f"gameday node agent: could not start {command[0]}: {err}", file=sys.stderr, flush=True)
        return 127 if isinstance(err, FileNotFoundError) else 126
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
