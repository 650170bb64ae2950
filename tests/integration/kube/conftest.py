"""One twin with Kubernetes (``sandbox up --kubernetes``: every layer of the site as pods, the node
agent, HAProxy fed from EndpointSlices) shared by this package's modules, and the rehearsal
environment pointed at it. Within this package ``twin`` is that twin, on 127.35.x.y; the session twin
(127.20.x.y) is stopped while it runs, so the two never share the two cores. Its web tier is the one
``GAMEDAY_SANDBOX_WEB`` names, as the session twin's (the Python site when unset)::

    GAMEDAY_SANDBOX_WEB=wordpress flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/

Every module leaves the twin as it found it (three routed web pods, Kafka replicated, search green,
no deploy/ objects): each test waits for that steady state before it hurts anything. On their own::

    flock /tmp/gameday-twin.lock .venv/bin/pytest -m kubernetes -s tests/integration/kube/

``-s`` shows the measured figures.
"""

from __future__ import annotations

import pytest

from tests.conftest import pause_session_twin
from tests.support.kube_twin import diagnosis, environment_for, kubernetes_twin, web_tier

NAME = "k8s-test"
NET = 35


@pytest.fixture(scope="package", autouse=True)
def _session_twin_paused():
    pause_session_twin()


@pytest.fixture(scope="package")
def twin(_session_twin_paused):
    yield from kubernetes_twin(NAME, NET, what="every layer as pods", timeout=900, web=web_tier())


@pytest.fixture(scope="package")
def env_file(twin, tmp_path_factory):
    return environment_for(twin, tmp_path_factory)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test of this package that fails shows the twin's state beside its assertion (pods not ready
    and why, the database's error log, the node agent's log): a CI failure is diagnosed from its output."""
    outcome = yield
    report = outcome.get_result()
    twin = getattr(item, "funcargs", {}).get("twin")
    if report.when == "call" and report.failed and twin is not None:
        report.sections.append(("the Kubernetes twin when the test failed", diagnosis(twin)))
