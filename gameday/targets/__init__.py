"""What a target is (the sandbox twin, a Kubernetes cluster) and how to reach its layers.

Chaos actions, probes and playbooks ask :func:`resolve` for the target of an experiment's
configuration and then speak only the :class:`~gameday.targets.base.Target` interface::

    target = resolve(configuration)          # checks the allow-list
    target.nodes("kafka")                    # [Node(name="kafka-1", labels={...}, ready=True), ...]
    target.kill(node)                        # as a node dies; returns the instant
    target.kafka_bootstrap()                 # same admin code on every target
    target.view("kafka").held                # the playbooks' members, held ones too; target.start_member(...)

One target per environment owns its inventory, faults, member controls, endpoints and credentials:
chaos actions and recovery playbooks ask the same object the same questions.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from . import consent
from .base import Node, Target
from .environment import Environment, from_configuration

PRODUCTION_ENV = consent.ENV  # kept for importers; the rule itself is consent.given


def for_environment(env: Environment, *, i_mean_production: bool = False) -> Target:
    """The target an environment describes, after checking it is allow-listed, that a production
    target was meant (:func:`consent.given`: the ``i_mean_production`` flag, or an explicit yes in
    ``$GAMEDAY_I_MEAN_PRODUCTION`` that a consenting parent exported) and, for
    Kubernetes, that its credentials and kubeconfig context are there. Nothing is touched first."""
    if not env.allowed:
        raise UsageError(f"environment {env.name!r} is not allow-listed for chaos",
                         hint=f"set allowed: true in {env.source or 'its environment file'} if you mean it")
    if env.production and not consent.given(flag=i_mean_production):
        raise UsageError(f"{env.name!r} is a production target; nothing was touched", hint=consent.HINT_CLI)
    if env.kind == "sandbox":
        from .sandbox import SandboxTarget
        return SandboxTarget(env)
    if env.kind == "kubernetes":
        from . import credentials, kubernetes_config
        from .kubernetes import KubernetesTarget
        credentials.check(env.credentials, env.source or env.name)
        kubernetes_config.preflight(dict(env.kubernetes), env.name, env.source or "its environment file")
        return KubernetesTarget(env)
    raise UsageError(f"environment {env.name!r}: targets of kind {env.kind!r} are not supported",
                     hint="kind is sandbox or kubernetes")


def resolve(configuration: dict[str, Any] | None) -> Target:
    return for_environment(from_configuration(configuration))


__all__ = ["Node", "Target", "consent", "resolve", "for_environment"]
