"""The `runner` command line: this module only dispatches to one module per verb (group) and turns errors
into one line and an exit code: 0 success, 1 a run or job failed, 2 bad input (one line naming the field;
nothing was done). Platform groups: local, infra, nextflow, ami. Analysts' verbs at the root: submit, status,
logs, list, cancel, retry.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click
import typer
from rich.markup import escape

from runner.cli import (
    ami,
    cancel,
    cost,
    image,
    infra,
    list_runs,
    local,
    logs,
    reclaim,
    results,
    retry,
    stage,
    status,
    submit,
)
from runner.cli import nextflow as nextflow_cli
from runner.core import console, failures
from runner.core.errors import RunFailed, RunnerError, UsageError

app = typer.Typer(
    help="Run the batch-pipeline platform: emulator, infrastructure, AMIs and analysts' jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
local.app.command("reclaim")(reclaim.reclaim)  # runner local reclaim JOB_ID (runner.local.reclaim)
app.add_typer(local.app, name="local")
app.add_typer(infra.app, name="infra")
app.add_typer(nextflow_cli.app, name="nextflow")
app.add_typer(ami.app, name="ami")
app.add_typer(image.app, name="image")
app.command("submit")(submit.submit)
app.command("status")(status.status)
app.command("logs")(logs.logs)
app.command("list")(list_runs.list_runs)
app.command("cancel")(cancel.cancel)
app.command("retry")(retry.retry)
app.command("cost")(cost.cost)
app.command("results")(results.results)
app.command("stage")(stage.stage_command)

# Recent typer vendors its own click: its usage errors and aborts are not click's classes. Catch both.
CLICK_ERRORS: tuple[type[Exception], ...] = (click.ClickException,)
USAGE_ERRORS: tuple[type[Exception], ...] = (click.UsageError,)
ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort)
try:
    from typer._click import exceptions as _vendored_click

    CLICK_ERRORS += (_vendored_click.ClickException,)
    USAGE_ERRORS += (_vendored_click.UsageError,)
except ImportError:  # typer that uses click itself
    pass


def _fail(exc: RunnerError) -> NoReturn:
    console.err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="runner", standalone_mode=False)
    except RunnerError as exc:
        _fail(exc)
    except USAGE_ERRORS as exc:  # a mistyped flag or value: one line, not a usage block
        ctx = getattr(exc, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        _fail(UsageError(" ".join(exc.format_message().split()) + where))  # type: ignore[attr-defined]
    except CLICK_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except ABORTS:
        console.err.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # botocore and the unexpected: one line, never a traceback
        if os.environ.get("RUNNER_DEBUG"):
            raise
        explained = failures.explain(exc)
        _fail(explained or RunFailed(f"unexpected {type(exc).__name__}: {exc} (RUNNER_DEBUG=1 shows the traceback)"))
    sys.exit(code if isinstance(code, int) else 0)
