"""The `runner` command line: this module only dispatches to one module per verb (group) and turns errors
into one line and an exit code: 0 success, 1 a run or job failed, 2 bad input (one line naming the field;
nothing was done). Platform groups: local, infra, nextflow, ami, image. Analysts' verbs at the root: submit,
status, logs, list, cancel, retry, cost, results, stage.

Verbs load lazily (issue 14.4): `VERBS` names each verb's module and its one-line help, so `runner --help`
lists them without importing any, and a command imports its module (and only its module's imports: boto3 for
the analysts' verbs, never Packer or HCL code) when it runs or shows its own help.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from runner.core import console, failures
from runner.core.console import escape
from runner.core.errors import RunFailed, RunnerError, UsageError


@dataclass(frozen=True)
class Verb:
    module: str  # runner.cli.<module>
    attr: str  # a function (a command) or a typer.Typer (a group) in that module
    help: str  # the one line `runner --help` shows; tests/unit/test_cli_imports.py holds it to the real help


VERBS: dict[str, Verb] = {
    "submit": Verb(
        "submit",
        "submit",
        "Submit one job, or one array job per up to 10,000 sample-sheet rows (idempotent by run name).",
    ),
    "status": Verb(
        "status",
        "status",
        "Counts by status, failed indices with their reasons; exit 1 when any job failed. While it watches, rows "
        "that spot keeps failing move to the on-demand queue.",
    ),
    "logs": Verb("logs", "logs", "Print a job's CloudWatch log stream (RUN[:INDEX] works for a one-job run)."),
    "list": Verb("list_runs", "list_runs", "This env's runs with their jobs and counts, newest first."),
    "cancel": Verb("cancel", "cancel", "Cancel the run's queued jobs and terminate its running ones."),
    "retry": Verb(
        "retry",
        "retry",
        "Resubmit only the failed rows of a run as a new array job, linked in the run record; `--on-demand` moves "
        "rows to the on-demand queue. A Nextflow run is resumed instead (nextflow -resume).",
    ),
    "cost": Verb(
        "cost",
        "cost",
        "What a run cost: per attempt, per sample and in total, the share spent on failed or reclaimed attempts, "
        "and the price source of every number.",
    ),
    "results": Verb(
        "results",
        "results",
        "List what a run wrote under s3://<results bucket>/RUN/, per sample (jobs write to $RUNNER_RESULTS_URI).",
    ),
    "stage": Verb(
        "stage",
        "stage_command",
        "Upload files or folders to the env's data bucket (content-addressed: unchanged content is never re-sent).",
    ),
    "env": Verb("env", "app", "Envs in your user config: use the platform without a checkout."),
    "local": Verb("local", "app", "The embedded AWS emulator (moto) on 127.0.0.1."),
    "infra": Verb("infra", "app", "Terraform for one environment: envs/NAME."),
    "nextflow": Verb("nextflow", "app", "Nextflow pipelines on the env's AWS Batch queues."),
    "ami": Verb("ami", "app", "The compute AMI: build it with Packer, list and prune this project's images."),
    "image": Verb("image", "app", "Pipeline images in the env's ECR repositories."),
}


def load(name: str) -> Any:
    """The real click command of one verb: its module imported now."""
    verb = VERBS[name]
    target = getattr(importlib.import_module(f"runner.cli.{verb.module}"), verb.attr)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyVerbs(TyperGroup):
    """The root group: lists `VERBS` from the table (placeholders that carry only the help line) and imports a
    verb's module when the command line resolves to it."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in VERBS:
            return self.commands.get(cmd_name)
        return _Placeholder(name=cmd_name, help=VERBS[cmd_name].help)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in VERBS and args[0] not in self.commands:
            self.commands[args[0]] = load(args[0])
        if args and args[0] not in VERBS:  # typo suggestions look at self.commands: offer every verb
            for name in VERBS:
                self.commands.setdefault(name, _Placeholder(name=name, help=VERBS[name].help))
        return super().resolve_command(ctx, args)


class _Placeholder(typer.core.TyperCommand):
    """A verb not loaded: enough for a help listing and for suggestions, never run."""


app = typer.Typer(
    cls=LazyVerbs,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, powershell)
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from runner.core.version import describe

        print(describe())
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the runner's version and exit."
    ),
) -> None:
    """Run the batch-pipeline platform: emulator, infrastructure, AMIs and analysts' jobs."""


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
