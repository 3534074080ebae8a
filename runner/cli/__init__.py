"""The `runner` command line: a thin layer that parses arguments, calls the library and prints.

One module per command group; each defines a typer app (or commands) that is registered here.
Exit codes: 0 success, 1 a run or job failed, 2 bad input (one line naming the field; nothing was done).
"""

from __future__ import annotations

import sys

import click
import typer
from rich.markup import escape

from runner.cli import ami, infra, jobs, local, stage
from runner.cli import nextflow as nextflow_cli
from runner.core import console
from runner.core.errors import RunnerError

app = typer.Typer(
    help="Run the batch-pipeline platform: emulator, infrastructure, AMIs and analysts' jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(local.app, name="local")
app.add_typer(infra.app, name="infra")
app.add_typer(nextflow_cli.app, name="nextflow")
app.add_typer(ami.app, name="ami")
jobs.register(app)  # analysts' commands at the root: submit, status, logs, list, cancel, retry
stage.register(app)  # runner stage PATH... --env E

# Recent typer vendors its own click: its usage errors and aborts are not click's classes. Catch both.
CLICK_ERRORS: tuple[type[Exception], ...] = (click.ClickException,)
ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort)
try:
    from typer._click import exceptions as _vendored_click

    CLICK_ERRORS += (_vendored_click.ClickException,)
except ImportError:  # typer that uses click itself
    pass


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="runner", standalone_mode=False)
    except RunnerError as exc:
        console.err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except CLICK_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except ABORTS:
        console.err.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
