"""`runner image`: pipeline images in the env's ECR repositories."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.common import EnvOpt, JsonOpt, session
from runner.core import console
from runner.registry.push import Docker, push, resolve_target

app = typer.Typer(help="Pipeline images in the env's ECR repositories.", no_args_is_help=True)


@app.command("push")
def image_push(
    local_image: Annotated[str, typer.Argument(metavar="LOCAL_IMAGE", help="A local Docker image (name:tag or id).")],
    env: EnvOpt = None,
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="Tag to push under (default: the image's own).")
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", "-r", help="Repository key (default: the env's only one).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tag LOCAL_IMAGE and push it to the env's repository; an existing (immutable) tag is refused."""
    opened = session(env)
    target = resolve_target(local_image, opened.outputs.require("ecr_repository_urls"), tag, repository)
    pushed = push(opened.aws, target, Docker())
    if as_json:
        console.print_json(pushed.to_dict())
        return
    where = "tagged locally and recorded in the emulator's ECR" if pushed.emulator else "pushed"
    console.out.print(f"{pushed.reference}: {where} ({pushed.digest})", markup=False)
