"""The report's zone section: what each layer kept while a zone was down, read from the journals of
the run's zone-loss scenarios (the ``zone_outage`` probe of ``experiments/zone/lose-zone.yaml``),
beside what the inventory says each component survives by design (the coverage section's ``zones``).

    report["coverage"]["zone_outages"] = outages(report, run_folder)
    # [{"scenario", "title", "zone", "zone_down", "layers": {layer: {"lost", "left", "serving", "detail"}},
    #   "survived", "not_survived"}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODULE, FUNC = "gameday.chaos.zone.probes", "zone_outage"


def outages(report: dict[str, Any], run_folder: Path) -> list[dict[str, Any]]:
    """Each zone outage the run's scenarios observed (their journals, under ``run_folder``), in
    scenario order; [] when no scenario lost a zone or a journal cannot be read (it is not evidence)."""
    out = []
    for s in report.get("scenarios", []):
        rel = (s.get("artifacts") or {}).get("journal")
        if not rel:
            continue
        try:
            journal = json.loads((run_folder / rel).read_text())
        except (OSError, ValueError):
            continue
        for r in journal.get("run", []) if isinstance(journal, dict) else []:
            provider = (r.get("activity") or {}).get("provider") or {}
            output = r.get("output")
            if provider.get("module") == MODULE and provider.get("func") == FUNC and isinstance(output, dict) \
                    and output.get("zone"):
                out.append({"scenario": s.get("name"), "title": s.get("title"), **output})
    return out
