"""SiteConfig.from_env parsing (pure logic, no servers)."""

import pytest

from gameday.site.config import SiteConfig

BASE = {
    "GAMEDAY_DB_ADDR": "127.0.60.1:3306",
    "GAMEDAY_DB_PASSWORD": "hunter2-secret",
    "GAMEDAY_SEARCH_URLS": "http://127.0.60.1:9201, http://127.0.60.1:9202/",
    "GAMEDAY_KAFKA_BOOTSTRAP": "127.0.60.1:9092,127.0.60.2:9092",
    "GAMEDAY_MEMBER": "web-2",
}


def test_defaults_and_parsing():
    cfg = SiteConfig.from_env(BASE)
    assert (cfg.db_host, cfg.db_port, cfg.db_name, cfg.db_user) == ("127.0.60.1", 3306, "sps", "sps")
    assert cfg.search_urls == ("http://127.0.60.1:9201", "http://127.0.60.1:9202")
    assert cfg.kafka_bootstrap == ("127.0.60.1:9092", "127.0.60.2:9092")
    assert cfg.kafka_bootstrap_servers == "127.0.60.1:9092,127.0.60.2:9092"
    assert cfg.content_topic == "content-events"
    assert cfg.content_index == "content"
    assert cfg.member == "web-2"


def test_overrides():
    cfg = SiteConfig.from_env({**BASE, "GAMEDAY_DB_NAME": "other", "GAMEDAY_DB_USER": "u",
                               "GAMEDAY_CONTENT_TOPIC": "t", "GAMEDAY_CONTENT_INDEX": "i"})
    assert (cfg.db_name, cfg.db_user, cfg.content_topic, cfg.content_index) == ("other", "u", "t", "i")


def test_member_defaults_to_hostname():
    env = {k: v for k, v in BASE.items() if k != "GAMEDAY_MEMBER"}
    assert SiteConfig.from_env(env).member


def test_frozen():
    cfg = SiteConfig.from_env(BASE)
    with pytest.raises(AttributeError):
        cfg.db_port = 1  # type: ignore[misc]


@pytest.mark.parametrize("name", ["GAMEDAY_DB_ADDR", "GAMEDAY_SEARCH_URLS", "GAMEDAY_KAFKA_BOOTSTRAP"])
def test_missing_variable_is_named(name):
    env = {k: v for k, v in BASE.items() if k != name}
    with pytest.raises(ValueError, match=name):
        SiteConfig.from_env(env)
    with pytest.raises(ValueError, match=name):
        SiteConfig.from_env({**env, name: "  "})


@pytest.mark.parametrize(
    "name, value",
    [
        ("GAMEDAY_DB_ADDR", "localhost"),
        ("GAMEDAY_DB_ADDR", "localhost:notaport"),
        ("GAMEDAY_DB_ADDR", "localhost:70000"),
        ("GAMEDAY_KAFKA_BOOTSTRAP", "127.0.0.1:9092,broker-without-port"),
        ("GAMEDAY_SEARCH_URLS", "127.0.60.1:9201"),
        ("GAMEDAY_SEARCH_URLS", ","),
    ],
)
def test_malformed_values_are_named(name, value):
    with pytest.raises(ValueError, match=name):
        SiteConfig.from_env({**BASE, name: value})


def test_password_never_in_repr_or_errors():
    cfg = SiteConfig.from_env(BASE)
    assert "hunter2-secret" not in repr(cfg)
    assert "hunter2-secret" not in str(cfg)
    with pytest.raises(ValueError) as info:
        SiteConfig.from_env({**BASE, "GAMEDAY_DB_ADDR": "bad"})
    assert "hunter2-secret" not in str(info.value)
