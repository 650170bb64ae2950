"""The ``gameday`` command line. One module per command group; only this module maps errors to exit codes.

Exit codes: 0 ok; 1 failed (a verdict or a step failed); 2 bad input; 3 not installed;
4 not running; 130 interrupted.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from ..errors import ExitCode, GamedayError
from ..redact import masked_output
from .load import load
from .cleanup import cleanup
from .coverage import coverage
from .export import export
from .output import console_err
from .playbook import playbook
from .run import run
from .schedule import schedule
from .sandbox import sandbox

EPILOG = """\b
Exit codes: 0 ok, 1 failed, 2 bad input, 3 not installed, 4 not running, 130 interrupted.
Start here: `gameday sandbox up`, then `gameday sandbox status`."""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gameday")
def cli() -> None:
    """Prove the platform recovers any layer, within its targets, losing nothing.

    Runs against a local twin of the platform (the sandbox: real Kafka, OpenSearch, MariaDB,
    HAProxy and web replicas on loopback) or a Kubernetes cluster (GKE, or the twin's own control
    plane as a rehearsal environment).
    """


cli.add_command(sandbox)
cli.add_command(run)
cli.add_command(cleanup)
cli.add_command(load)
cli.add_command(playbook)
cli.add_command(coverage)
cli.add_command(schedule)
cli.add_command(export)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI, turning anticipated errors into one line and an exit code.
    Everything it prints (and logs) has registered secrets masked (:func:`gameday.redact.masked_output`)."""
    with masked_output():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        code = cli.main(args=argv, standalone_mode=False)  # a command's click Exit(code) comes back here
    except GamedayError as err:
        console_err.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)  # a file's keys are not markup
        return err.exit_code
    except click.exceptions.Abort:
        console_err.print("interrupted")
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        console_err.print("interrupted")
        return ExitCode.INTERRUPTED
    except click.ClickException as err:
        err.show()
        return ExitCode.USAGE
    return code if isinstance(code, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
