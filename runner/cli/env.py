"""`runner env`: the envs an analyst uses outside a checkout, kept in the user's config (runner.core.userconfig)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.common import JsonOpt
from runner.core import console, userconfig
from runner.core.console import escape

app = typer.Typer(help="Envs in your user config: use the platform without a checkout.", no_args_is_help=True)

EnvArg = Annotated[str, typer.Argument(metavar="ENV", help="The env's short name (what --env takes).")]


def _show(env: userconfig.UserEnv, verb: str) -> None:
    profile = f", profile {env.profile}" if env.profile else ""
    default = " (default)" if env.default else ""
    console.out.print(
        escape(f"{verb} {env.env}{default}: region {env.region}, outputs from SSM {env.parameter}{profile}")
    )


@app.command("add")
def add(
    env: EnvArg,
    region: Annotated[str, typer.Option("--region", help="The env's AWS region, e.g. eu-west-1.")],
    name: Annotated[
        str | None, typer.Option("--name", help="The platform's name prefix (its `name` tfvar; default: ENV).")
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile to use for this env.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default env.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add an env (or replace it): analysts' commands then work with --env ENV from any folder."""
    added = userconfig.add(env, region, name, profile, default)
    if as_json:
        console.print_json(added.to_dict())
    else:
        _show(added, "added")


@app.command("list")
def list_envs(as_json: JsonOpt = False) -> None:
    """The envs in your user config."""
    found = userconfig.envs()
    if as_json:
        console.print_json([e.to_dict() for e in found])
        return
    if not found:
        console.out.print(f"no envs in {escape(str(userconfig.path()))}: runner env add NAME --region R --name PREFIX")
    for env in found:
        _show(env, "-")


@app.command("remove")
def remove(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Remove an env from your user config."""
    gone = userconfig.remove(env)
    if as_json:
        console.print_json(gone.to_dict())
    else:
        _show(gone, "removed")


@app.command("default")
def default(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Make ENV the env used when --env is left out."""
    chosen = userconfig.set_default(env)
    if as_json:
        console.print_json(chosen.to_dict())
    else:
        _show(chosen, "default")
