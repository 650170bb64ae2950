"""The twin's admin context merged into the user's kubeconfig (gameday.kube.kubeconfig_merge), on a
temporary file named by $KUBECONFIG, read back by the Kubernetes client."""

from __future__ import annotations

import base64
import os

import pytest
import yaml
from kubernetes import config as kube_config

from gameday.kube import kubeconfig_merge, members
from gameday.sandbox import lifecycle
from gameday.sandbox.twin import Twin

OTHER = {"apiVersion": "v1", "kind": "Config", "preferences": {},
         "clusters": [{"name": "gke_proj_zone_prod", "cluster": {"server": "https://203.0.113.9"}}],
         "users": [{"name": "gke_proj_zone_prod", "user": {"token": "t"}}],
         "contexts": [{"name": "gke_proj_zone_prod",
                       "context": {"cluster": "gke_proj_zone_prod", "user": "gke_proj_zone_prod"}}],
         "current-context": "gke_proj_zone_prod"}


@pytest.fixture
def twin(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    t = Twin.create("kc-unit", net=77)
    t.paths.ensure()
    return t


def test_the_context_joins_the_first_kubeconfig_keeping_the_others_and_the_current_context(twin, monkeypatch, tmp_path):
    first, second = tmp_path / "kube" / "config", tmp_path / "second"
    first.parent.mkdir()
    first.write_text(yaml.safe_dump(OTHER))
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    members.prepare(twin)  # the kube prepare path merges it
    members.prepare(twin)  # twice: still one entry each
    assert not second.exists()
    data = yaml.safe_load(first.read_text())
    assert first.stat().st_mode & 0o777 == 0o600
    assert data["current-context"] == "gke_proj_zone_prod"
    for section in ("clusters", "users", "contexts"):
        assert [e["name"] for e in data[section]] == ["gke_proj_zone_prod", "gameday-kc-unit"]
    cluster = data["clusters"][1]["cluster"]
    files = members.pki_files(twin)
    assert cluster["server"] == "https://127.77.90.2:6443" == members.server_url(twin)
    assert base64.b64decode(cluster["certificate-authority-data"]) == files.ca_cert.read_bytes()
    user = data["users"][1]["user"]
    cert, key = files.client("admin")
    assert base64.b64decode(user["client-certificate-data"]) == cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == key.read_bytes()
    # the Kubernetes client reads the context as kubectl would
    api = kube_config.new_client_from_config(config_file=str(first), context="gameday-kc-unit")
    assert api.configuration.host == "https://127.77.90.2:6443"
    assert open(api.configuration.cert_file, "rb").read() == cert.read_bytes()
    # down --wipe takes it out again and leaves the rest as it was
    lifecycle.down(twin.paths, wipe=True)
    data = yaml.safe_load(first.read_text())
    assert {k: data[k] for k in OTHER} == OTHER
    assert kubeconfig_merge.remove("kc-unit") is False


def test_a_new_kubeconfig_gets_the_context_as_current_and_loses_it_on_removal(twin, monkeypatch, tmp_path):
    path = tmp_path / "fresh" / "config"
    monkeypatch.setenv("KUBECONFIG", str(path))
    members.prepare(twin)
    data = yaml.safe_load(path.read_text())
    assert data["current-context"] == "gameday-kc-unit" and path.stat().st_mode & 0o777 == 0o600
    assert kubeconfig_merge.remove("kc-unit") is True
    assert not path.exists()  # only what merge() wrote was in it: no file left behind
    members.prepare(twin)
    other = {"name": "kind-x", "cluster": {"server": "https://127.0.0.1:41000"}}
    data = yaml.safe_load(path.read_text())
    data["clusters"].append(other)  # something else joins the file meanwhile
    path.write_text(yaml.safe_dump(data))
    assert kubeconfig_merge.remove("kc-unit") is True
    data = yaml.safe_load(path.read_text())
    assert data["current-context"] == "" and data["clusters"] == [other] and data["users"] == data["contexts"] == []


def test_removal_leaves_a_same_named_context_that_is_not_a_twins_and_a_broken_file(twin, monkeypatch, tmp_path):
    path = tmp_path / "config"
    foreign = {**OTHER, "clusters": [{"name": "gameday-kc-unit", "cluster": {"server": "https://203.0.113.9"}}]}
    path.write_text(yaml.safe_dump(foreign))
    assert kubeconfig_merge.remove("kc-unit", path) is False
    assert yaml.safe_load(path.read_text()) == foreign
    path.write_text("clusters: [unclosed\n")
    assert kubeconfig_merge.remove("kc-unit", path) is False
    assert path.read_text() == "clusters: [unclosed\n"
