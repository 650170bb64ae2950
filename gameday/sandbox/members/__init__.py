"""One module per layer of the twin. Each offers ``workload(twin) -> Workload`` and, where the
server needs files before it starts, ``prepare(twin)`` (idempotent: it keeps existing data)."""
