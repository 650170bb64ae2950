"""The KRaft cluster id the twin formats its Kafka storage with."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from gameday.sandbox.members import kafka


def test_a_cluster_id_never_starts_with_a_dash(tmp_path, monkeypatch):
    # 0xF8 as the first byte encodes to "-" first in URL-safe base64: Kafka's StorageTool would then
    # read "-t -xyz..." as an option and refuse to format (seen once in 64 twins)
    dashed = uuid.UUID(bytes=b"\xf8" + b"\x01" * 15)
    plain = uuid.UUID(bytes=b"\x01" * 16)
    ids = iter([dashed, plain])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
    twin = SimpleNamespace(paths=SimpleNamespace(conf=tmp_path))
    cid = kafka.cluster_id(twin)
    assert not cid.startswith("-") and len(cid) == 22
    assert kafka.cluster_id(twin) == cid  # made once per twin
