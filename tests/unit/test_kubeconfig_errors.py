"""A kubeconfig that is not valid YAML is named with its line and column, never its content
(a kubeconfig holds bearer tokens; YAML's own messages quote the text around the fault)."""

from __future__ import annotations

import pytest

from gameday.errors import UsageError
from gameday.targets.kubernetes_config import load_kubeconfig, preflight

TOKEN = "eyJhbGciOiJSUzI1NiJ9.s3cr3t&<>\"'\\ä-token"


@pytest.mark.parametrize("text, line", [
    (f'users:\n- name: u\n  user:\n    token: "{TOKEN}\n  x: [\n', 6),  # an unclosed quote
    (f"users:\n- name: u\n  user: {{token: {TOKEN}}}: extra\n", 3),
    (f"users:\n- name: u\n  user:\n    token: {TOKEN}\n   bad: indent\n", 5),
    ("users:\n\t- token: " + TOKEN + "\n", 2),  # a tab
])
def test_a_yaml_error_names_the_line_never_the_token(tmp_path, text, line):
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        preflight({"context": "c", "kubeconfig": str(path)}, "gke-x", "env.yaml")
    message = str(err.value)
    assert str(path) in message and f"line {line}," in message
    assert "s3cr3t" not in message and "eyJhbGci" not in message and err.value.__cause__ is None


def test_a_kubeconfig_that_is_not_a_mapping_or_not_text_is_refused(tmp_path):
    path = tmp_path / "config"
    path.write_text("- just\n- a list\n")
    with pytest.raises(UsageError, match="not a mapping"):
        load_kubeconfig(path)
    path.write_bytes(b"token: \xff\xfe" + TOKEN.encode())
    with pytest.raises(UsageError, match="not readable") as err:
        load_kubeconfig(path)
    assert "s3cr3t" not in str(err.value)
