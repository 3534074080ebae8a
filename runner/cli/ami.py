"""`runner ami`: the compute AMI of one environment: Packer build, validate, list, prune (runner.ami.commands)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import platform as view

app = typer.Typer(
    help="The compute AMI: build it with Packer, list and prune this project's images.", no_args_is_help=True
)


@app.command("build")
def ami_build(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Build the env's AMI with Packer and write its id to envs/NAME/ami.auto.tfvars.json."""
    from runner.ami import commands

    view.ami_built(commands.build(env, notice=view.ami_notice), as_json)


@app.command("validate")
def ami_validate(env: EnvOpt = None) -> None:
    """`packer validate` of packer/batch-ami.pkr.hcl with the env's settings (no AWS call)."""
    from runner.ami import commands

    view.ami_valid(commands.validate(env))


@app.command("list")
def ami_list(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """This project's AMIs for the env, newest first, with the launch templates that use them."""
    from runner.ami import commands

    view.amis(commands.list_images(env), as_json)


@app.command("prune")
def ami_prune(
    keep: Annotated[int, typer.Option("--keep", help="How many of the newest AMIs to keep (at least 1).")],
    env: EnvOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed; remove nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Deregister all but the newest N AMIs and delete their snapshots; never one a launch template uses."""
    from runner.ami import commands

    view.pruned(commands.prune(commands.PruneRequest(keep=keep, env=env, dry_run=dry_run)), as_json)
