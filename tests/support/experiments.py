"""Catalog experiments changed for a test, written to ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def held_fault(experiment: str, tmp_path: Path, *, window_s: float = 60, rate: float = 1) -> Path:
    """``experiments/<experiment>`` with its first action (the fault) followed by a long look at the
    site instead of the rest of its method: time for a test to act while the fault is in place."""
    doc = yaml.safe_load((ROOT / "experiments" / experiment).read_text())
    doc["method"] = [doc["method"][0], {
        "type": "probe", "name": "long-look-at-the-fault",
        "provider": {"type": "python", "module": "gameday.chaos.site.probes", "func": "measure_site",
                     "arguments": {"window_s": window_s, "rate": rate}}}]
    path = tmp_path / f"held-{Path(experiment).stem}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
