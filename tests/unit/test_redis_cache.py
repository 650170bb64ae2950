"""The object cache member's pure pieces: redis-server's settings, the password's ACL rule, the readiness
check's RESP encoding. The server itself is tested in tests/integration/test_object_cache.py."""

from __future__ import annotations

import hashlib

from gameday.sandbox import readiness
from gameday.sandbox.members import redis_cache


def test_config_is_an_object_cache_without_persistence_and_without_a_secret():
    text = redis_cache.config("127.63.66.1", 6379, "/run/cache-1")
    lines = set(text.splitlines())
    assert {"bind 127.63.66.1", "port 6379", "dir /run/cache-1", 'save ""', "appendonly no",
            "maxmemory-policy allkeys-lru", f"maxmemory {redis_cache.MAXMEMORY}", "daemonize no"} <= lines
    assert "requirepass" not in text and "user " not in text


def test_acl_rule_carries_only_the_passwords_sha256():
    rule = redis_cache.acl_rule("s3cret-value")
    assert "s3cret-value" not in rule
    assert rule == f"user default on resetpass #{hashlib.sha256(b's3cret-value').hexdigest()} ~* &* +@all\n"


def test_addresses_use_the_free_octet_66():
    assert redis_cache.ADDRESS_OCTET == 66 and redis_cache.PORT == 6379


def test_resp_encodes_a_command_as_an_array_of_bulk_strings():
    assert readiness._resp("AUTH", "pä") == b"*2\r\n$4\r\nAUTH\r\n$3\r\np\xc3\xa4\r\n"
    assert readiness._resp("PING") == b"*1\r\n$4\r\nPING\r\n"


def test_a_redis_readiness_check_of_nothing_listening_is_false(tmp_path):
    env = tmp_path / "redis.env"
    env.write_text("GAMEDAY_REDIS_PASSWORD=x\n")
    assert readiness.check({"type": "redis", "host": "127.0.0.1", "port": 1, "env_file": str(env)}, 0.0) is False
    assert readiness.check({"type": "redis", "host": "127.0.0.1", "port": 1, "env_file": str(tmp_path / "none")}, 0.0) is False
