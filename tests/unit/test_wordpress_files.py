"""The WordPress member's files: templates render completely, values are PHP-safe, the package list
keeps Apache out, and the member's processes and secrets are declared as the supervisor expects."""

from __future__ import annotations

import sys

import pytest

from gameday.errors import GamedayError
from gameday.sandbox import install
from gameday.sandbox import wordpress as files
from gameday.sandbox.members import wordpress
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import Twin


def _twin(tmp_path) -> Twin:
    return Twin(name="unit", net=61, paths=SandboxPaths(name="unit", home=tmp_path / "unit"),
                loc=install.locations(), python=sys.executable)


def test_render_fills_every_placeholder_or_names_the_missing_ones():
    with pytest.raises(GamedayError, match="nginx.conf: no value for .*ADDRESS"):
        files.render("nginx.conf", {"PID_FILE": "/p"})
    text = files.render("php-fpm.conf", {k: "x" for k in ("PID_FILE", "POOL", "USER", "SOCKET", "MAX_CHILDREN",
                                                          "UPLOAD_TMP", "SLOWLOG", "PROBE_SOCKET", "PROBE_PRIORITY")})
    assert "@" not in text.replace("$GAMEDAY", "")
    assert "daemonize = no" in text and "clear_env = yes" in text


def test_probes_have_a_pool_of_their_own():
    """/healthz and /readyz go to the replica's probe workers, which get the traffic pool's environment and
    database timeout (health.php's readiness fault and db check need them); traffic never reaches them."""
    fpm = files.render("php-fpm.conf", {k: k.lower() for k in ("PID_FILE", "POOL", "USER", "SOCKET", "MAX_CHILDREN",
                                                               "UPLOAD_TMP", "SLOWLOG", "PROBE_SOCKET", "PROBE_PRIORITY")})
    traffic, probes = fpm.split("[pool-probes]")
    assert "listen = socket\n" in traffic and "listen = probe_socket\n" in probes
    assert "probe_priority" in probes and "probe_priority" not in traffic
    for line in ("clear_env = yes", "env[GAMEDAY_MEMBER] = $GAMEDAY_MEMBER", "env[GAMEDAY_FAULTS_DIR] = $GAMEDAY_FAULTS_DIR",
                 "env[GAMEDAY_DB_PASSWORD] = $GAMEDAY_DB_PASSWORD", "php_admin_value[mysqlnd.net_read_timeout] = 2"):
        assert line in traffic and line in probes, line
    keys = ("PID_FILE", "USER_DIRECTIVE", "TMP", "ADDRESS", "PORT", "CONTENT_DIR", "CONFIG_NAME", "SOCKET", "APP_DIR",
            "MEMBER", "ACCESS_LOG", "STATUS_SOCKET", "PROBE_SOCKET")
    nginx = files.render("nginx.conf", {k: k.lower() for k in keys})
    probe_block = nginx.split("location ~ ^/(healthz|readyz)$ {")[1].split("}")[0]
    assert "fastcgi_pass unix:probe_socket;" in probe_block
    assert nginx.count("fastcgi_pass unix:probe_socket;") == 1


def test_php_strings_cannot_break_out_of_their_quotes():
    assert files.php_string("it's a \\ path") == "it\\'s a \\\\ path"


def test_php8_2_is_named_so_that_apt_does_not_pull_apache():
    assert {"php8.2", "php8.2-fpm", "nginx", "wordpress"} <= set(install.WORDPRESS_PACKAGES)


def test_a_replica_is_one_member_on_the_web_address_with_passwords_only_in_env_files(tmp_path):
    twin = _twin(tmp_path)
    work = wordpress.workload(twin, replicas=1, max_replicas=2)
    assert [m.name for m in work.members] == ["wp-1", "wp-2"] and work.after == ["wp-bootstrap"]
    member = work.members[0]
    assert member.address == "127.61.20.1" and member.ports == {"http": 8000}
    assert member.readiness == {"type": "http", "url": "http://127.61.20.1:8000/readyz", "failure_threshold": 3}
    assert str(twin.db_env_file) in member.env_files
    job = wordpress.bootstrap(twin, n=50).members[0]
    assert str(wordpress.admin_env_file(twin)) in job.env_files and job.env["GAMEDAY_WP_SEED_N"] == "50"
    for spec in (member, job):
        assert not any("PASSWORD" in arg for arg in spec.argv) and not any("PASSWORD" in k for k in spec.env)


def test_the_publishers_password_is_made_once_reaches_only_the_bootstrap_and_is_what_wordpress_accepts(tmp_path):
    """Application Passwords: WordPress strips anything but letters and digits from a presented one, so
    ours has only those; the bootstrap job (which stores its hash) reads the file, php-fpm's member never."""
    twin = _twin(tmp_path)
    user, password = wordpress.publisher_credentials(twin)
    assert user == "publisher" and len(password) == 24 and password.isascii() and password.isalnum()
    assert wordpress.publisher_credentials(twin) == (user, password)  # kept, not made again
    secret = wordpress.publisher_env_file(twin)
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.read_text() == f"{wordpress.PUBLISHER_ENV}={password}\n"
    job = wordpress.bootstrap(twin).members[0]
    assert str(secret) in job.env_files
    member = wordpress.member(twin, 1)
    assert str(secret) not in member.env_files and member.env["GAMEDAY_FAULTS_DIR"].endswith("/faults")
    assert wordpress.cli_env(twin)[wordpress.PUBLISHER_ENV] == password  # a cli/ script's bootstrap run


def test_the_twins_wp_config_keeps_no_revisions_and_sets_the_publish_wait():
    """WP_POST_REVISIONS false (an update adds no revision row to wp_posts, issue 17 D3) and the publish's
    wait for the relay's mark (D4) as a PHP number."""
    keys = ("TWIN", "CONFIG_NAME", "DB_NAME", "DB_USER", "DB_HOST", "HOME", "CONTENT_DIR", "THEME", "MU_PLUGIN_DIR",
            "SEARCH_URLS", "SEARCH_HOSTS", "SEARCH_USER", "SEARCH_CA", "CONTENT_INDEX", "CACHE_ADDR", "ALSO_HOMES", "CDN_PURGE")
    text = files.render("wp-config.php", {**{k: "x" for k in keys}, "PUBLISH_ACK_WAIT": repr(0.5)})
    assert "define('WP_POST_REVISIONS', false);" in text
    assert "define('GAMEDAY_PUBLISH_ACK_WAIT', 0.5);" in text
    assert "define('GAMEDAY_CDN_PURGE', 'x');" in text  # the edges purge.php sends PURGE to


@pytest.mark.parametrize("wait", [-0.1, wordpress.MAX_PUBLISH_ACK_WAIT_S + 0.1, float("nan")])
def test_a_publish_wait_out_of_range_is_refused_before_anything_is_written(tmp_path, wait):
    twin = _twin(tmp_path)
    with pytest.raises(ValueError, match="publish_ack_wait must be 0..8 seconds"):
        wordpress.prepare(twin, publish_ack_wait=wait)
    assert not (tmp_path / "unit").exists()


def test_the_twin_names_its_cdn_edges_for_wordpress_to_purge_and_the_kubernetes_twin_none():
    from gameday.sandbox import topology

    twin = Twin.create("purge-test", 64)
    assert topology.wordpress_options(twin)["cdn_purge"] == ["127.64.5.1:8080"]  # cdn-1, as its VCL serves
    assert topology.wordpress_options(twin, with_cdn=False)["cdn_purge"] == []  # no CDN on the Kubernetes twin
    assert wordpress.settings(twin, **topology.wordpress_options(twin))["CDN_PURGE"] == "127.64.5.1:8080"
