"""The node agent's kubelet endpoint for `kubectl logs`: TLS with client certificates from our CA."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from gameday.kube import logserver, pki

ADDRESS, PORT = "127.33.90.5", 10250


@pytest.fixture
def served(tmp_path: Path):
    files = pki.ensure(tmp_path / "pki", apiserver_ips=["127.33.90.2"], agent_ips=[ADDRESS])
    logs = tmp_path / "logs"
    (logs / "ns_web-1_uid1").mkdir(parents=True)
    (logs / "ns_web-1_uid1" / "c.log").write_text("".join(f"line {i}\n" for i in range(10)))
    (logs / "ns_web-1_uid1" / "c.previous.log").write_text("before the restart\n")
    cert, key = files.serving("node-agent")
    server = logserver.serve(ADDRESS, PORT, str(cert), str(key), str(files.ca_cert), logs)
    yield files
    server.shutdown()
    server.server_close()


def get(files: pki.PkiFiles, path: str, client: str | None = "apiserver-kubelet-client") -> requests.Response:
    return requests.get(f"https://{ADDRESS}:{PORT}{path}", verify=str(files.ca_cert), timeout=5,
                        cert=tuple(map(str, files.client(client))) if client else None)


def test_container_logs_with_tail_and_previous(served):
    assert get(served, "/containerLogs/ns/web-1/c?tailLines=2").text == "line 8\nline 9\n"
    assert get(served, "/containerLogs/ns/web-1/c").text.count("\n") == 10
    assert get(served, "/containerLogs/ns/web-1/c?previous=true").text == "before the restart\n"
    missing = get(served, "/containerLogs/ns/web-2/c")
    assert missing.status_code == 404 and "web-2" in missing.text


def test_exec_and_port_forward_are_refused_with_a_plain_reason(served):
    answer = requests.post(f"https://{ADDRESS}:{PORT}/exec/ns/web-1/c?command=true", verify=str(served.ca_cert),
                           cert=tuple(map(str, served.client("apiserver-kubelet-client"))), timeout=5)
    assert answer.status_code == 501 and "exec, attach and port-forward are not supported" in answer.text


def test_clients_without_a_certificate_from_our_ca_are_refused(served):
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        get(served, "/healthz", client=None)
    assert get(served, "/healthz").text == "ok"  # and the server is still up after the refused handshake
