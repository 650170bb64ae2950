"""The wheel: it builds, carries its package data, and a plain (non-editable) install of it works.

One module-scoped fixture builds the wheel from a copy of the sources (no build/ or egg-info left in
the checkout) with the venv's setuptools (``--no-build-isolation``: no download) and installs it with
``--no-deps --target`` into a temp dir. Each test then runs ``python -I`` (isolated: no user site,
no ``.pth`` files, so not the editable install's finder that points at this checkout) with
``sys.path`` = that target dir first, then this venv's site-packages for the dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE_PACKAGES = sysconfig.get_paths()["purelib"]

# Calls the console entry point as `gameday` would, and reports where the package was imported from.
RUNNER = """\
import sys
sys.path[:0] = [{target!r}, {site!r}]
import gameday, gameday.cli
print("GAMEDAY_FILE=" + gameday.__file__, flush=True)
sys.exit(gameday.cli.main({argv!r}))
"""


def _run(python_code: str, *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -I -c python_code`` in ``cwd`` with ``env`` added to a minimal environment (no
    GAMEDAY_HOME unless given); 60 s at most."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8",
            "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-I", "-c", python_code], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel and install it (no dependencies) into a temp dir: {"wheel", "target", "empty"}."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "gameday", src / "gameday", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("gameday-*.whl")
    target = tmp / "target"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    empty = tmp / "empty"
    empty.mkdir()
    return {"wheel": wheel, "target": target, "empty": empty}


def _gameday(installed: dict[str, Path], argv: list[str], *, cwd: Path, env: dict[str, str] | None = None):
    """Run the installed wheel's CLI entry point with ``argv``; the process, after checking the
    package came from the temp install and not from this checkout."""
    proc = _run(RUNNER.format(target=str(installed["target"]), site=SITE_PACKAGES, argv=argv), cwd=cwd, env=env)
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    assert first == f"GAMEDAY_FILE={installed['target'] / 'gameday' / '__init__.py'}", proc.stdout + proc.stderr
    return proc


def test_wheel_carries_the_package_data(installed):
    """Every non-Python file under gameday/ (templates, go.mod/go.sum, recipes: what
    [tool.setuptools.package-data] lists) is in the wheel, and the console script is declared."""
    wanted = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "gameday").rglob("*")
                    if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts)
    assert wanted, "expected templates, go.mod files, ... under gameday/"
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = set(whl.namelist())
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert [n for n in wanted if n not in names] == []
    assert "gameday.project" in {n[:-3].replace("/", ".") for n in names if n.endswith(".py")}
    assert "gameday = gameday.cli:main" in entry_points


def test_version_and_help_work_anywhere(installed):
    """--version and run --help need no project directory (nothing is looked up at import)."""
    version = _gameday(installed, ["--version"], cwd=installed["empty"])
    assert version.returncode == 0, version.stderr
    assert "0.1.0" in version.stdout
    helped = _gameday(installed, ["run", "--help"], cwd=installed["empty"])
    assert helped.returncode == 0, helped.stderr
    assert "--suite" in helped.stdout and "--env" in helped.stdout


def test_gameday_home_finds_the_project_files(installed):
    """With GAMEDAY_HOME the installed package loads environments/sandbox.yaml by name (and a suite:
    `schedule` loads both and prints the crontab line that cds to the project directory)."""
    code = (f"import sys; sys.path[:0] = [{str(installed['target'])!r}, {SITE_PACKAGES!r}]\n"
            "import gameday\n"
            "from gameday.targets import environment\n"
            "env = environment.load('sandbox')\n"
            "print(gameday.__file__, env.name, env.kind, env.source, environment.ENVIRONMENTS)\n")
    proc = _run(code, cwd=installed["empty"], env={"GAMEDAY_HOME": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    module, name, kind, source, folder = proc.stdout.split()
    assert Path(module).is_relative_to(installed["target"])
    assert (name, kind, folder) == ("sandbox", "sandbox", str(ROOT / "environments"))
    assert Path(source) == ROOT / "environments" / "sandbox.yaml"
    cron = _gameday(installed, ["schedule", "--env", "sandbox", "--format", "crontab"], cwd=installed["empty"],
                    env={"GAMEDAY_HOME": str(ROOT)})
    assert cron.returncode == 0, cron.stderr
    assert f"cd {ROOT} && " in cron.stdout


def test_without_a_project_directory_the_error_names_gameday_home(installed):
    """No GAMEDAY_HOME, not a checkout, an empty cwd: loading an environment by name is exit 2 and
    one clear line naming GAMEDAY_HOME, not a traceback."""
    proc = _gameday(installed, ["cleanup", "--environment", "sandbox"], cwd=installed["empty"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "GAMEDAY_HOME" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
