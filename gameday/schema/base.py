"""The strict base model and ``check``: validate parsed YAML, list every problem in one UsageError.

    class Limits(Strict):
        web_max_percent: float = Field(50, ge=0, le=100, description="share of web replicas a fault may take")

    limits = check(Limits, data, "environments/sandbox.yaml", schema="environment")

A model may add ``cross_problems(data)``: checks between keys, run on the raw data so their
problems are listed with pydantic's (a pydantic ``model_validator`` would only run once every
field is valid, so a file would show its problems one round at a time).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

import annotated_types
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import UsageError
from ..yamlfile import closest

MAX_LISTED = 30  # a hopeless file lists this many problems, then says how many more
QUIET = {"credentials", "site_url", "url", "toxiproxy_api", "kubeconfig"}  # never echo what is under these


class Strict(BaseModel):
    """Base of every file model: unknown keys are errors, no type coercion ("5" is not 5), no NaN."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    @classmethod
    def cross_problems(cls, data: Any) -> list["Problem"]:
        """Problems between keys of the raw ``data`` (which may be anything: check its type first)."""
        return []


@dataclass(frozen=True)
class Problem:
    """One line of the message: ``text`` names the key path and what is wrong, ``fix`` what to do."""

    text: str
    fix: str = ""


M = TypeVar("M", bound=BaseModel)


def check(model: type[M], data: Any, source: str, *, schema: str | None = None) -> M:
    """``model`` validated from ``data``, or one UsageError naming ``source`` and listing every problem."""
    problems: list[Problem] = []
    result = None
    try:
        result = model.model_validate(data)
    except ValidationError as err:
        problems += [describe(model, e) for e in err.errors(include_url=False)]
    cross = getattr(model, "cross_problems", None)
    if cross is not None:
        problems += [p for p in cross(data) if p not in problems]
    if problems or result is None:
        raise invalid(problems or [Problem("is not valid")], source, schema)
    return result


def invalid(problems: list[Problem], source: str, schema: str | None = None) -> UsageError:
    """One UsageError for ``problems`` found in ``source`` (one problem: its fix is the hint)."""
    ref = f"the schema is schemas/{schema}.schema.json" if schema else ""
    if len(problems) == 1:
        return UsageError(f"{source}: {problems[0].text}", hint=problems[0].fix or ref or None)
    lines = [f"  - {p.text}" + (f" -> {p.fix}" if p.fix else "") for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    return UsageError(f"{source}: {len(problems)} problems (fix each one, then run again"
                      + (f"; {ref}" if ref else "") + "):\n" + "\n".join(lines))


def path_of(loc: tuple[Any, ...]) -> str:
    """``("limits", "web_max_percent")`` -> ``limits.web_max_percent``; ``("scenarios", 0)`` -> ``scenarios[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else str(part)
    return out


def sentence(path: str, text: str) -> str:
    """``limits.net must be ...`` for a phrase that reads on from the path, else ``path: text``."""
    if not path:
        return text
    return f"{path} {text}" if text.startswith(("is ", "must ", "has ", "needs ")) else f"{path}: {text}"


def describe(model: type[BaseModel], error: dict[str, Any]) -> Problem:
    """One pydantic error as a Problem, in the words the rest of gameday uses."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        holder = _strip(_walk(model, loc[:-1])[2])
        valid = set(_fields(holder)) if _is_model(holder) else set()
        return Problem(sentence(path_of(loc[:-1]), f"unknown key {_short(loc[-1])}"),
                       closest(loc[-1], valid) if valid else "remove it")
    _, info, _ = _walk(model, loc)
    meaning = (info.description or "") if info is not None else ""
    path = path_of(loc)
    shown = "" if any(isinstance(p, str) and p in QUIET for p in loc) else _shown(error.get("input"))
    got = f", not {shown}" if shown else ""
    ctx = error.get("ctx") or {}
    if loc and loc[-1] == "[key]" or kind == "invalid_key":
        return Problem(sentence(path, f"has a key that is not allowed: {error['msg']}"), "keys are text")
    if kind == "missing":
        return Problem(sentence(path, "is missing"), f"add it: {meaning}" if meaning else "add it")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return Problem(sentence(path, f"must be {_range(info, ctx)}{got}"), meaning)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return Problem(sentence(path, f"must be a whole number{got}"), meaning)
    if kind in ("float_type", "float_parsing"):
        return Problem(sentence(path, f"must be a number{got}"), meaning)
    if kind == "finite_number":
        return Problem(sentence(path, "must be a finite number"), meaning)
    if kind in ("bool_type", "bool_parsing"):
        return Problem(sentence(path, f"must be true or false{got}"), meaning)
    if kind == "string_type":
        return Problem(sentence(path, f"must be text{got}"), meaning or "quote it")
    if kind == "string_too_short":
        return Problem(sentence(path, "must not be empty"), meaning)
    if kind == "string_too_long":
        return Problem(sentence(path, f"is longer than {ctx.get('max_length')} characters"), meaning)
    if kind == "string_pattern_mismatch":
        return Problem(sentence(path, f"is not in the right form{got}"), meaning or f"it must match {ctx.get('pattern')}")
    if kind == "literal_error":
        return Problem(sentence(path, f"must be {ctx.get('expected')}{got}"), meaning)
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return Problem(sentence(path, f"must be a mapping (key: value){got}"), meaning)
    if kind in ("list_type", "tuple_type", "set_type"):
        return Problem(sentence(path, f"must be a list{got}"), meaning)
    if kind == "too_short":
        return Problem(sentence(path, f"needs at least {ctx.get('min_length')} item(s)"), meaning)
    if kind == "too_long":
        return Problem(sentence(path, f"has more than {ctx.get('max_length')} items"), meaning)
    message = str(error.get("msg", "is not valid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    fix = ""
    if " -> " in message:
        message, fix = message.split(" -> ", 1)
    return Problem(sentence(path, message), fix or meaning)


def _range(info: Any, ctx: dict[str, Any]) -> str:
    """``between 0 and 1`` / ``a whole number from 0 to 255`` / ``at least 0`` from the field's bounds."""
    bounds: dict[str, Any] = {}
    for item in (info.metadata if info is not None else []):
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                bounds[name] = getattr(item, name)
    bounds = bounds or dict(ctx)
    integer = info is not None and _strip(info.annotation) is int
    low = f"{_num(bounds['ge'])}" if "ge" in bounds else None
    high = f"{_num(bounds['le'])}" if "le" in bounds else None
    if integer and low is not None and high is not None:
        return f"a whole number from {low} to {high}"
    if low is not None and high is not None:
        return f"between {low} and {high}"
    parts = []
    if "ge" in bounds:
        parts.append(f"at least {_num(bounds['ge'])}")
    if "gt" in bounds:
        parts.append(f"more than {_num(bounds['gt'])}")
    if "le" in bounds:
        parts.append(f"at most {_num(bounds['le'])}")
    if "lt" in bounds:
        parts.append(f"less than {_num(bounds['lt'])}")
    return " and ".join(parts) or "in range"


def _num(value: float) -> str:
    """``100000000`` rather than ``1e+08``; ``0.5`` as it is."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _shown(value: Any) -> str:
    """A short rendering of a bad value, or "" when it would be long (its type is named instead)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 24 else f"a number of {len(text)} digits"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else "a long text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _short(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key a file uses (the alias, where there is one)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> Any:
    """``X`` from ``Annotated[X, ...]``, ``X | None`` and ``Optional[X]`` (a few layers deep)."""
    for _ in range(6):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if _is_model(_strip(a))]
            tp = models[0] if models else (args[0] if len(args) == 1 else tp)
            if not models and len(args) != 1:
                return tp
        else:
            return tp
    return tp


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """(the model holding ``loc[-1]``, its FieldInfo, the type at ``loc``), following models, lists, dicts."""
    tp: Any = model
    holder = info = None
    for part in loc:
        tp = _strip(tp)
        if _is_model(tp):
            info = _fields(tp).get(part) if isinstance(part, str) else None
            holder, tp = tp, (info.annotation if info is not None else None)
            continue
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        holder = info = None
        if origin in (list, tuple, set, frozenset) and args:
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1] if part != "[key]" else args[0]
        else:
            tp = None
    return holder, info, tp
