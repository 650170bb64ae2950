"""The CDN member's pieces without a server running: its VCL (compiled by the real ``varnishd -C``), the
refusal of bad settings, and the member's argv. Varnish serving, passing and keeping stale pages is
tests/integration/test_cdn.py."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.sandbox.members import cdn
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import LAYERS, Twin


def _twin(tmp_path) -> Twin:
    paths = SandboxPaths(name="cdn-unit", home=tmp_path / "twin")
    return Twin(name="cdn-unit", net=65, paths=paths, loc=None, python="python3")  # loc: unused here


def test_the_vcl_compiles_with_varnishd_and_says_what_it_caches():
    text = cdn.vcl("127.65.10.1", 8080, ttl=30, grace=600, grace_healthy=5)
    with tempfile.TemporaryDirectory(prefix="gameday-cdn-") as d:  # run as root, varnishd reads the VCL as
        os.chmod(d, 0o711)                                            # user varnish: not in pytest's 0700 tmp
        vcl = Path(d) / "cdn.vcl"
        vcl.write_text(text)
        vcl.chmod(0o644)
        compiled = subprocess.run([cdn.VARNISHD, "-C", "-n", f"{d}/work", "-f", str(vcl)],
                                  capture_output=True, text=True, timeout=60)
    assert compiled.returncode == 0, compiled.stderr[-2000:]
    assert '.host = "127.65.10.1";' in text and '.port = "8080";' in text and '.url = "/readyz";' in text
    assert "set beresp.ttl = 30s;" in text and "set beresp.grace = 600s;" in text and "set req.grace = 5s;" in text
    assert "wordpress_logged_in_" in text and f'req.url == "{cdn.READY_PATH}"' in text


@pytest.mark.parametrize("bad", [{"ttl": -1}, {"grace": "1h"}, {"grace_healthy": 1.5}, {"probe_s": "2s"}])
def test_bad_lifetimes_are_refused(bad):
    with pytest.raises(UsageError, match="whole number of seconds"):
        cdn.vcl("127.0.0.1", 80, **bad)


def test_a_bad_backend_is_refused(tmp_path):
    with pytest.raises(UsageError, match="host:port"):
        cdn.prepare(_twin(tmp_path), backend="127.65.10.1")


def test_prepare_writes_the_vcl_for_the_twins_load_balancer(tmp_path):
    twin = _twin(tmp_path)
    cdn.prepare(twin)
    assert '.host = "127.65.10.1";' in cdn.vcl_path(twin).read_text()
    assert cdn.workdir(twin).parent.is_dir() and not cdn.workdir(twin).exists()  # varnishd makes its own


def test_the_member_runs_varnishd_in_the_foreground_on_its_own_address_and_workdir(tmp_path):
    twin = _twin(tmp_path)
    assert cdn.ADDRESS_OCTET == LAYERS["cdn"] == 5 and list(LAYERS.values()).count(5) == 1
    spec = cdn.workload(twin).members[0]
    assert spec.name == "cdn-1" and spec.address == "127.65.5.1" and cdn.workload(twin).after == ["lb"]
    argv = spec.argv
    assert argv[:2] == [cdn.VARNISHD, "-F"] and argv[argv.index("-n") + 1] == str(twin.paths.data / "varnish" / "cdn-1")
    assert "-S" not in argv and "-T" not in argv and not spec.env_files and not spec.env
    assert spec.readiness == {"type": "http", "url": f"http://127.65.5.1:{cdn.PORT}{cdn.READY_PATH}"}


def test_the_origin_probe_waits_longer_for_wordpress(tmp_path):
    """In front of WordPress (its /readyz boots WordPress: past 1 s on a saturated machine) the probe runs every
    2 s with a 2 s timeout; in front of the Python site every second with 1 s. Sick after 2 misses in 3 either way."""
    import dataclasses
    from gameday.sandbox.shape import Shape
    python = _twin(tmp_path / "p")
    wordpress = dataclasses.replace(_twin(tmp_path / "w"), shape=Shape(web="wordpress"))
    assert (cdn.probe_seconds(python), cdn.probe_seconds(wordpress)) == (1, 2)
    cdn.prepare(wordpress)
    text = cdn.vcl_path(wordpress).read_text()
    assert ".interval = 2s;" in text and ".timeout = 2s;" in text and ".window = 3;" in text and ".threshold = 2;" in text
    assert ".interval = 1s;" in cdn.vcl("127.0.0.1", 80) and ".timeout = 1s;" in cdn.vcl("127.0.0.1", 80)
    with pytest.raises(UsageError, match="at least 1 second"):
        cdn.vcl("127.0.0.1", 80, probe_s=0)
