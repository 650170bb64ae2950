"""targets.yaml is the one source of the site's SLO: no module of gameday/ hard-codes a default
success ratio or p95, and the probes that judge the site take theirs from targets.yaml for the
experiment's environment (arguments an experiment gives still win).

The probes run for real: the site probes against a local HTTP server, the load balancer probe
against the local Cloud Monitoring server (tests/support/monitoring.py), both reading the
repository's targets.yaml."""

from __future__ import annotations

import ast
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from chaoslib.exceptions import ActivityFailed

from gameday.chaos.gcp import probes as gcp_probes
from gameday.chaos.site import probes as site_probes
from gameday.gcp import slo as gcp_slo
from gameday.recovery import targets_yaml
from gameday.recovery.context import Context
from tests.support.monitoring import monitoring  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gameday"
SLO_NAMES = {"min_success_ratio", "max_p95_ms", "success_ratio", "p95_ms"}
TARGETS = targets_yaml.load()
DEFAULT = TARGETS.slo("an-environment-targets-yaml-does-not-name")  # targets.yaml's defaults.slo
PRODUCTION = TARGETS.slo("gke-production")  # stricter: its own slo
# targets.yaml's default figures written next to their names in any text (a docstring's example, a
# comment): the example to copy must not be the literal. Other figures (an override shown) are fine.
SLO_TEXT = re.compile(r"\b(?:min_)?success_ratio\b[\"']?\s*[:=]\s*" + re.escape(f"{DEFAULT['success_ratio']:g}") + r"(?![\d.])"
                      r"|\b(?:max_)?p95_ms\b[\"']?\s*[:=]\s*" + re.escape(f"{DEFAULT['p95_ms']:g}") + r"(?:\.0*)?(?![\d.])")


def _number(node: ast.AST | None) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _number_default(node: ast.AST | None) -> bool:
    """A number, or a call whose default is one (``Field(0.99, ...)``, ``Field(default=0.99)``)."""
    if _number(node):
        return True
    if isinstance(node, ast.Call):
        return (bool(node.args) and _number(node.args[0])) or any(
            k.arg == "default" and _number(k.value) for k in node.keywords)
    return False


def hard_coded_slos(path: Path) -> list[str]:
    """Each place in ``path`` that writes an SLO figure in code: ``line: what``."""
    text = path.read_text()
    found = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            positional = a.posonlyargs + a.args
            pairs = list(zip(positional[len(positional) - len(a.defaults):], a.defaults, strict=True))
            pairs += zip(a.kwonlyargs, a.kw_defaults, strict=True)
            found += [f"{node.lineno}: parameter {arg.arg} defaults to a number" for arg, default in pairs
                      if arg.arg in SLO_NAMES and _number(default)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id in SLO_NAMES \
                and _number_default(node.value):
            found.append(f"{node.lineno}: field {node.target.id} defaults to a number")
        elif isinstance(node, ast.Assign) and _number(node.value):
            found += [f"{node.lineno}: {t.id} = a number" for t in node.targets if isinstance(t, ast.Name) and t.id in SLO_NAMES]
        elif isinstance(node, ast.Dict):
            found += [f"{node.lineno}: {{{k.value!r}: a number}}" for k, v in zip(node.keys, node.values, strict=True)
                      if isinstance(k, ast.Constant) and k.value in SLO_NAMES and _number(v)]
        elif isinstance(node, ast.Call):
            found += [f"{node.lineno}: called with {k.arg}=a number" for k in node.keywords if k.arg in SLO_NAMES and _number(k.value)]
    for lineno, line in enumerate(text.splitlines(), 1):
        if SLO_TEXT.search(line):
            found.append(f"{lineno}: text {line.strip()[:80]!r}")
    return sorted(set(found), key=lambda hit: int(hit.split(":", 1)[0]))


def test_no_module_hard_codes_a_default_slo():
    offenders = {str(p.relative_to(ROOT)): hits for p in sorted(PACKAGE.rglob("*.py")) if (hits := hard_coded_slos(p))}
    assert offenders == {}, "an SLO figure outside targets.yaml (take it from targets.yaml's slo for the environment, " \
        "or make the caller pass it): " + "; ".join(f"{path} {', '.join(hits)}" for path, hits in offenders.items())


def test_the_scan_finds_a_hard_coded_slo_when_there_is_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from dataclasses import dataclass\n"
        "from pydantic import Field\n\n"
        "DEFAULT = {'success_ratio': 0.99, 'p95_ms': 1000.0}\n\n"
        "def probe(timeout=180, min_success_ratio=0.99, *, max_p95_ms: float = 1000):\n"
        "    '''Example: slo.meets(min_success_ratio=0.99)'''\n"
        "    return judge(max_p95_ms=1000)\n\n"
        "@dataclass\nclass Slo:\n    min_success_ratio: float = 0.99\n    p95_ms: float = Field(1000)\n\n"
        "def fine(min_success_ratio=None, max_p95_ms: float | None = None, window_s=5):\n"
        "    return judge(max_p95_ms=max_p95_ms)\n")
    hits = hard_coded_slos(bad)
    assert {int(h.split(":", 1)[0]) for h in hits} == {4, 6, 7, 8, 12, 13}, hits  # not 15-16: no figure there


# ---- the site probes: a real local site that fails one request in every window --------------------------------

WINDOW_S, RATE = 1.5, 100  # site_slo.measure sends int(WINDOW_S * RATE) requests per window
PER_WINDOW = int(WINDOW_S * RATE)


class OneFailurePerWindow(BaseHTTPRequestHandler):
    """HTTP 500 for the first request of every PER_WINDOW, 200 otherwise: a success ratio of
    1 - 1/PER_WINDOW in each window the probe measures. Subclasses change :meth:`fails`."""

    counter = 0
    lock = threading.Lock()

    @staticmethod
    def fails(n: int) -> bool:
        return n % PER_WINDOW == 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        with self.lock:
            n = type(self).counter
            type(self).counter += 1
        self.send_response(500 if self.fails(n) else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass  # http.server's access log: the probes' requests, not wanted in the test output


@pytest.fixture
def site():
    OneFailurePerWindow.counter = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), OneFailurePerWindow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def configuration(name: str, **env) -> dict:
    return {"gameday_environment": {"name": name, "kind": "sandbox", "allowed": True, **env}}


def test_the_figures_these_tests_rely_on():
    """One failure in a window passes targets.yaml's default SLO and fails gke-production's."""
    assert DEFAULT["success_ratio"] <= 1 - 1 / PER_WINDOW < PRODUCTION["success_ratio"]
    assert PRODUCTION["p95_ms"] < DEFAULT["p95_ms"]


# The server fails exactly one request per window, so the success ratio is exact; the latency is this
# machine's load (make test runs two lanes on two cores: CI measured p95 over 1 s for this local server).
# So the ratio is judged as targets.yaml resolves it, with the p95 given loose (ANY_P95_MS); the p95
# targets.yaml resolves is read from the SLO line the probe logs and the error it raises.
ANY_P95_MS = 60_000


def slo_lines(caplog) -> list[str]:
    return [r.getMessage().split("(SLO: ", 1)[1] for r in caplog.records if "site SLO" in r.getMessage()]


def test_site_probes_judge_by_targets_yaml_for_the_environment(site, caplog):
    default_env = configuration("unit-site", site_url=site)
    production_env = configuration("gke-production", site_url=site)  # targets.yaml's environments.gke-production
    kw = {"window_s": WINDOW_S, "rate": RATE}
    assert site_probes.site_meets_slo(**kw, max_p95_ms=ANY_P95_MS, configuration=default_env) is True
    assert site_probes.site_meets_slo(**kw, max_p95_ms=ANY_P95_MS, attempts=1, configuration=production_env) is False
    # Every window holds exactly one failure (the server counts requests), so only a ratio judged by the
    # default SLO lets a window meet it: with gke-production's it raises at the deadline.
    waited = site_probes.wait_for_site_slo(timeout=30, **kw, max_p95_ms=ANY_P95_MS, configuration=default_env)
    assert 0 <= waited < 30 and OneFailurePerWindow.counter % PER_WINDOW == 0
    with pytest.raises(ActivityFailed, match=rf"{PRODUCTION['success_ratio']:.2%} ok, p95 <= {PRODUCTION['p95_ms']:g} ms"):
        site_probes.wait_for_site_slo(timeout=0.5, **kw, configuration=production_env)
    caplog.clear()
    with caplog.at_level("INFO", logger="chaostoolkit"):  # met or missed (the p95 is the load's), the SLO it judged by
        site_probes.site_meets_slo(**kw, attempts=1, configuration=default_env)
        site_probes.site_meets_slo(**kw, attempts=1, configuration=production_env)
    assert slo_lines(caplog) == [f"{DEFAULT['success_ratio']:.2%} ok, p95 <= {DEFAULT['p95_ms']:g} ms)",
                                 f"{PRODUCTION['success_ratio']:.2%} ok, p95 <= {PRODUCTION['p95_ms']:g} ms)"]


def test_site_probe_arguments_given_by_an_experiment_win(site, caplog):
    production_env = configuration("gke-production", site_url=site)
    default_env = configuration("unit-site", site_url=site)
    kw = {"window_s": WINDOW_S, "rate": RATE}
    assert site_probes.site_meets_slo(min_success_ratio=DEFAULT["success_ratio"], max_p95_ms=ANY_P95_MS, **kw,
                                      configuration=production_env) is True
    assert site_probes.site_meets_slo(min_success_ratio=1.0, max_p95_ms=ANY_P95_MS, **kw, attempts=1,
                                      configuration=default_env) is False
    caplog.clear()
    with caplog.at_level("INFO", logger="chaostoolkit"):  # one given, the other still targets.yaml's
        site_probes.site_meets_slo(min_success_ratio=0.5, **kw, attempts=1, configuration=production_env)
        site_probes.site_meets_slo(max_p95_ms=2500, **kw, attempts=1, configuration=production_env)
    assert slo_lines(caplog) == [f"50.00% ok, p95 <= {PRODUCTION['p95_ms']:g} ms)",
                                 f"{PRODUCTION['success_ratio']:.2%} ok, p95 <= 2500 ms)"]


class FirstWindowFails(OneFailurePerWindow):
    """HTTP 500 for the first PER_WINDOW requests (one whole window), 200 after: a transient."""

    counter = 0

    @staticmethod
    def fails(n: int) -> bool:
        return n < PER_WINDOW


def test_the_steady_state_probe_measures_up_to_its_attempts_windows_until_one_meets_the_slo(caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FirstWindowFails)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = configuration("unit-site", site_url=f"http://127.0.0.1:{server.server_address[1]}")
        kw = {"window_s": WINDOW_S, "rate": RATE, "max_p95_ms": ANY_P95_MS, "configuration": env}
        FirstWindowFails.counter = 0
        with caplog.at_level("INFO", logger="chaostoolkit"):
            assert site_probes.site_meets_slo(attempts=1, **kw) is False  # one window: the transient decides
        assert FirstWindowFails.counter == PER_WINDOW
        FirstWindowFails.counter = 0
        with caplog.at_level("INFO", logger="chaostoolkit"):
            assert site_probes.site_meets_slo(attempts=3, **kw) is True   # the second window meets it: no third
        assert FirstWindowFails.counter == 2 * PER_WINDOW
        said = [r.getMessage() for r in caplog.records if "site SLO" in r.getMessage()]
        assert [m.split(" over ")[0] for m in said] == ["gameday: site SLO MISSED"] * 2 + ["gameday: site SLO met"]
        assert "window 2 of at most 3" in said[-1] and f"0/{PER_WINDOW} ok" in said[1]
    finally:
        server.shutdown()
        server.server_close()


# ---- the load balancer probe: the local Cloud Monitoring server -----------------------------------------------

LB = gcp_slo.LoadBalancer(project="sps-test", url_map="k8s2-um-slo")


def test_lb_probe_judges_by_targets_yaml_for_the_environment(monitoring):  # noqa: F811 (fixture)
    import time

    failed = 8  # per 1000: a success ratio of 0.992, between the two SLOs
    assert DEFAULT["success_ratio"] <= 1 - failed / 1000 < PRODUCTION["success_ratio"]
    now, ahead_s = time.time(), 10
    n = int(60 + ahead_s)
    monitoring.add_lb_window(url_map=LB.url_map, start=now + ahead_s - n, end=now + ahead_s, step_s=1.0,
                             by_class={200: (1000 - failed) * n, 500: failed * n}, latencies_ms=[30.0] * n * 10,
                             countries=(("United Kingdom", 1.0),))
    block = {"cloud_monitoring": {"project": LB.project, "url_map": LB.url_map}}
    kw = {"window_s": 30, "wait_s": 5, "poll_s": 0.1}
    assert gcp_probes.lb_meets_slo(**kw, configuration=configuration("gke-test", **block)) is True
    assert gcp_probes.lb_meets_slo(**kw, configuration=configuration("gke-production", **block)) is False
    assert gcp_probes.lb_meets_slo(min_success_ratio=DEFAULT["success_ratio"], **kw,
                                   configuration=configuration("gke-production", **block)) is True


# ---- the playbooks' site check ----------------------------------------------------------------------------------

def test_a_playbook_context_verifies_the_site_against_targets_yaml_unless_told_otherwise():
    prod = Context(target=SimpleNamespace(env=SimpleNamespace(name="gke-production")))
    assert prod.site_slo() == PRODUCTION and prod.site_slo()["p95_ms"] == PRODUCTION["p95_ms"]
    told = Context(target=SimpleNamespace(env=SimpleNamespace(name="gke-production")))
    told.state.slo = {"success_ratio": 0.5, "p95_ms": 5000.0}  # the suite's, as runner/scenario.py sets it
    assert told.site_slo() == {"success_ratio": 0.5, "p95_ms": 5000.0}
