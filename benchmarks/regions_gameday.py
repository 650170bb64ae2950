"""The region game day end to end (issue 16): the real ``gameday run --suite regions``, read back from
its report, every drill's figures beside their budgets.

    flock /tmp/gameday-twin.lock .venv/bin/python benchmarks/regions_gameday.py [--reports DIR] [--keep]

On the region benchmark's own set (twin ``rgbench`` = r1 on 127.56.x.y, ``rgbench-r2`` on .57, the
front on .58; environments ``regions-bench`` / ``regions-bench-r2``), wiped first:

1. ``.venv/bin/gameday run --suite regions --env regions-bench --no-install --reports DIR``: both
   regions and the front brought up by the CLI, the baseline under load, the planned switchover, the
   region lost with its failover and failback, each judged, and the report written;
2. the run's ``summary.json``: per drill its judged RTO against its budget (ratio), the RTO with the
   simulated decision, RPO (the lost records by name), the seconds writes were refused, redundancy
   restored, and the region timeline phase by phase, the failback's too (the report's third drill, from
   the ``fail-back`` action of the region-lost journal: rebuild, scale up, switch back, rebuild the old
   region, scale it down to a standby's size);
3. the region that is the standby at the end: its workloads' sizes and its search cluster's health
   (a standby's size: one web replica, one indexer, one green search node), and the RSS of the three twins;
4. everything taken down and wiped (unless ``--keep``).

Exit 1 when the game day did not run to its report, a drill is missing, or the standby is not back
at a standby's size; a missed target is printed, not an error (the report says it too).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from regions_bench import NAME, NET, rss_gib  # noqa: E402

from gameday.sandbox import regions as region_set  # noqa: E402
from gameday.sandbox import search_resize  # noqa: E402
from gameday.sandbox.client import SandboxClient  # noqa: E402
from gameday.sandbox.regions import Regions  # noqa: E402
from gameday.sandbox.twin import Twin  # noqa: E402

ENV = "regions-bench"
GAMEDAY = str(Path(sys.executable).with_name("gameday"))
RUN_TIMEOUT_S = 3600


def run_gameday(reports: Path) -> tuple[int, float, Path | None]:
    """The CLI, as an operator runs it; its exit code, seconds, and the run's folder (None: no report)."""
    before = {p.name for p in reports.iterdir()} if reports.exists() else set()
    started = time.monotonic()
    cmd = [GAMEDAY, "run", "--suite", "regions", "--env", ENV, "--no-install", "--reports", str(reports)]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, timeout=RUN_TIMEOUT_S)
    seconds = time.monotonic() - started
    new = sorted(p for p in reports.iterdir() if p.name not in before and (p / "summary.json").exists()) \
        if reports.exists() else []
    return proc.returncode, seconds, (new[-1] if new else None)


def standby_view(rs: Regions) -> dict:
    """The standby region's size and its search cluster's health, read from the running twin."""
    region = rs.standby_region()
    twin = rs.twin(region)
    workloads = {w["name"]: w["replicas"] for w in SandboxClient(twin.paths).status()["workloads"]}
    health = search_resize.admin(twin).health()
    return {"region": region, "twin": twin.name, "web": workloads.get("web"), "indexer": workloads.get("indexer"),
            "search": workloads.get("search"), "search_nodes_in_cluster": health.get("number_of_nodes"),
            "search_status": health.get("status")}


def _value(check: dict) -> str:
    """A check's figure with its unit (a ratio in % as a percentage)."""
    value, unit = check.get("value"), check.get("unit") or ""
    if unit == "%" and isinstance(value, (int, float)):
        return f"{value:.2%}"
    return f"{value} {unit}".rstrip()


def report(folder: Path, summary: dict) -> list[str]:
    lines = [f"verdict {summary.get('verdict')}, score {summary.get('score')}: {summary.get('headline')}"]
    for sc in summary.get("scenarios", []):
        checks = ", ".join(f"{c['name']} {_value(c)}"
                           + ("" if c.get("target") is None else
                              f" (target {c['target']}, {'met' if c.get('met') else 'MISSED'})")
                           for c in sc.get("checks", []))
        lines.append(f"  {sc.get('name')}: {'met' if sc.get('passed') else 'MISSED'}: {checks}")
    drills = (summary.get("regions") or {}).get("drills") or []
    lines.append(f"{'drill':<11} {'move':<8} {'RTO s':>7} {'target':>7} {'ratio':>6} {'with decision':>14} "
                 f"{'RPO':>4} {'writes refused s':>17} {'redundancy s':>13}")
    for d in drills:
        target = (d.get("targets") or {}).get("rto_s")
        judged = d.get("judged_rto_s")
        ratio = f"{judged / target:.2f}" if judged is not None and target else "-"
        rpo = d.get("rpo") or {}
        lines.append(f"{d['kind']:<11} {d.get('from')}->{d.get('to'):<4} {judged if judged is not None else '-':>7} "
                     f"{target if target is not None else '-':>7} {ratio:>6} {d.get('rto_s') or '-':>14} "
                     f"{rpo.get('records') if rpo.get('records') is not None else '-':>4} "
                     f"{d.get('writes_unavailable_s') or '-':>17} {d.get('redundancy_restored_s') or '-':>13}")
    for d in drills:
        lines.append(f"  {d['kind']} {d.get('from')}->{d.get('to')}: {(d.get('rpo') or {}).get('sentence')}")
        for p in d.get("phases") or []:
            lines.append(f"      {p.get('phase'):<24} {p.get('start_s'):>7.2f} -> {p.get('end_s'):>7.2f} s "
                         f"({p.get('seconds') or 0:.2f} s)")
    for s in (summary.get("regions") or {}).get("sentences") or []:
        lines.append(f"  trend: {s}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=Path, default=ROOT / "reports" / "regions-gameday",
                    help="where the game day writes its report (earlier runs there make the trend)")
    ap.add_argument("--keep", action="store_true", help="leave the region set running")
    args = ap.parse_args()
    rs = Regions.of(Twin.create(NAME, NET))
    names = [t.name for t in rs.twins()]
    region_set.down(rs, wipe=True)
    failed = []
    try:
        code, seconds, folder = run_gameday(args.reports)
        print(f"\ngameday run exit {code} in {seconds:.0f} s; report {folder}")
        if folder is None:
            return 1
        summary = json.loads((folder / "summary.json").read_text())
        print("\n".join(report(folder, summary)))
        kinds = sorted(d["kind"] for d in (summary.get("regions") or {}).get("drills") or [])
        if kinds != ["failback", "failover", "switchover"]:
            failed.append(f"drills in the report: {kinds}")
        view = standby_view(rs.reload())
        print(f"standby after the game day: {json.dumps(view)}")
        if (view["web"], view["indexer"], view["search"], view["search_nodes_in_cluster"], view["search_status"]) \
                != (1, 1, 1, 1, "green"):
            failed.append(f"the standby is not at a standby's size: {view}")
        rss = rss_gib(names)
        print(f"RSS after the game day: {json.dumps(rss)} total {sum(rss.values()):.2f} GiB (budget 10)")
    finally:
        if not args.keep:
            region_set.down(rs, wipe=True)
    for f in failed:
        print(f"FAILED: {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
