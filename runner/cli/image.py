"""`runner image`: pipeline images in the env's ECR repositories."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.aws.context import AwsContext
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.project import resolve_env
from runner.infra import outputs
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
    resolved = resolve_env(env)
    target = resolve_target(local_image, outputs.load(resolved).get("ecr_repository_urls") or {}, tag, repository)
    pushed = push(AwsContext(resolved), target, Docker())
    if as_json:
        console.print_json(pushed.to_dict())
        return
    where = "tagged locally and recorded in the emulator's ECR" if pushed.emulator else "pushed"
    console.out.print(f"{pushed.reference}: {where} ({pushed.digest})", markup=False)
