"""Reading the YAML files users write (environments, suites, targets.yaml, traffic.yaml, platform.yaml):
the one place such a file is opened and parsed, with errors that say what to fix.

    data = read_yaml(Path("targets.yaml"), "targets")         # parsed, or a UsageError
    data = parse_yaml(text_or_bytes, "t.yaml")                 # the same rules for text in hand
    path, data = read_named("default", SUITES, "suite")        # a name in the folder, or a path
    raise unknown_key(key, VALID, where)                       # "unknown key 'limts' -> did you mean 'limits'?"

Every refusal is a :class:`~gameday.errors.UsageError` (exit 2) raised before anything is touched:
a directory or a missing file, more than ``MAX_BYTES``, bytes that are not UTF-8, invalid YAML, a
key given twice in one mapping (YAML would silently keep the last), and any alias (``*name``: the
expansion of a few hundred bytes of aliases can take gigabytes; our files never need one).
Validation of the parsed data is :mod:`gameday.schema`'s job.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.composer import ComposerError

from .errors import UsageError

MAX_BYTES = 1_000_000  # the largest hand-written file here is a few kilobytes
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")  # no '/', no '..', no leading dot
NAME_RULE = "letters, digits, '-', '_' and single dots (no '/', no '..')"


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases and duplicate keys (used only through :func:`parse_yaml`)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, f"an alias (*{event.anchor}) is not allowed here; write the value out",
                                event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base class raises its own error for it
                if duplicate:
                    raise ConstructorError("while reading a mapping", node.start_mark,
                                           f"the key {_short(key)} is given twice; keep one", key_node.start_mark)
        return super().construct_mapping(node, deep)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_yaml(content: str | bytes, source: str) -> Any:
    """Parse one YAML document under the rules above; ``source`` names it in every error."""
    if len(content) > MAX_BYTES:
        raise UsageError(f"{source} is {len(content):,} bytes, more than the {MAX_BYTES:,} a gameday file may have",
                         hint="is this the right file?")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UsageError(f"{source} is not UTF-8 text (byte {err.start} is 0x{content[err.start]:02x})",
                             hint="save the file as UTF-8") from None
    try:
        return yaml.load(content, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{source}: not valid YAML{where}: {err.problem or err.context}",
                         hint="fix the file there; a key may appear once per mapping, and aliases are not allowed") from None
    except yaml.YAMLError as err:
        raise UsageError(f"{source}: not valid YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise UsageError(f"{source}: not valid here: nested too deeply", hint="is this the right file?") from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. a date like 2024-13-45, an int of 5,000 digits
        raise UsageError(f"{source}: not valid YAML: a value cannot be read ({str(err)[:80]})",
                         hint="quote it if it is meant as text") from None


def read_yaml(path: Path, what: str) -> Any:
    """Read and parse the ``what`` file at ``path`` (e.g. ``read_yaml(p, "targets")``) or raise a UsageError."""
    if path.is_dir():
        raise UsageError(f"{what} file {path} is a directory", hint=f"give the path of a {what} YAML file")
    if not path.is_file():
        raise UsageError(f"{what} file {path} does not exist", hint=f"check the path of the {what} file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return parse_yaml(b"x" * (MAX_BYTES + 1), str(path))  # the same message as for text in hand
        content = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {what} file {path}: {err.strerror}") from None
    return parse_yaml(content, str(path))


def check_name(name: str, what: str) -> str:
    """``name`` if it is a safe bare name (it becomes part of a path), else a UsageError."""
    if not NAME.match(name) or len(name) > 100:
        raise UsageError(f"{what} name {name!r} is not a name: use {NAME_RULE}",
                         hint=f"or give the path of a {what} file ending in .yaml")
    return name


def read_named(name_or_path: str | Path, directory: Path, what: str) -> tuple[Path, Any]:
    """``directory/<name>.yaml`` for a bare name (checked: no '/', no '..'), else the path given
    (it ends in .yaml or .yml); parsed, or a UsageError."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
    else:
        path = directory / f"{check_name(text, what)}.yaml"  # a bare name, also one with a dot (gke-staging.example)
    if not path.exists() and not path.is_symlink():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise UsageError(f"no {what} file {path}", hint=f"known: {', '.join(known) or 'none'}")
    return path, read_yaml(path, what)


def unknown_key(key: str, valid: set[str], where: str) -> UsageError:
    """The error for ``key`` not among ``valid`` at ``where``, with the closest valid key as the hint."""
    return UsageError(f"{where}: unknown key {key!r}", hint=closest(key, valid))


def closest(key: Any, valid: set[str] | list[str] | tuple[str, ...]) -> str:
    """``did you mean 'limits'?`` for a typo, else the list of valid keys."""
    close = difflib.get_close_matches(str(key), sorted(valid), n=1)
    return f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(sorted(valid))}"
