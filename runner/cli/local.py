"""`runner local`: the embedded AWS emulator (runner.infra.emulator), its images (runner.local.images), a project
folder for the local env (runner.local.init) and spot reclamation of a running job (runner.runs.reclaim)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import JsonOpt
from runner.cli.render import platform as view
from runner.cli.render import runs as runs_view
from runner.local import images

app = typer.Typer(help="The embedded AWS emulator (moto) on 127.0.0.1.", no_args_is_help=True)

LocalEnvOpt = Annotated[str, typer.Option("--env", "-e", help="An emulator environment: a folder under envs/.")]


@app.command("up")
def local_up(
    as_json: JsonOpt = False,
    keep_credentials: bool = typer.Option(
        False, "--keep-credentials", help="Keep the env's current credentials (default: new ones on every start)."
    ),
) -> None:
    """Start the emulator in the background (a no-op when it already runs)."""
    from runner.infra import emulator

    view.emulator(emulator.up(keep_credentials=keep_credentials), as_json)


@app.command("down")
def local_down(as_json: JsonOpt = False) -> None:
    """Stop the emulator this project started, and remove the containers a dead one left behind."""
    from runner.infra import emulator

    view.emulator(emulator.down(), as_json)


@app.command("env")
def local_env(as_json: JsonOpt = False) -> None:
    """Print `export` lines that point any AWS client at the running emulator with the env's credentials:
    eval "$(runner local env)"; aws s3 ls"""
    from runner.infra import emulator

    view.emulator_env(emulator.environment(), as_json)


@app.command("status")
def local_status(as_json: JsonOpt = False) -> None:
    """Show the emulator's endpoint and pid."""
    from runner.infra import emulator

    view.emulator(emulator.status(), as_json)


@app.command("init")
def local_init(
    directory: Path = typer.Argument(..., metavar="DIR", help="A new or empty folder for the project files."),
    as_json: JsonOpt = False,
) -> None:
    """Write envs/local, modules and packer into DIR, so `runner infra apply --env local` works there without a
    checkout."""
    from runner.local.init import init

    view.initialised(init(directory), as_json)


image_app = typer.Typer(help="Images for the local Batch, built offline from Debian's packages.", no_args_is_help=True)
app.add_typer(image_app, name="image")


@app.command("reclaim")
def local_reclaim(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="A RUNNING job (or JOB:INDEX array child).")],
    env: LocalEnvOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Reclaim a running job's spot instance: its container is killed and the attempt ends with Batch's
    'Host EC2 (instance i-...) terminated.'; the job's retry strategy decides what follows."""
    from runner.runs import reclaim as use_case

    runs_view.reclaimed(use_case.reclaim(common.session(env), use_case.ReclaimRequest(job_id=job_id)), as_json)


@image_app.command("build")
def image_build(
    name: str = typer.Argument(..., help=f"Recipe: {', '.join(images.RECIPES)}"),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the image matches its recipe"),
    as_json: JsonOpt = False,
) -> None:
    """Build an image from its recipe (skipped when the image already matches the recipe)."""
    view.image_built(images.build(name, force=force), as_json)


@image_app.command("list")
def image_list(as_json: JsonOpt = False) -> None:
    """The recipes and whether the daemon has a current image for each."""
    view.local_images(images.list_images(), as_json)
