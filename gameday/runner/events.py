"""The run's event log: every instant of a game day on one clock (``time.time()``), one JSON line each.

    events = EventLog(out / "events.jsonl")
    events.add("fault", at=fault_at, scenario="kafka-leader")

Each event is written through :mod:`gameday.redact` (registered secrets masked before encoding).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from .. import redact


class EventLog:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one event (masked); returns it as written."""
        event = {"at": time.time(), "event": kind, **fields}
        with self._lock:
            return redact.redactor().append_json_line(self.path, event)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
