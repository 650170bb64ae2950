"""children.keep_nice / keep_nice_once_leader on real processes: a child in a session of its own is given its
starter's CPU priority as its session's (the kernel's autogroup nice), also when it makes that session itself
as it starts, as php-fpm's master does."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run_niced(code: str) -> list[str]:
    """Run ``code`` (which prints lines) in a Python at nice +4 over this process; its lines."""
    proc = subprocess.run(["nice", "-n", "4", sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=30, check=True)
    return proc.stdout.split()


def test_a_child_in_a_new_session_gets_its_starters_nice_as_its_sessions():
    assert open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() == "1", "this test needs autogroups on"
    out = _run_niced("""
        import os, subprocess
        from gameday import children
        plain = subprocess.Popen(["sleep", "20"], start_new_session=True)
        kept = subprocess.Popen(["sleep", "20"], start_new_session=True)
        children.keep_nice(kept.pid)
        read = lambda pid: open(f"/proc/{pid}/autogroup").read().split()[-1]
        print(os.nice(0), read(plain.pid), read(kept.pid))
        plain.kill(); kept.kill()
    """)
    mine, plain, kept = map(int, out)
    assert mine >= 4 and plain == 0 and kept == mine  # a new session starts at 0 whatever its starter's nice


def test_a_child_that_makes_its_own_session_later_gets_it_once_it_leads_it():
    out = _run_niced("""
        import os, subprocess, sys
        from gameday import children
        later = subprocess.Popen([sys.executable, "-c", "import os, time; time.sleep(0.5); os.setsid(); time.sleep(20)"])
        children.keep_nice_once_leader(later.pid, timeout=10)
        print(os.nice(0), os.getsid(later.pid) == later.pid, open(f"/proc/{later.pid}/autogroup").read().split()[-1])
        later.kill()
    """)
    mine, leads, kept = int(out[0]), out[1], int(out[2])
    assert leads == "True" and kept == mine >= 4


def test_a_child_given_a_relative_nice_runs_and_weighs_that_far_from_its_starter():
    """A member spec's ``cpu_nice``: its process (``nice -n`` before exec) and its session both at the
    starter's nice plus that, within -20..19."""
    out = _run_niced("""
        import os, subprocess, time
        from gameday import children
        up = subprocess.Popen(children.niced_argv(["sleep", "20"], -2), start_new_session=True)
        children.keep_nice(up.pid, children.relative_nice(-2))
        for _ in range(250):  # Popen returns once `nice` runs; it sets the nice, then execs sleep
            if open(f"/proc/{up.pid}/comm").read().strip() == "sleep":
                break
            time.sleep(0.02)
        read = lambda pid: open(f"/proc/{pid}/autogroup").read().split()[-1]
        print(os.nice(0), os.getpriority(os.PRIO_PROCESS, up.pid), read(up.pid), children.relative_nice(-99),
              children.relative_nice(99), children.niced_argv(["x"], 0) == ["x"])
        up.kill()
    """)
    mine, proc_nice, session_nice, floor, ceiling, plain = out
    assert int(proc_nice) == int(session_nice) == int(mine) - 2
    assert (int(floor), int(ceiling), plain) == (-20, 19, "True")
