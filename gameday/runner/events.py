"""The run's event log: every instant of a game day on one clock (``time.time()``), one JSON line each.

    events = EventLog(out / "events.jsonl")
    events.add("fault", at=fault_at, scenario="kafka-leader")
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"at": time.time(), "event": kind, **fields}
        with self._lock, open(self.path, "a") as fh:
            fh.write(json.dumps(event, default=str) + "\n")
        return event

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
