"""The production path is the tested path: no module outside the twin's own may ask "is this the
twin". The twin (gameday/sandbox, gameday/kube, gameday/site) and the modules whose whole job is a
``kind: sandbox`` environment may name its context, state directory and supervisor; nothing else
may. A Kubernetes target reaches the twin exactly as it reaches GKE (environments/rehearsal.yaml).
Scans the code, as tests/unit/test_kube.py's RBAC check does."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gameday"

TWIN_PACKAGES = ("sandbox", "kube", "site")
# Modules whose job is the twin itself (a ``kind: sandbox`` environment), each with why.
TWIN_MODULES = {
    "targets/sandbox.py": "the kind: sandbox target: members of the twin through its supervisor (chaos and playbooks)",
    "cli/sandbox.py": "gameday sandbox: the twin's own commands",
    "cli/run.py": "brings the twin of a kind: sandbox environment up before its game day",
    "cli/load.py": "gameday load --sandbox NAME: load against a named twin",
    "cli/coverage.py": "gameday coverage inventory --sandbox: the inventory generated from the twin",
    "coverage/sandbox.py": "platform.yaml generated from the twin's topology",
    "coverage/regions.py": "platform.yaml's region component generated from the twin's region set (its three twins)",
}
# What names the twin: its kubeconfig context, its state directory, its supervisor.
FORBIDDEN_STRINGS = ("gameday-sandbox",)
FORBIDDEN_MODULES = ("sandbox.paths", "sandbox.client", "sandbox.supervisor", "sandbox.twin", "sandbox.lifecycle",
                     "sandbox.reaper", "sandbox.topology", "sandbox.names", "sandbox.tls", "kube.members")
FORBIDDEN_NAMES = ("SandboxPaths", "SandboxClient", "Twin", "on_sandbox_twin", "SANDBOX_CONTEXT", "effective_block")
# The Kubernetes path must not even reach for the twin's target.
KUBERNETES_PATH = tuple(sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "targets").glob("kubernetes*.py")))
KUBERNETES_FORBIDDEN = ("SandboxTarget", "targets.sandbox")


def outside_the_twin() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.split("/", 1)[0] in TWIN_PACKAGES or rel in TWIN_MODULES:
            continue
        out.append(path)
    return out


def shortcuts(path: Path, modules=FORBIDDEN_MODULES, names=FORBIDDEN_NAMES, strings=FORBIDDEN_STRINGS) -> list[str]:
    """Each place in ``path`` that names the twin: ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if any(module == m or module.endswith("." + m) for m in modules):
                found.append(f"{node.lineno}: from {'.' * node.level}{module} import ...")
            for alias in node.names:
                if alias.name in names:
                    found.append(f"{node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(alias.name.endswith(m) for m in modules):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Name) and node.id in names:
            found.append(f"{node.lineno}: uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"{node.lineno}: uses .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(s in node.value for s in strings):
            found.append(f"{node.lineno}: the string {node.value[:60]!r}")
    return found


def test_no_module_outside_the_twin_names_its_context_state_directory_or_supervisor():
    offenders = {str(p.relative_to(ROOT)): hits for p in outside_the_twin() if (hits := shortcuts(p))}
    assert offenders == {}, "twin shortcuts outside the twin's package (reach it as GKE is reached instead): " + \
        "; ".join(f"{path} {', '.join(hits)}" for path, hits in offenders.items())


def test_the_kubernetes_path_never_reaches_for_the_twins_target():
    assert "targets/kubernetes.py" in KUBERNETES_PATH and "targets/kubernetes_workloads.py" in KUBERNETES_PATH
    offenders = {}
    for rel in KUBERNETES_PATH:
        path = PACKAGE / rel
        hits = shortcuts(path, modules=("targets.sandbox",),
                         names=KUBERNETES_FORBIDDEN, strings=("targets.sandbox",))
        if hits:
            offenders[rel] = hits
    assert offenders == {}


def test_the_scan_finds_a_shortcut_when_there_is_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ..sandbox.paths import SandboxPaths\nfrom ..sandbox.client import SandboxClient\n"
                   "CONTEXT = 'gameday-sandbox'\n\ndef f(t):\n    return t.Twin\n")
    hits = shortcuts(bad)
    assert any("sandbox.paths" in h for h in hits) and any("SandboxClient" in h for h in hits)
    assert any("gameday-sandbox" in h for h in hits) and any(".Twin" in h for h in hits)
    assert set(TWIN_MODULES) <= {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}  # no stale entry
