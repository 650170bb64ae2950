"""The Java outbox relay's Python side (issue 17): the build stamp (a digest of the sources), the member
it runs as, and the relay's refusals of bad settings, run as the real jar (``java -jar``, no servers:
it exits before it connects). Its behaviour against MariaDB, WordPress and Kafka is
tests/integration/test_event_relay.py."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gameday.sandbox import relay_build
from gameday.sandbox.members import event_relay
from gameday.sandbox.twin import Twin


def _tree(root):
    (root / "src" / "main" / "java").mkdir(parents=True)
    (root / "pom.xml").write_text("<project/>")
    (root / "src" / "main" / "java" / "A.java").write_text("class A {}")
    return root


def test_the_digest_follows_the_sources_and_ignores_build_output(tmp_path):
    tree = _tree(tmp_path / "relay")
    first = relay_build.sources_digest(tree)
    assert relay_build.sources_digest(tree) == first
    (tree / "target" / "classes").mkdir(parents=True)
    (tree / "target" / "classes" / "A.class").write_bytes(b"\xca\xfe")
    assert relay_build.sources_digest(tree) == first  # mvn package's output is not a source
    (tree / "src" / "main" / "java" / "A.java").write_text("class A { int x; }")
    changed = relay_build.sources_digest(tree)
    assert changed != first
    (tree / "src" / "main" / "java" / "A.java").rename(tree / "src" / "main" / "java" / "B.java")
    assert relay_build.sources_digest(tree) != changed  # a renamed file is a different build


def test_the_checkout_holds_the_maven_project_with_pinned_versions():
    pom = (relay_build.SOURCES / "pom.xml").read_text()
    for pinned in ("<artifactId>kafka-clients</artifactId><version>${kafka.version}</version>",
                   "<kafka.version>4.3.1</kafka.version>", "<artifactId>mariadb-java-client</artifactId>",
                   "<maven.compiler.release>17</maven.compiler.release>"):
        assert pinned in pom
    assert "SNAPSHOT" not in pom and "LATEST" not in pom and "RELEASE" not in pom


def test_the_member_gets_its_settings_from_the_environment_and_its_password_from_a_file():
    twin = Twin.create("relay-unit", net=62)
    w = event_relay.workload(twin, db_addr="127.62.30.1:3306", bootstrap="127.62.40.1:9092",
                             settings={"batch": 10, "mark_delay_ms": 1000})
    assert (w.name, w.layer, w.kind, w.replicas, w.max_replicas, w.after) == ("relay", "events", "service", 1, 2, ["db"])
    m = w.members[0]
    assert (m.name, m.address, m.ports) == ("relay-1", "127.62.65.1", {"http": event_relay.PORT})
    assert m.argv[-2:] == ["-jar", str(relay_build.jar())]
    assert m.readiness == {"type": "http", "url": f"http://127.62.65.1:{event_relay.PORT}/readyz"}
    assert m.env["GAMEDAY_DB_ADDR"] == "127.62.30.1:3306" and m.env["GAMEDAY_KAFKA_BOOTSTRAP"] == "127.62.40.1:9092"
    assert m.env["GAMEDAY_RELAY_BATCH"] == "10" and m.env["GAMEDAY_RELAY_MARK_DELAY_MS"] == "1000"
    assert m.env["GAMEDAY_RELAY_HTTP"] == f"127.62.65.1:{event_relay.PORT}"
    assert m.env["GAMEDAY_RELAY_TABLE"] == "wp_gameday_outbox"
    assert m.env_files == [str(twin.db_env_file)]  # the password: GAMEDAY_DB_PASSWORD from secrets/db.env
    assert not any("PASSWORD" in key for key in m.env) and not any("PASSWORD" in arg for arg in m.argv)
    assert w.members[1].address == "127.62.65.2" and w.members[1].labels["zone"] == "zone-b"


@pytest.fixture(scope="module")
def relay_jar(tmp_path_factory):
    relay_build.install(tmp_path_factory.mktemp("relay-build") / "install.log")  # a no-op once built
    java = shutil.which("java")
    assert java, "java is not installed: run `gameday sandbox install`"
    return [java, "-Xmx64m", "-XX:TieredStopAtLevel=1", "-jar", str(relay_build.jar())]


SETTINGS = {"GAMEDAY_DB_ADDR": "127.0.0.1:1", "GAMEDAY_DB_NAME": "sps", "GAMEDAY_DB_USER": "sps",
            "GAMEDAY_KAFKA_BOOTSTRAP": "127.0.0.1:2"}


def _run(argv, env, tmp_path):
    return subprocess.run(argv, env={"PATH": os.environ["PATH"], **env}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_the_relay_refuses_a_password_file_others_can_read_without_printing_it(relay_jar, tmp_path):
    secret = tmp_path / "db.env"
    secret.write_text("GAMEDAY_DB_PASSWORD=s3cr3t-never-printed\n")
    secret.chmod(0o644)
    out = _run(relay_jar, {**SETTINGS, "GAMEDAY_DB_PASSWORD_FILE": str(secret)}, tmp_path)
    assert out.returncode == 2
    assert "is readable by others (rw-r--r--): chmod 600 it" in out.stderr
    assert "s3cr3t" not in out.stdout + out.stderr


def test_the_relay_refuses_a_password_in_its_settings_file_and_missing_settings(relay_jar, tmp_path):
    props = tmp_path / "relay.properties"
    props.write_text("GAMEDAY_DB_PASSWORD=s3cr3t\nGAMEDAY_RELAY_BATCH=5\n")
    out = _run(relay_jar, {**SETTINGS, "GAMEDAY_RELAY_CONFIG": str(props)}, tmp_path)
    assert out.returncode == 2 and "holds GAMEDAY_DB_PASSWORD" in out.stderr and "s3cr3t" not in out.stderr
    props.write_text("GAMEDAY_RELAY_BATCH=0\n")
    out = _run(relay_jar, {**SETTINGS, "GAMEDAY_DB_PASSWORD": "x", "GAMEDAY_RELAY_CONFIG": str(props)}, tmp_path)
    assert out.returncode == 2 and "GAMEDAY_RELAY_BATCH must be between 1 and 10000, not 0" in out.stderr
    out = _run(relay_jar, {"GAMEDAY_DB_PASSWORD": "x"}, tmp_path)
    assert out.returncode == 2 and "GAMEDAY_DB_ADDR is not set" in out.stderr
    out = _run(relay_jar, {**SETTINGS, "GAMEDAY_DB_PASSWORD": "x", "GAMEDAY_RELAY_TABLE": "wp_outbox; DROP"}, tmp_path)
    assert out.returncode == 2 and "GAMEDAY_RELAY_TABLE must be letters, digits and underscores" in out.stderr
