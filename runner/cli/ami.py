"""`runner ami`: the compute AMI of one environment (Packer build, list, prune)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console, git
from runner.core.project import resolve_env

if TYPE_CHECKING:  # Packer is imported by the commands that use it: `runner --help` stays fast
    from runner.ami.packer import ImageInfo

app = typer.Typer(
    help="The compute AMI: build it with Packer, list and prune this project's images.", no_args_is_help=True
)


@app.command("build")
def ami_build(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """Build the env's AMI with Packer and write its id to envs/NAME/ami.auto.tfvars.json."""
    from runner.ami.packer import Packer

    packer = Packer(resolve_env(env))
    result = packer.build(
        notice=lambda msg: console.err.print(f"[bold yellow]notice:[/bold yellow] {msg}", soft_wrap=True)
    )
    if as_json:
        console.print_json(result.to_dict())
        return
    console.err.print(f"[dim]{result.name} ({result.region}) -> {result.tfvars}[/dim]", soft_wrap=True)
    console.err.print(f"[dim]next: runner infra plan --env {result.env}[/dim]", soft_wrap=True)
    console.out.print(result.ami_id, markup=False)


@app.command("validate")
def ami_validate(env: EnvOpt = None) -> None:
    """`packer validate` of packer/batch-ami.pkr.hcl with the env's settings (no AWS call)."""
    from runner.ami.packer import Packer

    packer = Packer(resolve_env(env))
    settings, binary, template = packer.prepare()
    packer.validate(settings, binary, template, git.revision(packer.env.root))
    console.out.print(f"{template.relative_to(packer.env.root)} is valid for env {packer.env.name}", markup=False)


_COLUMNS = ("AMI", "name", "built", "git", "state", "in use by")


def _rows(images: list[ImageInfo]) -> list[tuple[str, ...]]:
    return [
        (i.ami_id, i.name, i.build_time or i.created, i.git_sha, i.state, "; ".join(i.in_use_by) or "-") for i in images
    ]


def _print_images(images: list[ImageInfo]) -> None:
    if not console.out.is_terminal:  # piped: plain tab-separated lines, never truncated
        for row in [_COLUMNS, *_rows(images)]:
            console.out.print("\t".join(row), markup=False)
        return
    table = Table(show_header=True, header_style="bold", box=None)
    for column in _COLUMNS:
        table.add_column(column, overflow="fold")
    for row in _rows(images):
        table.add_row(*row)
    console.out.print(table)


@app.command("list")
def ami_list(env: EnvOpt = None, as_json: JsonOpt = False) -> None:
    """This project's AMIs for the env, newest first, with the launch templates that use them."""
    from runner.ami.packer import Images

    images = Images(resolve_env(env)).list_images()
    if as_json:
        console.print_json([i.to_dict() for i in images])
    elif not images:
        console.note("no AMIs of this project for this env")
    else:
        _print_images(images)


@app.command("prune")
def ami_prune(
    keep: Annotated[int, typer.Option("--keep", help="How many of the newest AMIs to keep (at least 1).")],
    env: EnvOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed; remove nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Deregister all but the newest N AMIs and delete their snapshots; never one a launch template uses."""
    from runner.ami.packer import Images

    result = Images(resolve_env(env)).prune(keep, dry_run=dry_run)
    if as_json:
        console.print_json(result.to_dict())
        if result.failed:
            raise typer.Exit(1)
        return
    verb = "would remove" if dry_run else "removed"
    for image in result.protected:
        console.err.print(f"kept {image.ami_id} ({image.name}): in use by {'; '.join(image.in_use_by)}")
    for image in result.deleted:
        snapshots = ", ".join(image.snapshots) or "no snapshots"
        console.out.print(f"{verb} {image.ami_id} ({image.name}) and {snapshots}", markup=False)
    for failure in result.failed:
        console.err.print(f"[red]failed:[/red] {failure}", soft_wrap=True)
    console.out.print(
        f"{result.env}: kept {len(result.kept)} newest, {len(result.protected)} in use; {verb} {len(result.deleted)}.",
        markup=False,
    )
    if result.failed:
        raise typer.Exit(1)
