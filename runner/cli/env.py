"""`runner env`: the envs an analyst uses outside a checkout, kept in the user's config (runner.core.userconfig)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.common import JsonOpt
from runner.cli.render import platform as view
from runner.core import userconfig

app = typer.Typer(help="Envs in your user config: use the platform without a checkout.", no_args_is_help=True)

EnvArg = Annotated[str, typer.Argument(metavar="ENV", help="The env's short name (what --env takes).")]


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
    view.user_env(userconfig.add(env, region, name=name, profile=profile, default=default), as_json, "added")


@app.command("list")
def list_envs(as_json: JsonOpt = False) -> None:
    """The envs in your user config."""
    view.user_envs(userconfig.listing(), as_json)


@app.command("remove")
def remove(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Remove an env from your user config."""
    view.user_env(userconfig.remove(env), as_json, "removed")


@app.command("default")
def default(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Make ENV the env used when --env is left out."""
    view.user_env(userconfig.set_default(env), as_json, "default")
