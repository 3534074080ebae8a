"""`runner image`: pipeline images in the env's ECR repositories (runner.registry.push)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import platform as view

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
    session = common.session(env)
    from runner.registry.push import PushRequest, push_image  # the AWS SDK only when a push runs

    view.pushed(push_image(session, PushRequest(local_image=local_image, tag=tag, repository=repository)), as_json)
