"""`runner local`: the embedded AWS emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from runner.cli import reclaim
from runner.cli.common import JsonOpt
from runner.core import console
from runner.core.errors import UsageError
from runner.core.project import runner_home
from runner.local import images
from runner.local import server as local

app = typer.Typer(help="The embedded AWS emulator (moto) on 127.0.0.1.", no_args_is_help=True)


def _server_dict(info: local.ServerInfo | None) -> dict[str, object]:
    if info is None:
        return {"running": False}
    return {
        "running": info.running,
        "endpoint": info.endpoint,
        "pid": info.pid,
        "port": info.port,
        "log": info.log,
        "batch": info.batch,
        "job_endpoint": info.job_endpoint,
        "credentials": str(info.credentials_file),
        "orphans_removed": list(info.orphans),
    }


def _orphans(names: list[str] | tuple[str, ...]) -> None:
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        console.out.print(f"removed {len(names)} container(s) of a dead emulator: {console.escape(shown)}")


def _mode(info: local.ServerInfo) -> str:
    return "docker: jobs run in containers" if info.batch == "docker" else "instant: jobs succeed at submission"


@app.command("up")
def local_up(
    as_json: JsonOpt = False,
    keep_credentials: bool = typer.Option(
        False, "--keep-credentials", help="Keep the env's current credentials (default: new ones on every start)."
    ),
) -> None:
    """Start the emulator in the background (a no-op when it already runs)."""
    home = runner_home()
    before = local.status(home)
    info = local.up(home, keep_credentials=keep_credentials)
    if as_json:
        console.print_json(_server_dict(info))
    else:
        _orphans(info.orphans)
        state = "already running" if before else "started"
        console.out.print(f"emulator {state}: {info.endpoint} (pid {info.pid}, batch {_mode(info)})")


@app.command("down")
def local_down(as_json: JsonOpt = False) -> None:
    """Stop the emulator this project started, and remove the containers a dead one left behind."""
    home = runner_home()
    info = local.down(home)
    orphans = local.remove_orphans(home) if info is None else list(info.orphans)  # e.g. after a kill -9
    if as_json:
        console.print_json(
            _server_dict(info) if info else {"running": False, "stopped": None, "orphans_removed": orphans}
        )
    elif info is None:
        _orphans(orphans)
        console.out.print("emulator not running")
    else:
        _orphans(orphans)
        console.out.print(f"emulator stopped (pid {info.pid})")


@app.command("env")
def local_env(as_json: JsonOpt = False) -> None:
    """Print `export` lines that point any AWS client at the running emulator with the env's credentials:
    eval "$(runner local env)"; aws s3 ls"""
    from runner.core.errors import RunFailed
    from runner.core.project import resolve_env

    info = local.status(runner_home())
    if info is None:
        raise RunFailed("emulator not running: start it with runner local up")
    try:
        region = resolve_env("local").region
    except UsageError:
        region = "us-east-1"
    if as_json:
        console.print_json(local.aws_environment(info, region))
    else:
        sys.stdout.write(local.shell_exports(info, region))


@app.command("status")
def local_status(as_json: JsonOpt = False) -> None:
    """Show the emulator's endpoint and pid."""
    info = local.status(runner_home())
    if as_json:
        console.print_json(_server_dict(info))
    elif info is None:
        console.out.print("emulator not running")
    else:
        console.out.print(f"emulator running: {info.endpoint} (pid {info.pid}, batch {_mode(info)}, log {info.log})")


@app.command("init")
def local_init(
    directory: Path = typer.Argument(..., metavar="DIR", help="A new or empty folder for the project files."),
    as_json: JsonOpt = False,
) -> None:
    """Write envs/local, modules and packer into DIR, so `runner infra apply --env local` works there without a
    checkout."""
    from runner.local.init import init

    result = init(directory)
    if as_json:
        console.print_json(result.to_dict())
    else:
        console.out.print(
            f"wrote {', '.join(result.written)} into {result.root}: cd there and run runner infra apply --env local"
        )


image_app = typer.Typer(help="Images for the local Batch, built offline from Debian's packages.", no_args_is_help=True)
app.add_typer(image_app, name="image")
app.command("reclaim")(reclaim.reclaim)  # runner local reclaim JOB_ID (runner.local.reclaim)


@image_app.command("build")
def image_build(
    name: str = typer.Argument(..., help=f"Recipe: {', '.join(images.RECIPES)}"),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the image matches its recipe"),
    as_json: JsonOpt = False,
) -> None:
    """Build an image from its recipe (skipped when the image already matches the recipe)."""
    result = images.build(name, force=force)
    if as_json:
        console.print_json(result.to_dict())
    elif result.built:
        console.out.print(f"built {result.image} (recipe {result.recipe_hash}) in {result.seconds:.0f}s")
    else:
        console.out.print(f"{result.image} is current (recipe {result.recipe_hash}): nothing to build")


@image_app.command("list")
def image_list(as_json: JsonOpt = False) -> None:
    """The recipes and whether the daemon has a current image for each."""
    states = images.list_images()
    if as_json:
        console.print_json([s.to_dict() for s in states])
        return
    for s in states:
        mark = "current" if s.current else ("stale" if s.built_hash else "missing")
        console.out.print(f"{s.name:<6} {s.image:<32} {mark:<8} {images.RECIPES[s.name].description}")
