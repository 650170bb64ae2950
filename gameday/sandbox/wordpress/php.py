"""Run one of the ``cli/`` PHP scripts against a twin's WordPress::

    out = run_script("publish.php", env, stdin=json.dumps({"title": "..."}), timeout=30)

``env`` is the environment the script gets (:func:`cli_env` builds it from a twin; the seed job passes
its own, which the supervisor filled from the twin's secret files): passwords travel in it, never in
argv, and the script's output never holds them. Raises GamedayError with the script's stderr when it
exits non-zero.
"""

from __future__ import annotations

import os
import subprocess

from ...errors import GamedayError
from . import CLI

PHP = "/usr/bin/php8.2"  # Debian's php8.2-cli (gameday.sandbox.install.WORDPRESS_PACKAGES)


def run_script(script: str, env: dict[str, str], *, stdin: str = "", timeout: float = 120.0) -> str:
    """Run ``cli/<script>`` with ``env``; its stdout."""
    try:
        proc = subprocess.run([PHP, "-d", "display_errors=stderr", str(CLI / script)], input=stdin, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as err:
        raise GamedayError(f"{PHP} is not installed", hint="run `gameday sandbox install`") from err
    except subprocess.TimeoutExpired as err:
        raise GamedayError(f"WordPress script {script} did not finish within {timeout:.0f}s") from err
    if proc.returncode != 0:
        raise GamedayError(f"WordPress script {script} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:] or proc.stdout.strip()[-2000:]}")
    return proc.stdout


def cli_env(config_name: str, secrets: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of a CLI script for the twin whose WordPress config is ``config_name``:
    PATH and the like from this process, the ``secrets`` (KEY -> value, read from the twin's 0600
    files), and ``extra``."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "HOME")}
    return {**keep, **secrets, "GAMEDAY_WP_CONFIG": config_name, **extra}
