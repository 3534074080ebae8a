"""The `runner` command line: a thin layer that parses arguments, calls the library and prints.

Exit codes: 0 success, 1 a run or job failed, 2 bad input (one line naming the field; nothing was done).
"""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from runner import console, local
from runner.errors import RunnerError, UsageError
from runner.infra import Infra
from runner.plan_summary import Summary, render, render_text
from runner.project import project_root, resolve_env, runner_home

app = typer.Typer(
    help="Run the batch-pipeline platform: emulator, infrastructure, AMIs and analysts' jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
local_app = typer.Typer(help="The embedded AWS emulator (moto) on 127.0.0.1.", no_args_is_help=True)
infra_app = typer.Typer(help="Terraform for one environment: envs/NAME.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(infra_app, name="infra")

EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment: a folder under envs/ (default: $ENV).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Apply without asking.")]


# --------------------------------------------------------------------------------------------------------------
# runner local
# --------------------------------------------------------------------------------------------------------------


def _server_dict(info: local.ServerInfo | None) -> dict[str, object]:
    if info is None:
        return {"running": False}
    return {
        "running": info.running,
        "endpoint": info.endpoint,
        "pid": info.pid,
        "port": info.port,
        "log": info.log,
    }


@local_app.command("up")
def local_up(as_json: JsonOpt = False) -> None:
    """Start the emulator in the background (a no-op when it already runs)."""
    home = runner_home(project_root())
    before = local.status(home)
    info = local.up(home)
    if as_json:
        console.print_json(_server_dict(info))
    else:
        state = "already running" if before else "started"
        console.out.print(f"emulator {state}: {info.endpoint} (pid {info.pid})")


@local_app.command("down")
def local_down(as_json: JsonOpt = False) -> None:
    """Stop the emulator this project started."""
    info = local.down(runner_home(project_root()))
    if as_json:
        console.print_json(_server_dict(info) if info else {"running": False, "stopped": None})
    elif info is None:
        console.out.print("emulator not running")
    else:
        console.out.print(f"emulator stopped (pid {info.pid})")


@local_app.command("status")
def local_status(as_json: JsonOpt = False) -> None:
    """Show the emulator's endpoint and pid."""
    info = local.status(runner_home(project_root()))
    if as_json:
        console.print_json(_server_dict(info))
    elif info is None:
        console.out.print("emulator not running")
    else:
        console.out.print(f"emulator running: {info.endpoint} (pid {info.pid}, log {info.log})")


# --------------------------------------------------------------------------------------------------------------
# runner infra
# --------------------------------------------------------------------------------------------------------------


def _infra(env: str | None) -> Infra:
    return Infra(resolve_env(env))


@infra_app.command("init")
def infra_init(env: EnvOpt = None) -> None:
    """terraform init for the env (the other commands run it themselves when needed)."""
    _infra(env).init()


@infra_app.command("plan")
def infra_plan(
    env: EnvOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Summary format: text, json or markdown.")] = "text",
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan the destruction of the env.")] = False,
) -> None:
    """Plan the env, save the plan for apply, and print a summary."""
    if fmt not in ("text", "json", "markdown"):
        raise UsageError(f"--format: '{fmt}' is not one of text, json, markdown")
    infra = _infra(env)
    summary, _record = infra.plan(destroy=destroy)
    console.out.print(render(summary, infra.env.name, fmt), markup=False)


def _confirm(summary: Summary) -> bool:
    console.err.print(render_text(summary, "this env"), markup=False)
    return typer.confirm("Apply these changes?", default=False, err=True)


@infra_app.command("apply")
def infra_apply(env: EnvOpt = None, auto_approve: AutoApprove = False, as_json: JsonOpt = False) -> None:
    """Apply the saved plan when current; otherwise plan and apply (never in a protected env)."""
    infra = _infra(env)
    confirm = _confirm if sys.stdin.isatty() else None
    summary = infra.apply(auto_approve=auto_approve, confirm=confirm)
    if as_json:
        console.print_json({"env": infra.env.name, "applied": summary.to_dict()})
    else:
        console.out.print(
            f"Applied {infra.env.name}: {summary.add} added, {summary.change} changed, {summary.destroy} destroyed."
        )


@infra_app.command("destroy")
def infra_destroy(env: EnvOpt = None, auto_approve: AutoApprove = False) -> None:
    """Destroy everything in the env (refused for protected envs)."""
    infra = _infra(env)
    if not auto_approve and sys.stdin.isatty():
        auto_approve = typer.confirm(f"Destroy every resource of {infra.env.name}?", default=False, err=True)
    infra.destroy(auto_approve=auto_approve)
    console.out.print(f"Destroyed {infra.env.name}.")


@infra_app.command("output")
def infra_output(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Print the env's terraform outputs (--json as terraform gives them)."""
    outputs = _infra(env).output()
    if as_json:
        console.print_json(outputs)
        return
    for name, item in sorted(outputs.items()):
        value = "(sensitive)" if item.get("sensitive") else item.get("value")
        console.out.print(f"{name} = {value}", markup=False)


# --------------------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="runner", standalone_mode=False)
    except RunnerError as exc:
        console.err.print(f"[bold red]error:[/bold red] {exc}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        console.err.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
