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
