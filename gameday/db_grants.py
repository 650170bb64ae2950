"""Whether a database session may run a statement on a table, read from its own grants before a fault
is injected (MariaDB and MySQL ``SHOW GRANTS``): the destroy-content drill refuses, before its undo
record is written, a fault its database user could not commit (its DROP or DELETE would fail after
the record, and the undo would then restore nothing useful)::

    table = schema.base_table                       # gameday.content: the drill's table
    holds(["GRANT SELECT, DELETE ON `sps`.* TO `sps`@`%`"], "DROP", "sps", table)   # False
    holds(["GRANT ALL PRIVILEGES ON `sps`.* TO `sps`@`%`"], "DROP", "sps", table)   # True
    session_holds(cur, "DROP", "sps", table)        # (holds, "'sps'@'%'"), the session's own grants

``holds`` answers False only when no line gives the privilege and every line was read; None when
none gives it but some line cannot be read for it: a role granted (MySQL lists a role's privileges
only with ``SHOW GRANTS ... USING``), a ``REVOKE`` line (MySQL's partial revokes), or a line it does
not know. Only False is a refusal, so an unusual grant never blocks a drill the server would allow;
where True or None is wrong (a partial revoke, a name whose case the server tells apart: names are
compared without regard to case), the server has the last word, as before the check.
"""

from __future__ import annotations

import re

import pymysql

_GRANT = re.compile(r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<what>.+?)\s+TO\s+", re.I | re.S)
_NAME = r"(?:`(?:[^`]|``)*`|[^.`\s]+)"
_TARGET = re.compile(rf"^(?:TABLE\s+)?(?P<db>{_NAME}|\*)\.(?P<table>{_NAME}|\*)$|^(?P<current>\*)$", re.I)
_NOT_TABLES = re.compile(r"^(?:PROCEDURE|FUNCTION|PACKAGE(?:\s+BODY)?)\s", re.I)
_ALL = {"ALL", "ALL PRIVILEGES"}


def _unquote(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _privileges(text: str) -> set[str]:
    """``SELECT (`a`), DROP, ALL PRIVILEGES`` -> ``{"SELECT", "DROP", "ALL PRIVILEGES"}`` (column lists dropped)."""
    found, depth, word = set(), 0, []
    for ch in text + ",":
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            found.add(" ".join("".join(word).split()).upper())
            word = []
        elif depth == 0:
            word.append(ch)
    return found - {""}


def _like(pattern: str, name: str) -> bool:
    """``name`` matches a database-level grant's name, whose ``_`` and ``%`` are wildcards unless escaped."""
    regex, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), name, re.I | re.S) is not None


def holds(grants: list[str], privilege: str, database: str, table: str) -> bool | None:
    """True when a line of ``grants`` (``SHOW GRANTS`` output) gives ``privilege`` on ``database.table``
    (globally, on the database or a pattern matching it, or on the table), False when none does and
    every line was read, None when none does but a line could not be read (see the module docstring)."""
    privilege = privilege.upper()
    unsure = False
    for line in grants:
        text = line.strip()
        if text.upper().startswith("REVOKE"):
            unsure = True
            continue
        match = _GRANT.match(text)
        if match is None:  # a role granted (its privileges may be listed elsewhere, or not at all), or unknown
            unsure = unsure or not text.upper().startswith("SET DEFAULT ROLE")
            continue
        privs = _privileges(match.group("privs"))
        what = match.group("what").strip()
        if privs == {"PROXY"} or _NOT_TABLES.match(what):
            continue
        target = _TARGET.match(what)
        if target is None:
            unsure = True
            continue
        if not (privs & _ALL or privilege in privs):
            continue
        if target.group("current"):
            return True  # the connection's default database: may be this one
        db, tbl = target.group("db"), target.group("table")
        if db == "*":
            return True
        if tbl == "*":
            if _like(_unquote(db), database):
                return True
        elif _unquote(db).lower() == database.lower() and _unquote(tbl).lower() == table.lower():
            return True
    return None if unsure else False


def session_holds(cur, privilege: str, database: str, table: str) -> tuple[bool | None, str]:
    """``(holds(...), the account)`` for the session of the pymysql cursor ``cur``, from its own
    ``SHOW GRANTS`` (which a session may always read) and ``CURRENT_USER()`` (``'sps'@'%'``). None when
    the server would not say either."""
    try:
        cur.execute("SELECT CURRENT_USER()")
        user, _, host = str(cur.fetchone()[0]).rpartition("@")
        cur.execute("SHOW GRANTS")
        grants = [str(row[0]) for row in cur.fetchall()]
    except pymysql.MySQLError:
        return None, "the database user"
    return holds(grants, privilege, database, table), f"'{user}'@'{host}'"
