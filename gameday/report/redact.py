"""No secret in any artifact: every report file passes through :func:`redact`.

Secrets are the values we know (passed in: the CMS database password, tokens from environment
files) plus anything shaped like a credential assignment (``password=...``, ``token: ...``).
"""

from __future__ import annotations

import re

MASK = "[redacted]"
_ASSIGNMENT = re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key)(\"?\s*[:=]\s*\"?)([^\s\"',&<]+)")


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    for value in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
