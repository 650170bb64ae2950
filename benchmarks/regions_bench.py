"""Region benchmark (issue 16): the two-region twin's size and the drills' times against their budgets.

    .venv/bin/python benchmarks/regions_bench.py [--rounds 2] [--keep]

On its own region set (twin ``rgbench`` = r1 on 127.56.x.y, ``rgbench-r2`` on .57, the front on .58;
environments ``regions-bench`` and ``regions-bench-r2``; brought up, then taken down and wiped unless
``--keep``):

1. ``up``: seconds per twin, and the RSS of every process of the three twins (r2 at its standby size);
2. per round: the catalog's ``experiments/region/switchover.yaml`` (r1 -> r2), then again (r2 -> r1),
   then ``experiments/region/lose-region.yaml`` (the active region lost, failover, failback), each a
   real ``chaos run``; the figures come from their journals (``region-timeline``, ``what-was-lost``);
3. the RSS again with both regions at the primary's size: every move ends with the standby back at a
   standby's size, so the standby is scaled up on purpose for it, then down again (both timed).

Every drill must complete with its RPO measured (a switchover's must be 0), or the run stops with
exit 1: a time for a wrong drill is not a result. Printed side by side: each figure and its budget
(switchover RTO < 30 s, failover RTO without the decision < 60 s, RSS < 10 GiB) and the ratio.
Times on this shared 2-core machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gameday.sandbox import region_control  # noqa: E402
from gameday.sandbox import regions as region_set  # noqa: E402
from gameday.sandbox.paths import SandboxPaths  # noqa: E402
from gameday.sandbox.regions import Regions  # noqa: E402
from gameday.sandbox.twin import Twin  # noqa: E402

NAME, NET = "rgbench", 56
CHAOS = str(Path(sys.executable).with_name("chaos"))
BUDGET = {"switchover_rto_s": 30.0, "failover_rto_without_decision_s": 60.0, "rss_gib": 10.0}


def rss_gib(names: list[str]) -> dict[str, float]:
    """RSS of every process each twin started (found by the sandbox id in their environment), GiB."""
    ids = {SandboxPaths.for_name(n).sandbox_id: n for n in names}
    total = dict.fromkeys(names, 0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        sid = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"GAMEDAY_SANDBOX_ID=")), None)
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), None)
        if sid in ids and line:
            total[ids[sid]] += int(line.split()[1])
    return {n: round(kb / 1024 / 1024, 2) for n, kb in total.items()}


def drill(experiment: str, var_file: Path, work: Path) -> dict:
    journal = work / f"journal-{experiment.replace('/', '-')}-{time.time_ns()}.json"
    proc = subprocess.run([CHAOS, "--no-log-file", "run", str(ROOT / "experiments" / experiment), "--rollback-strategy",
                           "always", "--var-file", str(var_file), "--journal-path", str(journal)],
                          capture_output=True, text=True, timeout=1800, cwd=work)
    doc = json.loads(journal.read_text()) if journal.exists() else {}
    if proc.returncode != 0 or doc.get("status") != "completed" or doc.get("deviated"):
        raise SystemExit(f"{experiment} did not complete (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    out = {r["activity"]["name"]: r.get("output") for r in doc["run"]}
    rpo, timeline = out["what-was-lost"], out["region-timeline"]
    if rpo["rpo_records"] is None or (timeline["kind"] == "switchover" and rpo["rpo_records"] != 0):
        raise SystemExit(f"{experiment}: RPO {rpo['rpo_records']} ({rpo['lost'][:10]}): not a result")
    return {"kind": timeline["kind"], "from": timeline["from"], "to": timeline["to"], "rto_s": timeline["rto_s"],
            "rto_without_decision_s": timeline["rto_without_decision_s"], "prepare_s": timeline.get("prepare_s"),
            "writes_unavailable_s": timeline["writes_unavailable_s"], "rpo_records": rpo["rpo_records"],
            "acknowledged": {k: v["acknowledged"] for k, v in rpo["layers"].items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="leave the region set running")
    args = ap.parse_args()
    rs = Regions.of(Twin.create(NAME, NET))
    names = [t.name for t in rs.twins()]
    work = Path(tempfile.mkdtemp(prefix="regions-bench-"))
    var_file = ROOT / "environments" / "regions-bench.yaml"  # its standby's file must sit beside it
    region_set.down(rs, wipe=True)
    try:
        up = region_set.up(rs, timeout=900)
        sizes = {"standby size": rss_gib(names)}
        runs = []
        for _ in range(args.rounds):
            runs.append(drill("region/switchover.yaml", var_file, work))
            runs.append(drill("region/switchover.yaml", var_file, work))
            runs.append(drill("region/lose-region.yaml", var_file, work))
        # the standby ends every move back at a standby's size: scale it up on purpose to weigh both at
        # the primary's (the most two regions hold, as during a switchover), then down again, timed
        standby = rs.reload().standby_region()
        grow = region_control.resize(rs.reload(), standby, "primary", timeout=600)
        sizes["both at primary size"] = rss_gib(names)
        shrink = region_control.resize(rs.reload(), standby, "standby", timeout=600)
        resized = {"region": standby, "up_s": grow["seconds"], "down_s": shrink["seconds"],
                   "nodes_left": [(n["node"], n["seconds"]) for n in (shrink.get("search") or {}).get("left", [])]}
    finally:
        if not args.keep:
            region_set.down(rs, wipe=True)
    print(f"up: {json.dumps(up['seconds'])}")
    for label, rss in sizes.items():
        total = round(sum(rss.values()), 2)
        print(f"RSS {label}: {json.dumps(rss)} total {total} GiB (budget {BUDGET['rss_gib']:g}, "
              f"ratio {total / BUDGET['rss_gib']:.2f})")
    print(f"standby {resized['region']} scaled to the primary's size in {resized['up_s']} s and back to a standby's in "
          f"{resized['down_s']} s (search nodes leaving: {resized['nodes_left']})")
    print(f"{'drill':<11} {'move':<9} {'RTO s':>7} {'budget':>7} {'ratio':>6} {'w/o decision':>13} "
          f"{'writes refused s':>17} {'prepare s':>10} {'RPO':>4}  acknowledged")
    for r in runs:
        failover = r["kind"] == "failover"
        value = r["rto_without_decision_s"] if failover else r["rto_s"]
        budget = BUDGET["failover_rto_without_decision_s" if failover else "switchover_rto_s"]
        print(f"{r['kind']:<11} {r['from']}->{r['to']:<5} {r['rto_s']:>7.2f} {budget:>7.0f} {value / budget:>6.2f} "
              f"{r['rto_without_decision_s']:>13.2f} {r['writes_unavailable_s'] or 0:>17.2f} "
              f"{r['prepare_s'] or 0:>10.1f} {r['rpo_records']:>4}  {json.dumps(r['acknowledged'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
