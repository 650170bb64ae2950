"""Label selectors, as the environments write them and as Kubernetes objects carry them (pure)::

    text_selector_matches("app.kubernetes.io/name=kafka,!canary", pod_labels)   # kubectl's -l syntax
    equality_selector("app=web")                   # {"app": "web"}: a Service-style selector
    selector_matches({"matchLabels": {"app": "web"}}, pod_labels)              # a LabelSelector object

One parser (:func:`parse_selector`) serves the Kubernetes target (a layer's pods and workloads),
its playbook view and the twin's EndpointSlice controller (:mod:`gameday.kube.endpointslices`).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Term(NamedTuple):
    key: str
    op: str  # "=" | "!=" | "exists" | "!exists"
    value: str | None = None


def parse_selector(text: str) -> list[Term]:
    """A label selector as kubectl takes it (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``; comma means
    and) -> its terms. ValueError names a term without a key. Set-based terms (``a in (x,y)``) are
    not used by the environments and not parsed."""
    terms = []
    for term in (t.strip() for t in text.split(",") if t.strip()):
        if "!=" in term:
            key, value = (x.strip() for x in term.split("!=", 1))
            terms.append(Term(key, "!=", value))
        elif "=" in term:
            key, value = (x.strip() for x in term.replace("==", "=").split("=", 1))
            terms.append(Term(key, "=", value))
        elif term.startswith("!"):
            key = term[1:].strip()
            terms.append(Term(key, "!exists"))
        else:
            key = term
            terms.append(Term(key, "exists"))
        if not key:
            raise ValueError(f"label selector {text!r}: {term!r} has no key")
    return terms


def text_selector_matches(text: str, labels: dict[str, str]) -> bool:
    """A selector string (:func:`parse_selector`) against labels: the environments' selectors,
    matched against pods and pod templates."""
    for t in parse_selector(text):
        if t.op == "=" and labels.get(t.key) != t.value:
            return False
        if t.op == "!=" and labels.get(t.key) == t.value:
            return False
        if t.op == "exists" and t.key not in labels:
            return False
        if t.op == "!exists" and t.key in labels:
            return False
    return True


def equality_selector(text: str) -> dict[str, str]:
    """``a=b,c=d`` -> ``{"a": "b", "c": "d"}``, as a Service's ``spec.selector`` holds it. ValueError
    for any other kind of term, or none at all."""
    terms = parse_selector(text)
    odd = [t for t in terms if t.op != "="]
    if odd:
        raise ValueError(f"label selector {text!r}: {odd[0].key!r} is not a key=value term")
    if not terms:
        raise ValueError("label selector is empty")
    return {t.key: str(t.value) for t in terms}


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against a pod's labels. A budget with no
    selector selects nothing; an empty one selects every pod of its namespace (policy/v1)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def template_labels(workload: dict[str, Any]) -> dict[str, str]:
    """The labels of a Deployment's or StatefulSet's pod template."""
    return ((workload["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
