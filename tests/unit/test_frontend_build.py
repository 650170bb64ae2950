"""The React search front end's Python side (issue 17): the build stamp (a digest of the sources), the
committed npm project (exact versions, a lockfile that agrees with them), and the replica's nginx
serving the bundle at /app/. Built and loaded in Chromium: tests/integration/test_search_frontend.py."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from gameday.errors import DeadlineExceeded, NotInstalled
from gameday.sandbox import frontend_build, install
from gameday.sandbox import wordpress as files
from gameday.sandbox.members import wordpress
from gameday.sandbox.wordpress import launch
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import Twin

DEPENDENCIES = {"react", "react-dom"}
DEV_DEPENDENCIES = {"esbuild"}


def _tree(root):
    (root / "src").mkdir(parents=True)
    (root / "package.json").write_text("{}")
    (root / "src" / "App.jsx").write_text("export default () => null;")
    return root


def test_the_digest_follows_the_sources_and_ignores_node_modules_and_dist(tmp_path):
    tree = _tree(tmp_path / "frontend")
    first = frontend_build.sources_digest(tree)
    assert frontend_build.sources_digest(tree) == first
    for out in ("node_modules/react/index.js", "dist/app.js"):
        (tree / out).parent.mkdir(parents=True)
        (tree / out).write_text("x")
    assert frontend_build.sources_digest(tree) == first  # npm ci's and the build's output are not sources
    (tree / "src" / "App.jsx").write_text("export default () => 1;")
    changed = frontend_build.sources_digest(tree)
    assert changed != first
    (tree / "src" / "App.jsx").rename(tree / "src" / "Main.jsx")
    assert frontend_build.sources_digest(tree) != changed


def test_the_checkout_pins_exact_versions_and_the_lockfile_agrees():
    package = json.loads((frontend_build.SOURCES / "package.json").read_text())
    lock = json.loads((frontend_build.SOURCES / "package-lock.json").read_text())
    assert set(package["dependencies"]) == DEPENDENCIES and set(package["devDependencies"]) == DEV_DEPENDENCIES
    assert package["scripts"]["build"] == "node build.mjs"
    pinned = {**package["dependencies"], **package["devDependencies"]}
    for name, version in pinned.items():
        assert version[0].isdigit() and set(version) <= set("0123456789."), f"{name} {version} is not exact"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]
    assert all("integrity" in entry for key, entry in lock["packages"].items() if key)  # npm ci checks each


def test_the_install_builds_it_as_a_recipe_and_npm_is_a_tool_package():
    assert install.install_search_frontend in [recipe for _label, recipe in install.RECIPES]
    assert install.TOOL_PACKAGES["npm"] == "npm"
    assert frontend_build.www() == frontend_build.home() / "www"  # the stamp beside what is served, not in it


def test_the_replica_nginx_serves_the_bundle_at_app_on_the_api_origin(tmp_path):
    twin = Twin(name="unit", net=61, paths=SandboxPaths(name="unit", home=tmp_path / "unit"),
                loc=install.locations(), python=sys.executable)
    replica = dataclasses.replace(launch.parse(wordpress.member(twin, 1).argv[3:]), run_dir=Path("/run/unit-wp-1"))
    conf = launch.render_configs(replica, root=False)["nginx.conf"]  # (pytest's tmp_path: too long for a socket's)
    assert f"alias {frontend_build.www()}/;" in conf and "location ^~ /app/ {" in conf
    assert "listen 127.61.20.1:8000;" in conf  # the same server as /wp-json/
    assert "@" not in files.render("nginx.conf", {k: "x" for k in (
        "PID_FILE", "USER_DIRECTIVE", "TMP", "ADDRESS", "PORT", "CONTENT_DIR", "CONFIG_NAME", "SOCKET", "APP_DIR",
        "MEMBER", "ACCESS_LOG", "PROBE_SOCKET", "STATUS_SOCKET")})


def test_two_builds_at_once_take_turns_and_the_wait_has_a_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_CACHE", str(tmp_path / "cache"))
    with frontend_build._building():  # another install building
        with pytest.raises(DeadlineExceeded, match="search front end build to finish .it holds .*search-frontend.lock"):
            with frontend_build._building(wait_s=0.3):
                pass
    with frontend_build._building(wait_s=0.3):  # released when that build ended: the next one takes it
        assert (tmp_path / "cache" / "search-frontend.lock").exists()


def test_a_replica_is_not_prepared_without_a_built_front_end(tmp_path, monkeypatch):
    """An unbuilt bundle is one clear error naming the install command, before any file is written."""
    monkeypatch.setenv("GAMEDAY_CACHE", str(tmp_path / "empty-cache"))
    twin = Twin(name="unit", net=61, paths=SandboxPaths(name="unit", home=tmp_path / "unit"),
                loc=install.locations(), python=sys.executable)
    with pytest.raises(NotInstalled, match="not built") as err:
        wordpress.prepare(twin)
    assert "gameday sandbox install" in err.value.hint
    assert not (tmp_path / "unit").exists()
