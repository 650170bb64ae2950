"""Reading MariaDB's change log (the binary log) for point-in-time restore: pure functions, no server.

``mariadb-binlog --base64-output=decode-rows`` (run with ``TZ=UTC``) prints each event's header; this
module turns that text into transactions, finds the destructive one (the bad deploy's DELETE, DROP or
TRUNCATE of a table) at or after an incident time, and plans the replay around it::

    txns = parse(text, "binlog.000002")            # [Transaction(gtid="0-1-8", start=2353, end=2922, ...)]
    bad = find_incident(txns, "sps", schema.base_table, since=incident_at)   # schema: gameday.content
    segments = plan_segments(files, ("binlog.000002", 1594), None, [bad.span])
    # [Segment(files=["binlog.000002"], start=1594, stop=2353), Segment(files=[...], start=2922, stop=None)]

and reads the coordinates ``mariadb-dump --master-data=2 --gtid`` writes into a backup
(:func:`dump_coordinates`). Used by :mod:`gameday.sandbox.db_backup`; unit-tested on real tool output.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..errors import GamedayError

_AT = re.compile(r"^# at (\d+)$")
_HEADER = re.compile(r"^#(\d{6}) +(\d{1,2}:\d{2}:\d{2}) server id (\d+) +end_log_pos (\d+) .*?\t(.*)$")
_GTID = re.compile(r"^GTID (\d+-\d+-\d+)")
_TABLE_MAP = re.compile(r"^Table_map: `([^`]+)`\.`([^`]+)` mapped to number (\d+)")
_ROWS = re.compile(r"^(Write|Update|Delete)_rows(?:_v1|_compressed(?:_v1)?)?: table id (\d+)")
_ROW_COUNT = re.compile(r"^# Number of rows: (\d+)$")
_USE = re.compile(r"^use `([^`]+)`/\*!\*/;$")
_TIMESTAMP = re.compile(r"^SET TIMESTAMP=(\d+)(?:\.\d+)?/\*!\*/;$")
_DESTROY = re.compile(r"^\s*(DROP|TRUNCATE)\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?(.+?)(?:/\*.*)?$", re.I | re.S)
_NAME = re.compile(r"`?([A-Za-z0-9_$]+)`?(?:\.`?([A-Za-z0-9_$]+)`?)?")
_DUMP_POS = re.compile(r"^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);", re.M)
_DUMP_GTID = re.compile(r"^-- SET GLOBAL gtid_slave_pos='([^']*)';", re.M)

OPS = {"Write": "insert", "Update": "update", "Delete": "delete"}

# The largest statement (and row) the twin's servers and our replaying clients accept: 1 GB, MariaDB's
# maximum (and a replica's default ``slave_max_allowed_packet``, which its applier already had).
# ``mariadb-binlog`` prints all the row events of one statement as one ``BINLOG '...'`` statement
# (base64: 4/3 of the events), so with the server's default 16 MB a restore could not replay a bulk
# change of more than roughly 12,000 deleted articles in one statement (a 200,000-row DELETE was a
# 253 MB statement: "ERROR 2006: Server has gone away"). Each session takes the server's value when it
# connects (read-only per session), so it is on the members' command line (``members.db``); the
# clients ask for the same with :data:`PACKET_ARGS` (10.11's client sent a 20 MB statement without
# it, but a client's own limit must never be the cap). No timeout needs raising: the client sends a
# statement whole (the server's ``net_read_timeout`` is per read), waits for its result without one,
# and ``net_buffer_length`` is only where buffers start (they grow to ``max_allowed_packet``).
MAX_ALLOWED_PACKET = "1G"
PACKET_ARGS = (f"--max-allowed-packet={MAX_ALLOWED_PACKET}",)  # for mariadb, mariadb-dump (the client's cap)


@dataclass
class Transaction:
    """One GTID event group of the log: where it starts and ends, when, and what it did to which
    tables (``rows``: ``{("sps", <table>): {"delete": 1000}}``; ``statements``: DDL text)."""

    gtid: str
    file: str
    start: int  # offset of its GTID event
    end: int = 0  # end_log_pos of its last event: where the next one starts
    at: float = 0.0  # epoch seconds (the header's, whole seconds, UTC; SET TIMESTAMP's when there is one)
    rows: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    statements: list[tuple[str, str]] = field(default_factory=list)  # (default database, statement)

    @property
    def span(self) -> tuple[str, int, int]:
        """``(file, start, end)``: what :func:`plan_segments` leaves out to skip it."""
        return (self.file, self.start, self.end)

    def destroyed_tables(self) -> list[tuple[str, str]]:
        """``(database, table)`` of every table its DROP TABLE / TRUNCATE statements name."""
        return [name for default_db, sql in self.statements for _, name in _destroyed(default_db, sql)]

    def destroys(self, db: str, table: str) -> str | None:
        """How this transaction destroys ``db.table`` (``"DELETE of 1000 rows"``, ``"DROP TABLE"``,
        ``"TRUNCATE TABLE"``), or None when it does not."""
        for default_db, sql in self.statements:
            for verb, name in _destroyed(default_db, sql):
                if name == (db, table):
                    return f"{verb} TABLE"
        deleted = self.rows.get((db, table), {}).get("delete", 0)
        if deleted:
            return f"DELETE of {deleted} row{'s' if deleted != 1 else ''}"
        return None

    def touched(self, db: str) -> list[str]:
        """Tables of ``db`` whose rows it changed or that it dropped or truncated."""
        return sorted({t for (d, t) in self.rows if d == db} | {t for (d, t) in self.destroyed_tables() if d == db})

    def to_dict(self) -> dict:
        return {"gtid": self.gtid, "file": self.file, "start": self.start, "end": self.end, "at": self.at,
                "rows": {f"{d}.{t}": ops for (d, t), ops in self.rows.items()},
                "statements": [sql for _, sql in self.statements]}


def _destroyed(default_db: str, sql: str) -> list[tuple[str, tuple[str, str]]]:
    """``[(verb, (database, table))]`` a DROP TABLE or TRUNCATE statement names (``default_db``:
    the one its ``use`` chose)."""
    match = _DESTROY.match(sql)
    if not match:
        return []
    found = []
    for name in re.split(r"\s*,\s*", match.group(2).strip()):
        named = _NAME.fullmatch(name.strip())
        if named:
            table = (named.group(1), named.group(2)) if named.group(2) else (default_db, named.group(1))
            found.append((match.group(1).upper(), table))
    return found


def _epoch(day: str, clock: str) -> float:
    """``261203`` + ``20:35:22`` (printed in UTC: the caller runs the tool with ``TZ=UTC``) -> epoch."""
    moment = dt.datetime.strptime(f"{day} {clock}", "%y%m%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def parse(text: str, file: str) -> list[Transaction]:
    """The transactions of one binlog file from ``mariadb-binlog --base64-output=decode-rows`` output
    (``TZ=UTC``; rows not printed: ``-v`` adds nothing needed here). Events before the first GTID
    event (the format description, the GTID list) belong to no transaction and are ignored."""
    txns: list[Transaction] = []
    current: Transaction | None = None
    at_offset = 0
    tables: dict[str, tuple[str, str]] = {}
    pending_rows: tuple[tuple[str, str], str] | None = None
    default_db = ""
    sql: list[str] = []
    in_query = False

    def flush_sql() -> None:
        nonlocal in_query
        if current is not None and in_query:
            text_ = " ".join(s for s in sql if s).strip()
            if text_ and text_.upper() not in ("BEGIN", "COMMIT", "START TRANSACTION"):
                current.statements.append((default_db, text_))
        sql.clear()
        in_query = False

    for line in text.splitlines():
        if m := _AT.match(line):
            at_offset = int(m.group(1))
            continue
        if m := _HEADER.match(line):
            flush_sql()
            when, end_pos, body = _epoch(m.group(1), m.group(2)), int(m.group(4)), m.group(5).strip()
            if g := _GTID.match(body):
                current = Transaction(gtid=g.group(1), file=file, start=at_offset, end=end_pos, at=when)
                txns.append(current)
                pending_rows = None
                continue
            if current is None:
                continue
            if body.startswith("Rotate to") or body.startswith("Stop"):
                continue  # not part of the transaction: the next file continues
            current.end = max(current.end, end_pos)
            if t := _TABLE_MAP.match(body):
                tables[t.group(3)] = (t.group(1), t.group(2))
            elif r := _ROWS.match(body):
                pending_rows = (tables.get(r.group(2), ("?", f"table id {r.group(2)}")), OPS[r.group(1)])
            elif body.startswith("Query"):
                in_query = True
            continue
        if m := _ROW_COUNT.match(line):
            if current is not None and pending_rows is not None:
                name, op = pending_rows
                ops = current.rows.setdefault(name, {})
                ops[op] = ops.get(op, 0) + int(m.group(1))
                pending_rows = None
            continue
        if not in_query or current is None:
            continue
        if u := _USE.match(line):
            default_db = u.group(1)
        elif ts := _TIMESTAMP.match(line):
            current.at = float(ts.group(1))
        elif line.startswith("/*!*/;") or line.startswith("DELIMITER"):
            flush_sql()
        elif line.startswith("SET ") or line.startswith("/*!") or line.startswith("/*M!") or line.startswith("#"):
            continue
        else:
            sql.append(line.removesuffix("/*!*/;").strip())
    flush_sql()
    return txns


def find_incident(txns: list[Transaction], db: str, table: str, *, since: float) -> Transaction | None:
    """The first transaction at or after ``since`` (epoch seconds; the log keeps whole seconds, so
    the second ``since`` falls in counts) that destroys ``db.table``, or None."""
    floor = int(since)
    for txn in txns:
        if txn.at >= floor and txn.destroys(db, table):
            return txn
    return None


@dataclass(frozen=True)
class Segment:
    """One ``mariadb-binlog`` run: ``files`` read in order, from ``start`` in the first file to
    ``stop`` in the last one (None: to its end)."""

    files: tuple[str, ...]
    start: int
    stop: int | None

    def argv(self) -> list[str]:
        """The tool's position options for this segment (the file paths are the caller's)."""
        return [f"--start-position={self.start}"] + ([f"--stop-position={self.stop}"] if self.stop is not None else [])


def plan_segments(files: list[str], start: tuple[str, int], stop: tuple[str, int] | None,
                  skip: list[tuple[str, int, int]]) -> list[Segment]:
    """The replay from ``start`` (file, offset) to ``stop`` (file, offset; None: the end of the last
    file) as segments that leave out every ``skip`` span ``(file, start, end)``. ``files`` are the
    binlog files in order (``SHOW BINARY LOGS``). A span outside the range is ignored; a span naming
    a file not listed is an error."""
    order = {name: i for i, name in enumerate(files)}
    for name in [start[0]] + ([stop[0]] if stop else []) + [s[0] for s in skip]:
        if name not in order:
            raise GamedayError(f"binlog file {name!r} is not in the server's list ({', '.join(files) or 'none'})",
                               hint="it was purged or belongs to another server: restore from a newer backup")

    def key(file: str, pos: int) -> tuple[int, int]:
        return (order[file], pos)

    lo = key(*start)
    hi = key(*stop) if stop else (len(files), 0)
    cuts = sorted((key(f, s), key(f, e)) for f, s, e in skip if key(f, s) >= lo and key(f, e) <= hi)
    segments = []
    cursor = lo
    for cut_start, cut_end in cuts + [(hi, hi)]:
        if cut_start > cursor:
            last = min(cut_start[0], len(files) - 1)
            stop_pos = None if cut_start[0] >= len(files) else cut_start[1]
            segments.append(Segment(tuple(files[cursor[0]:last + 1]), cursor[1], stop_pos))
        cursor = max(cursor, cut_end)
    return segments


def dump_coordinates(head: str, tail: str) -> dict:
    """Where a ``mariadb-dump --master-data=2 --gtid`` backup stands in the change log: ``{"file",
    "position"}`` from its head and ``{"gtid"}`` from its tail (MariaDB prints the GTID position at
    the end). Raises a GamedayError when the head lacks the position (the dump was not taken with
    ``--master-data``, or binary logging is off)."""
    pos = _DUMP_POS.search(head)
    if not pos:
        raise GamedayError("the backup names no binlog position (mariadb-dump --master-data=2 with binary logging on)")
    gtid = _DUMP_GTID.search(tail)
    return {"file": pos.group(1), "position": int(pos.group(2)), "gtid": gtid.group(1) if gtid else None}
