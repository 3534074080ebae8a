"""`runner infra`: terraform for one environment."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runner.cli.common import AutoApprove, EnvOpt, JsonOpt
from runner.core import console
from runner.core.errors import UsageError
from runner.core.project import project_root, resolve_env

if TYPE_CHECKING:  # terraform code is imported by the commands that run it: `runner --help` stays fast
    from runner.infra.plan_summary import Summary
    from runner.infra.plans import Infra

app = typer.Typer(help="Terraform for one environment: envs/NAME.", no_args_is_help=True)

_KEY = r'(\[(\d+|"[^"]*")\])?'
RESOURCE_ADDRESS = re.compile(
    rf"^(module\.[A-Za-z_][A-Za-z0-9_-]*{_KEY}\.)*(?!module\.)[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*{_KEY}$"
)


def _infra(env: str | None, check_backend: bool = False) -> Infra:
    from runner.infra.bootstrap import backend_ready
    from runner.infra.plans import Infra

    resolved = resolve_env(env)
    return Infra(backend_ready(resolved) if check_backend else resolved)


@app.command("init")
def infra_init(env: EnvOpt = None) -> None:
    """terraform init for the env (the other commands run it themselves when needed)."""
    _infra(env, check_backend=True).init()


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
    if fmt not in ("text", "json", "markdown"):
        raise UsageError(f"--format: '{fmt}' is not one of text, json, markdown")
    for address in replace or []:
        if not RESOURCE_ADDRESS.match(address):
            raise UsageError(f"--replace: '{address}' is not a resource address (e.g. module.m.aws_x.name[\"key\"])")
    from runner.infra.plan_summary import render

    infra = _infra(env, check_backend=True)
    summary, _record = infra.plan(destroy=destroy, extra=tuple(f"-replace={a}" for a in replace or []))
    console.out.print(render(summary, infra.env.name, fmt), markup=False)


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
    named = [opt for opt, given in (("--saved", saved), ("--plan", plan_file), ("--plan-dir", plan_dir)) if given]
    if len(named) > 1:
        raise UsageError(f"{', '.join(named)}: name at most one saved plan")
    infra = _infra(env)
    if plan_dir is not None:
        from runner.infra.gitops import import_reviewed_plan

        import_reviewed_plan(infra, plan_dir)
    elif plan_file is not None:
        infra.use_plan_file(plan_file)
    confirm = _confirm if sys.stdin.isatty() else None
    summary = infra.apply(auto_approve=auto_approve, confirm=confirm, saved=bool(named))
    if as_json:
        console.print_json({"env": infra.env.name, "applied": summary.to_dict()})
    else:
        console.out.print(
            f"Applied {infra.env.name}: {summary.add} added, {summary.change} changed, {summary.destroy} destroyed."
        )


@app.command("destroy")
def infra_destroy(env: EnvOpt = None, auto_approve: AutoApprove = False) -> None:
    """Destroy everything in the env (refused for protected envs)."""
    infra = _infra(env)
    if not auto_approve and sys.stdin.isatty():
        auto_approve = typer.confirm(f"Destroy every resource of {infra.env.name}?", default=False, err=True)
    infra.destroy(auto_approve=auto_approve)
    console.out.print(f"Destroyed {infra.env.name}.")


FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Report format: text, json or markdown.")]


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
    from runner.infra.gitops import affected

    result = affected(project_root(), base, head, skip_emulator=skip_emulator)
    if as_json:
        console.print_json(result.to_dict())
        return
    for name in result.envs:
        console.out.print(name, markup=False)


@app.command("drift")
def infra_drift(env: EnvOpt = None, fmt: FormatOpt = "text") -> None:
    """Plan without saving or locking; exit 0 when nothing would change, 3 on drift (resources named), 1 on error."""
    if fmt not in ("text", "json", "markdown"):
        raise UsageError(f"--format: '{fmt}' is not one of text, json, markdown")
    from runner.infra.gitops import DRIFT_EXIT, check_drift, render_drift

    report = check_drift(_infra(env))
    console.out.print(render_drift(report, fmt), markup=False, soft_wrap=True)
    if report.drifted:
        raise typer.Exit(DRIFT_EXIT)


@app.command("output")
def infra_output(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Print the env's terraform outputs (--json as terraform gives them)."""
    outputs = _infra(env).output()
    if as_json:
        console.print_json(outputs)
        return
    for name, item in sorted(outputs.items()):
        value = "(sensitive)" if item.get("sensitive") else item.get("value")
        console.out.print(f"{name} = {value}", markup=False)


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
    from runner.aws.context import AwsContext
    from runner.infra.bootstrap import bootstrap, validate

    resolved = resolve_env(env)
    validate(resolved, bucket, kms_key)
    result = bootstrap(resolved, AwsContext(resolved), bucket=bucket, kms_key_arn=kms_key)
    if as_json:
        console.print_json(result.to_dict())
        return
    verb = "Created" if result.created else "Checked"
    console.out.print(
        f"{verb} state bucket {result.bucket} ({result.region}): versioned, encrypted, TLS only. "
        f"Wrote {result.backend_config}; next: runner infra plan --env {result.env}",
        markup=False,
    )
