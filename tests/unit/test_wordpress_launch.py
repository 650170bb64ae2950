"""The WordPress launcher renders one replica's php-fpm and nginx configs from its arguments (issue 17,
C6): the supervisor's ``web-N`` and every Kubernetes web pod run the one command with their own address,
name and run directory, so no two replicas share a socket, a pid file or a listen address."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gameday.sandbox import install
from gameday.sandbox.members import wordpress
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import Twin
from gameday.sandbox.wordpress import launch


SHORT = Path("/srv/gameday-unit")  # never made: rendering writes nothing (pytest's tmp paths can be too long
#                                    for a unix socket's, which the launcher refuses)


def _twin() -> Twin:
    return Twin(name="unit", net=61, paths=SandboxPaths(name="unit", home=SHORT / "unit"),
                loc=install.locations(), python=sys.executable)


def _replica(base: Path, **changes) -> launch.Replica:
    replica = launch.Replica(address="127.61.101.7", port=8000, member="web-7c9f-x2b4q", run_dir=base / "run" / "web-pod",
                          log_dir=base / "logs", content_dir=base / "wp-content", config_name="gameday-abc",
                          app_dir=base / "www")
    return dataclasses.replace(replica, **changes)


def test_the_supervisor_member_passes_its_own_address_name_and_run_directory():
    twin = _twin()
    member = wordpress.member(twin, 2, "web")
    replica = launch.parse(member.argv[3:])
    assert member.argv[:3] == [sys.executable, "-m", "gameday.sandbox.wordpress.launch"]
    assert replica.address == "127.61.20.2" == member.address and replica.port == 8000
    assert replica.member == "web-2" and replica.run_dir == wordpress.run_dir(twin, 2, "web")
    assert replica.content_dir == wordpress.content_dir(twin) and replica.config_name == wordpress.config_name(twin)
    assert replica.log_dir == twin.paths.logs


def test_two_replicas_render_nothing_of_each_other():
    base = SHORT
    one = launch.render_configs(_replica(base, address="127.61.101.2", member="web-a", run_dir=base / "a"), root=False)
    two = launch.render_configs(_replica(base, address="127.61.102.9", member="web-b", run_dir=base / "b"), root=False)
    assert "listen 127.61.101.2:8000;" in one["nginx.conf"] and "add_header X-Served-By web-a always;" in one["nginx.conf"]
    assert "listen 127.61.102.9:8000;" in two["nginx.conf"] and "add_header X-Served-By web-b always;" in two["nginx.conf"]
    assert "[web-a]" in one["php-fpm.conf"] and "[web-a-probes]" in one["php-fpm.conf"]
    for text in two.values():
        assert "127.61.101.2" not in text and "web-a" not in text and str(base / "a") not in text
    assert f"listen = {base / 'b' / 'php-fpm.sock'}\n" in two["php-fpm.conf"]
    assert f"fastcgi_pass unix:{base / 'b' / 'php-fpm.sock'};" in two["nginx.conf"]
    assert f"access_log {base / 'logs' / 'web-b-access.log'} gameday;" in two["nginx.conf"]
    for text in (*one.values(), *two.values()):
        assert "@" not in text.replace("$GAMEDAY", "")


def test_as_root_the_workers_are_www_data_and_the_probe_pool_is_raised():
    configs = launch.render_configs(_replica(SHORT), root=True)
    assert "user www-data;" in configs["nginx.conf"]
    assert "user = www-data\n" in configs["php-fpm.conf"] and "process.priority = -5" in configs["php-fpm.conf"]
    plain = launch.render_configs(_replica(SHORT), root=False)
    assert "user www-data;" not in plain["nginx.conf"] and "process.priority = -5" not in plain["php-fpm.conf"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"address": "$(POD_IP)"}, "--address '\\$\\(POD_IP\\)' is not an IP address"),
    ({"member": "Web_1"}, "--member 'Web_1' is not a member or pod name"),
    ({"member": "web-1; }"}, "is not a member or pod name"),
    ({"port": 0}, "--port 0 is not a TCP port"),
    ({"config_name": "a b"}, "--config-name 'a b'"),
    ({"run_dir": Path("relative/run")}, "--run-dir 'relative/run' must be an absolute path"),
    ({"log_dir": Path("/l/x;y")}, "--log-dir '/l/x;y' must be an absolute path"),
    ({"run_dir": Path("/" + "r" * 87)}, "too long for its unix sockets \\(108 > 107\\)"),
])
def test_a_value_that_cannot_go_into_the_configs_is_named(changes, message):
    with pytest.raises(ValueError, match=message):
        launch.render_configs(_replica(SHORT, **changes), root=False)


def test_bad_arguments_exit_2_with_one_line_and_no_traceback(tmp_path):
    base = tmp_path
    args = ["--address", "not-an-ip", "--member", "web-1", "--run-dir", str(base / "r"), "--log-dir", str(base),
            "--content-dir", str(base), "--config-name", "gameday-x", "--app-dir", str(base)]
    proc = subprocess.run([sys.executable, "-m", "gameday.sandbox.wordpress.launch", *args], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--address 'not-an-ip' is not an IP address" in proc.stderr
    assert not (base / "r").exists()  # refused before anything is written


def test_write_configs_makes_the_run_directory_and_removes_stale_sockets():
    with tempfile.TemporaryDirectory(prefix="wpl-") as short:  # pytest's base can be too long for a socket's
        _write_configs(_replica(Path(short)))


def _write_configs(replica: launch.Replica) -> None:
    replica.run_dir.mkdir(parents=True)
    replica.run_dir.chmod(0o777)  # as an emptyDir is made
    stale = [replica.socket, replica.status_socket, replica.run_dir / "php-fpm-probes.sock"]
    for path in stale:
        path.write_text("")
    launch.write_configs(replica)
    assert not any(path.exists() for path in stale)
    assert (replica.run_dir / "nginx").is_dir() and (replica.run_dir / "tmp").is_dir() and replica.log_dir.is_dir()
    assert replica.run_dir.stat().st_mode & 0o777 == 0o755
    root = os.geteuid() == 0
    assert replica.fpm_conf.read_text() == launch.render_configs(replica, root=root)["php-fpm.conf"]
    assert replica.nginx_conf.read_text() == launch.render_configs(replica, root=root)["nginx.conf"]
    if root:  # the workers write uploads' temp files there
        import pwd
        assert (replica.run_dir / "tmp").stat().st_uid == pwd.getpwnam(launch.WEB_USER).pw_uid
