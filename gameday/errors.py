"""One error base class and named exit codes.

Library code raises a subclass of :class:`GamedayError` with a message that names what failed,
where its log is and what to do next. Only the CLI turns errors into exit codes (see
``gameday.cli``), so no user ever sees a traceback for a problem we anticipated.
"""

from __future__ import annotations


class ExitCode:
    """Exit codes shared by every command (documented in ``gameday --help``)."""

    OK = 0
    FAILED = 1  # the thing ran and its verdict is "failed" (or a step failed)
    USAGE = 2  # bad input: fix the command line or a file
    NOT_INSTALLED = 3  # a prerequisite is missing: run `gameday sandbox install`
    NOT_RUNNING = 4  # the sandbox (or a member) is not running
    INTERRUPTED = 130


class GamedayError(Exception):
    """Base of every anticipated failure; ``str(err)`` is a one-line, actionable message."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, log: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log = log

    def __str__(self) -> str:
        parts = [self.message]
        if self.log:
            parts.append(f"(log: {self.log})")
        if self.hint:
            parts.append(f"-> {self.hint}")
        return " ".join(parts)


class UsageError(GamedayError):
    exit_code = ExitCode.USAGE


class NotInstalled(GamedayError):
    exit_code = ExitCode.NOT_INSTALLED


class NotRunning(GamedayError):
    exit_code = ExitCode.NOT_RUNNING


class Refused(GamedayError):
    """An API refused the call for want of rights (HTTP 401/403): the hint names what grants them."""


class DeadlineExceeded(GamedayError):
    """A wait passed its deadline."""


class RegionSetNotRunning(UsageError):
    """The environment names a second region, but no region set runs for it (a sandbox twin started on
    its own): a single-region target, not a broken front. Raised by a target's region methods."""
