"""`runner infra`: terraform for one environment (runner.infra.commands)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runner.cli.common import AutoApprove, EnvOpt, JsonOpt
from runner.cli.render import platform as view
from runner.core import console

if TYPE_CHECKING:  # terraform code is imported by the commands that run it: `runner --help` stays fast
    from runner.infra.plan_summary import Summary

app = typer.Typer(help="Terraform for one environment: envs/NAME.", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Report format: text, json or markdown.")]


@app.command("init")
def infra_init(env: EnvOpt = None) -> None:
    """terraform init for the env (the other commands run it themselves when needed)."""
    from runner.infra import commands

    commands.init(env)


@app.command("plan")
def infra_plan(
    env: EnvOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Summary format: text, json or markdown.")] = "text",
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan the destruction of the env.")] = False,
    replace: Annotated[
        list[str] | None,
        typer.Option(
            "--replace",
            help="Plan to replace this resource (a terraform address; repeatable), e.g. once when upgrading an env.",
        ),
    ] = None,
) -> None:
    """Plan the env, save the plan for apply, and print a summary."""
    from runner.infra import commands

    request = commands.PlanRequest(env=env, fmt=fmt, destroy=destroy, replace=list(replace or []))
    view.planned(commands.plan(request))


def _confirm(summary: Summary) -> bool:
    from runner.infra.plan_summary import render_text

    console.err.print(render_text(summary, "this env"), markup=False)
    return typer.confirm("Apply these changes?", default=False, err=True)


@app.command("apply")
def infra_apply(
    env: EnvOpt = None,
    auto_approve: AutoApprove = False,
    as_json: JsonOpt = False,
    saved: Annotated[
        bool,
        typer.Option(
            "--saved",
            help="Apply the env's saved plan (from `runner infra plan`) instead of planning afresh; refused when "
            "stale or when the infrastructure changed outside terraform since it was made.",
        ),
    ] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Apply this saved plan (FILE.plan with its record FILE.json beside it), checked as --saved.",
        ),
    ] = None,
    plan_dir: Annotated[
        Path | None,
        typer.Option(
            "--plan-dir",
            help="Apply the reviewed plan in DIR (NAME.plan + NAME.json from CI): refused unless it was made "
            "for this checkout's git tree and is still current. Never plans.",
        ),
    ] = None,
) -> None:
    """Plan afresh and apply; with --saved, --plan or --plan-dir (and always in a protected env) apply a saved
    plan, only while it is current and nothing changed outside terraform since it was made."""
    from runner.infra import commands

    request = commands.ApplyRequest(
        env=env, auto_approve=auto_approve, saved=saved, plan_file=plan_file, plan_dir=plan_dir
    )
    view.applied(commands.apply(request, confirm=_confirm if sys.stdin.isatty() else None), as_json)


def _confirm_destroy(env: str) -> bool:
    return typer.confirm(f"Destroy every resource of {env}?", default=False, err=True)


@app.command("destroy")
def infra_destroy(env: EnvOpt = None, auto_approve: AutoApprove = False) -> None:
    """Destroy everything in the env (refused for protected envs)."""
    from runner.infra import commands

    confirm = _confirm_destroy if sys.stdin.isatty() else None
    view.destroyed(commands.destroy(env, auto_approve, confirm))


@app.command("affected")
def infra_affected(
    base: Annotated[str, typer.Option("--base", help="Git ref the change is compared with (e.g. origin/main).")],
    head: Annotated[str, typer.Option("--head", help="Git ref of the change.")] = "HEAD",
    skip_emulator: Annotated[
        bool, typer.Option("--skip-emulator", help="Leave out emulator envs (envs/local): CI plans real envs only.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the envs whose plan the changes on HEAD since BASE can alter (one per line)."""
    from runner.infra import commands

    view.affected(
        commands.affected(commands.AffectedRequest(base=base, head=head, skip_emulator=skip_emulator)), as_json
    )


@app.command("drift")
def infra_drift(env: EnvOpt = None, fmt: FormatOpt = "text") -> None:
    """Plan without saving or locking; exit 0 when nothing would change, 3 on drift (resources named), 1 on error."""
    from runner.infra import commands

    view.drift(commands.drift(commands.DriftRequest(env=env, fmt=fmt)))


@app.command("output")
def infra_output(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Print the env's terraform outputs (--json as terraform gives them)."""
    from runner.infra import commands

    view.outputs(commands.output(env), as_json)


@app.command("bootstrap")
def infra_bootstrap(
    env: EnvOpt = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="State bucket name (default: <name>-tfstate-<account id>).")
    ] = None,
    kms_key: Annotated[
        str | None, typer.Option("--kms-key", help="KMS key ARN for the state bucket (default: SSE-S3).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create the env's versioned, encrypted, TLS-only state bucket and write envs/NAME/backend.hcl."""
    from runner.infra import commands

    view.bootstrapped(commands.bootstrap(commands.BootstrapRequest(env=env, bucket=bucket, kms_key=kms_key)), as_json)
