"""No secret value in any file, log, message or process argument: the one place that masks them.

Secret values come from a process-wide registry that whoever reads a secret adds to (the runner's
:func:`gameday.runner.gameday.known_secrets`, the credential resolver), plus any passed in::

    register(password)                           # at the moment a secret is read; never log it
    red = redactor(extra=[db_password])          # the registry + these
    clean = red.data(report)                     # walk dicts/lists/strings, mask before encoding
    red.write_json(out / "summary.json", report) # every writer of the run folder goes through here
    red.tree(run_dir)                            # rewrite files children wrote (journals, logs, load/)
    with masked_output():                        # stdout, stderr and logging of this process
        ...

A value is masked in every form an encoder may have turned it into: raw, JSON (``\\u00e4``, ``\\"``,
``\\ud83d\\ude00``), HTML/XML (``&amp;``, ``&#39;``, ``&#34;``, ``&quot;``), URL (``%C3%A4``, ``+``),
Python ``repr``/``unicode_escape``, YAML double- and single-quoted, shell-quoted, and any two of
these nested (JSON inside HTML, a repr inside JSON...). Hex digits match in either case and a
whitespace run inside a value matches any whitespace run (a wrapped console line, a folded YAML
line). Values shorter than :data:`MIN_LENGTH` are not masked (they would mask ordinary text).
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import shlex
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus

import yaml

__all__ = ["MASK", "MIN_LENGTH", "Redactor", "register", "registered", "redactor", "masked_output",
           "clean_environ", "mask_assignments"]

MASK = "[redacted]"
MIN_LENGTH = 4
_ASSIGNMENT = re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key)(\"?\s*[:=]\s*\"?)([^\s\"',&<]+)")
_HEX_ESCAPE = re.compile(r"(\\u|\\U|\\x|%|&#x)([0-9a-fA-F]+)")

_registry: set[str] = set()
_registry_lock = threading.Lock()


def register(*values: str | None) -> None:
    """Add secret values to the process-wide registry (empty and ``None`` values are ignored).
    Call it where a secret is read, before the value can reach any output."""
    with _registry_lock:
        _registry.update(str(v) for v in values if v)


def registered() -> tuple[str, ...]:
    """The registry's values (for building a :class:`Redactor`; never print them)."""
    with _registry_lock:
        return tuple(_registry)


def mask_assignments(text: str) -> str:
    """Mask anything shaped like a credential assignment (``password=...``, ``token: ...``)."""
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


# ---- the forms a value may take once encoded ---------------------------------------------------
def _json(v: str) -> str:
    return json.dumps(v)[1:-1]


def _json_unicode(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)[1:-1]


def _html(v: str) -> str:
    return html.escape(v, quote=True)  # &quot; &#x27;


def _markup(v: str) -> str:  # Jinja / markupsafe
    return (v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def _xml_attr(v: str) -> str:  # ElementTree attribute values
    return (v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#09;"))


def _xml_text(v: str) -> str:
    return html.escape(v, quote=False)


def _repr(v: str) -> str:
    return repr(v)[1:-1]


def _unicode_escape(v: str) -> str:
    return v.encode("unicode_escape").decode("ascii")


def _yaml_double(v: str) -> str:
    out = yaml.safe_dump(v, default_style='"', width=float("inf"))
    return out[1:out.rindex('"')]


def _yaml_single(v: str) -> str:
    return v.replace("'", "''")


def _shell(v: str) -> str:
    quoted = shlex.quote(v)
    return quoted[1:-1] if quoted.startswith("'") and quoted.endswith("'") else quoted


ENCODERS: tuple[Callable[[str], str], ...] = (
    _json, _json_unicode, _html, _markup, _xml_attr, _xml_text, lambda v: quote(v, safe=""), quote, quote_plus,
    _repr, _unicode_escape, _yaml_double, _yaml_single, _shell)


def forms(value: str) -> set[str]:
    """Every form of ``value`` the redactor masks: raw, each encoding, and each pair of encodings."""
    first = {value} | {enc(value) for enc in ENCODERS}
    out = set(first)
    for form in first:
        out |= {enc(form) for enc in ENCODERS}
    return {f for f in out if f}


def _pattern(form: str) -> str:
    """A regex for ``form``: any whitespace run for a whitespace run, hex digits of an escape
    (``\\u00e4``, ``%C3``, ``&#xe4;``) in either case (encoders differ), the rest literal."""
    parts = []
    for chunk in re.split(r"(\s+)", form):
        if not chunk:
            continue
        if chunk.isspace():
            parts.append(r"\s+")
            continue
        last = 0
        for m in _HEX_ESCAPE.finditer(chunk):
            parts.append(re.escape(chunk[last:m.start()]) + re.escape(m.group(1)))
            parts.append("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in m.group(2)))
            last = m.end()
        parts.append(re.escape(chunk[last:]))
    return "".join(parts)


class Redactor:
    """Masks a fixed set of secret values in text, bytes, data and files. Build one with
    :func:`redactor` (the registry + extra values) unless a test wants exactly its own values."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        values = sorted({str(s) for s in secrets if s and len(str(s)) >= MIN_LENGTH}, key=len, reverse=True)
        all_forms = sorted({f for v in values for f in forms(v)}, key=len, reverse=True)
        self.active = bool(all_forms)
        flexible = [f for f in all_forms if re.search(r"\s", f) or _HEX_ESCAPE.search(f)]
        self._plain = [f for f in all_forms if f not in set(flexible)]
        pattern = "|".join(_pattern(f) for f in flexible)  # longest first, as sorted
        self._spaced = re.compile(pattern) if pattern else None
        self._plain_b = [f.encode() for f in self._plain]
        self._spaced_b = re.compile(pattern.encode()) if pattern else None
        self._mask_b = MASK.encode()

    def text(self, text: str) -> str:
        """``text`` with every form of every secret replaced by :data:`MASK`."""
        if not self.active or not text:
            return text
        for form in self._plain:
            if form in text:
                text = text.replace(form, MASK)
        return self._spaced.sub(MASK, text) if self._spaced is not None else text

    def bytes(self, data: bytes) -> bytes:
        """The same on bytes (files of any content; forms are matched in UTF-8)."""
        if not self.active or not data:
            return data
        for form in self._plain_b:
            if form in data:
                data = data.replace(form, self._mask_b)
        return self._spaced_b.sub(self._mask_b, data) if self._spaced_b is not None else data

    def data(self, obj: Any) -> Any:
        """A copy of ``obj`` (dicts, lists, tuples, strings; keys too) with secrets and credential
        assignments masked in every string: redact the data, then encode it."""
        if isinstance(obj, str):
            return mask_assignments(self.text(obj))
        if isinstance(obj, dict):
            return {self.data(k): self.data(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.data(v) for v in obj) if isinstance(obj, list) else tuple(self.data(v) for v in obj)
        if isinstance(obj, Path):
            return Path(self.text(str(obj)))
        return obj

    # ---- writers: every file of a run folder is written through one of these ----------------
    def write_text(self, path: Path, text: str) -> Path:
        path.write_text(self.text(text), encoding="utf-8")
        return path

    def write_json(self, path: Path, obj: Any, **dumps: Any) -> Path:
        return self.write_text(path, json.dumps(self.data(obj), **{"default": str, **dumps}) + "\n")

    def append_json_line(self, path: Path, obj: Any) -> dict:
        """Append one JSON line (an event log); returns the masked object."""
        clean = self.data(obj)
        line = self.text(json.dumps(clean, default=str)) + "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
        return clean

    def file(self, path: Path) -> bool:
        """Rewrite ``path`` in place when it holds a secret; True when it did."""
        try:
            data = path.read_bytes()
        except OSError:
            return False
        clean = self.bytes(data)
        if clean == data:
            return False
        tmp = path.with_name(path.name + ".redacting")
        tmp.write_bytes(clean)
        os.chmod(tmp, path.stat().st_mode & 0o7777)  # a 0600 log stays 0600
        os.replace(tmp, path)
        return True

    def tree(self, root: Path) -> list[Path]:
        """Rewrite every file under ``root`` that holds a secret (what child processes wrote: chaos
        journals and logs, Locust's files); returns the files rewritten."""
        if not self.active or not root.exists():
            return []
        return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and self.file(p)]


_cache: dict[frozenset[str], Redactor] = {}


def redactor(extra: Iterable[str | None] = ()) -> Redactor:
    """A :class:`Redactor` for the registry plus ``extra`` (cached while neither changes)."""
    key = frozenset(str(s) for s in (*registered(), *extra) if s)
    if key not in _cache:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = Redactor(key)
    return _cache[key]


def clean_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables whose value holds a registered secret: for a child that
    needs no credential (Locust), so none sits in its environment."""
    values = [s for s in registered() if len(s) >= MIN_LENGTH]
    return {k: v for k, v in environ.items() if not any(s in v for s in values)}


# ---- this process's own output ---------------------------------------------------------------
class _MaskedStream:
    """Writes to ``sys.<name>``'s original stream with secrets masked; everything else delegated."""

    def __init__(self, inner: Any):
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redactor().text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _MaskingFilter(logging.Filter):
    """Masks a log record's message (with its arguments merged in) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        red = redactor()
        if red.active:
            record.msg, record.args = red.text(record.getMessage()), None
        return True


@contextlib.contextmanager
def masked_output() -> Iterator[None]:
    """Within the block, everything this process writes to stdout, stderr or through logging has
    registered secrets masked (secrets registered later in the block count too). Used by the CLI."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _MaskedStream(sys.stdout), _MaskedStream(sys.stderr)
    filt = _MaskingFilter()
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(filt)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(filt)
        if isinstance(sys.stdout, _MaskedStream):
            sys.stdout = saved[0]
        if isinstance(sys.stderr, _MaskedStream):
            sys.stderr = saved[1]
