"""The twin's host names and its block of /etc/hosts (gameday.sandbox.names), on temporary files."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path

import pytest

from gameday.errors import GamedayError, UsageError
from gameday.sandbox import names
from gameday.sandbox.twin import Twin


@pytest.fixture(autouse=True)
def _state(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))  # the lock file lives there


def test_hostnames_name_every_public_member_of_the_twin():
    twin = Twin.create("k8s-test2", net=37)
    assert names.domain(twin) == "k8s-test2.gameday.test"
    assert names.hostnames(twin) == {
        "site.k8s-test2.gameday.test": "127.37.10.1", "search.k8s-test2.gameday.test": "127.37.10.1",
        "kafka-1.k8s-test2.gameday.test": "127.37.40.1", "kafka-2.k8s-test2.gameday.test": "127.37.40.2",
        "kafka-3.k8s-test2.gameday.test": "127.37.40.3", "db.k8s-test2.gameday.test": "127.37.30.1",
        "toxiproxy.k8s-test2.gameday.test": "127.37.70.1"}
    with pytest.raises(UsageError, match="DNS label"):
        names.domain(Twin.create("Bad_Name", net=37))


def _parsed(text: str) -> dict[str, str]:
    """What a resolver reads from hosts text: name -> address."""
    out = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            out[name] = fields[0]
    return out


def test_the_block_is_written_once_replaced_in_place_and_removed_leaving_other_lines(tmp_path):
    hosts = tmp_path / "hosts"
    original = "127.0.0.1 localhost\n# a comment\n::1 ip6-localhost"  # no final newline
    hosts.write_text(original)
    a, b = Twin.create("alpha", net=41), Twin.create("beta", net=42)
    inode = hosts.stat().st_ino

    assert names.write_hosts(a, hosts) is True
    assert names.write_hosts(a, hosts) is False  # idempotent: nothing to change
    assert names.write_hosts(b, hosts) is True
    text = hosts.read_text()
    assert text.startswith(original + "\n")
    assert text.count("# gameday twin alpha begin") == 1 and text.count("# gameday twin beta end") == 1
    resolved = _parsed(text)
    assert {k: resolved[k] for k in names.hostnames(a)} == names.hostnames(a)
    assert resolved["site.beta.gameday.test"] == "127.42.10.1"

    moved = Twin.create("alpha", net=43)  # the same twin on another network: its block is replaced
    assert names.write_hosts(moved, hosts) is True
    resolved = _parsed(hosts.read_text())
    assert resolved["db.alpha.gameday.test"] == "127.43.30.1" and hosts.read_text().count("alpha begin") == 1

    assert names.remove_hosts(moved, hosts) is True and names.remove_hosts(moved, hosts) is False
    assert names.remove_block("beta", hosts) is True
    assert hosts.read_text() == original + "\n"
    assert hosts.stat().st_ino == inode  # rewritten in place (a bind-mounted /etc/hosts cannot be renamed over)


def _write_many(path: str, state: str, index: int) -> None:
    os.environ["GAMEDAY_STATE_DIR"] = state
    twin = Twin.create(f"twin-{index}", net=100 + index)
    for _ in range(30):
        names.write_hosts(twin, Path(path))
        names.remove_hosts(twin, Path(path))
    names.write_hosts(twin, Path(path))


def test_concurrent_writers_keep_every_block(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(hosts), os.environ["GAMEDAY_STATE_DIR"], i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    text = hosts.read_text()
    assert text.startswith("127.0.0.1 localhost\n")
    for i in range(6):
        assert text.count(f"# gameday twin twin-{i} begin") == 1 and text.count(f"# gameday twin twin-{i} end") == 1
        assert _parsed(text)[f"site.twin-{i}.gameday.test"] == f"127.{100 + i}.10.1"


def _write_as_nobody(path: str, state: str, conn) -> None:
    os.environ["GAMEDAY_STATE_DIR"] = state
    os.setgid(65534)
    os.setuid(65534)
    twin = Twin.create("alpha", net=41)
    try:
        changed = names.write_hosts(twin, Path(path))
        conn.send(("ok", changed))
    except GamedayError as err:
        conn.send(("error", str(err)))


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to user nobody, which needs root")
def test_an_unwritable_hosts_file_names_the_lines_to_add_unless_they_are_there():
    shared = Path(tempfile.mkdtemp(prefix="gameday-hosts-", dir="/tmp"))
    try:
        shared.chmod(0o777)
        (shared / "state").mkdir(mode=0o777)
        (shared / "state").chmod(0o777)
        hosts = shared / "hosts"
        hosts.write_text("127.0.0.1 localhost\n")
        hosts.chmod(0o644)
        ctx = multiprocessing.get_context("fork")

        def attempt():
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_write_as_nobody, args=(str(hosts), str(shared / "state"), child))
            p.start()
            p.join(30)
            return parent.recv()

        kind, message = attempt()
        assert kind == "error" and "cannot write" in message
        assert "127.41.10.1 site.alpha.gameday.test search.alpha.gameday.test" in message
        assert hosts.read_text() == "127.0.0.1 localhost\n"
        names.write_hosts(Twin.create("alpha", net=41), hosts)  # root adds them (by hand, or --write)
        assert attempt() == ("ok", False)  # then an unprivileged twin finds them and needs no write
    finally:
        import shutil
        shutil.rmtree(shared)
