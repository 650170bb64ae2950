"""The Kubernetes lock's Lease renewal (gameday/chaos/lock.py ``LeaseLock``) when the API server is gone:
after ``lease_s`` without one successful renewal the Lease is stale to every other process, so the
holder says it lost it and its renewing thread stops (it used to ask the vanished server, and log,
for as long as the process lived: make test's quick lane after a module's control plane was torn down)."""

from __future__ import annotations

import socket

import yaml

from gameday.chaos.lock import LeaseLock
from gameday.targets.environment import load


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lease_not_renewed_for_lease_s_is_lost_and_its_thread_stops(monkeypatch, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gameday-default",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}],
        "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "gameday-default", "context": {"cluster": "c", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    lock = LeaseLock(load("rehearsal"), lease_s=1, renew_s=0.1)
    lock._start_renewing()  # as acquire() does once it holds the Lease
    lock._renewer.join(timeout=60)
    assert not lock._renewer.is_alive()
    assert lock.lost and "not renewed for 1s" in lock.lost, lock.lost
