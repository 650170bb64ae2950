"""Reading a PHP-FPM pool's status (gameday.sandbox.fpm_status) from real unix sockets: a status page that
answers, one that does not answer in time (every worker busy), and the listen queue read from the kernel."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from gameday.sandbox import fpm_status

STATUS = {"pool": "web-1", "process manager": "dynamic", "accepted conn": 120, "listen queue": 3,
          "max listen queue": 9, "listen queue len": 511, "idle processes": 0, "active processes": 8,
          "total processes": 8, "max active processes": 8, "max children reached": 2, "slow requests": 40}


def _serve_once(path, answer: bytes) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                conn.recv(4096)
                conn.sendall(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_status_page_is_read_over_its_unix_socket(tmp_path):
    sock = tmp_path / "status.sock"
    body = json.dumps(STATUS).encode()
    thread = _serve_once(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
    assert fpm_status.read_status(sock) == {"active": 8, "idle": 0, "total": 8, "max_children_reached": 2,
                                            "listen_queue": 3, "max_listen_queue": 9, "accepted": 120,
                                            "slow_requests": 40}
    thread.join(timeout=5)


def test_an_error_answer_and_a_silent_pool_are_errors_not_figures(tmp_path):
    sock = tmp_path / "status.sock"
    thread = _serve_once(sock, b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
    with pytest.raises(ValueError, match="502"):
        fpm_status.read_status(sock)
    thread.join(timeout=5)
    silent = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # listens, never accepts: every worker busy
    server.bind(str(silent))
    server.listen(8)
    with server:
        with pytest.raises(TimeoutError):
            fpm_status.read_status(silent, timeout=0.5)


def test_the_listen_queue_is_read_from_the_kernel(tmp_path):
    sock = tmp_path / "php-fpm.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock))
    server.listen(16)
    waiting = []
    with server:
        assert fpm_status.listen_queue(sock) == 0
        for _ in range(3):  # connected, never accepted: as requests waiting for a worker
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(str(sock))
            waiting.append(c)
        assert fpm_status.listen_queue(sock) == 3
        assert fpm_status.listen_queue(tmp_path / "nothing.sock") is None
    for c in waiting:
        c.close()
