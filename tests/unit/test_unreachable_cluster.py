"""Pointing a GKE example environment at a cluster that cannot be reached gives one clear line, exit 4,
before anything is touched: no run folder, no traceback, for every command that can touch it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GAMEDAY = str(Path(sys.executable).with_name("gameday"))


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """gke-staging.example.yaml as a user fills it in, its context on an API server nobody listens on
    (a loopback address: refused at once)."""
    folder = tmp_path_factory.mktemp("unreachable")
    context = "gke_sps-staging_europe-west2_sps-staging"
    (folder / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.99:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}]}))
    env_file = folder / "gke-staging.yaml"
    env_file.write_text((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    env = {**os.environ, "KUBECONFIG": str(folder / "kubeconfig"), "WORDPRESS_DB_PASSWORD": "set-by-the-operator",
           "MEMORYSTORE_AUTH": "set-by-the-operator"}
    return env_file, env


@pytest.mark.parametrize("args", [
    ["run", "--suite", "kubernetes", "--no-install"],
    ["playbook", "web"],
    ["playbook", "kafka", "--apply"],
    ["cleanup"],
])
def test_an_unreachable_cluster_is_one_clear_line_before_anything_is_touched(unreachable, args, tmp_path):
    env_file, env = unreachable
    proc = subprocess.run([GAMEDAY, *args, "--env", str(env_file), *(["--reports", str(tmp_path / "r")] if args[0] == "run" else [])],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 4, proc.stderr
    assert "cannot reach the Kubernetes API server at https://127.0.0.99:6443" in lines[0] and "Traceback" not in proc.stderr
    assert "kubectl --context gke_sps-staging_europe-west2_sps-staging get nodes" in proc.stderr
    assert len(lines) <= 2 and not (tmp_path / "r").exists()  # one error (wrapped at most once), no run folder
