"""`runner stage PATH... --env E`: upload files or folders to the env's data bucket and print where they went
(runner.files.stage).

The same code stages a sample sheet's local files on `runner submit` (runner.files.staging): content-addressed keys
(``staged/<sha256[:32]>/<name>``, so nothing is sent twice), one LIST of the prefix, hashing overlapping the
uploads, a hash cache that skips reading unchanged files, multipart for large ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import files as view


def stage_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders: every file under them).")],
    env: EnvOpt = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            help="Requests in flight. AWS answers in 20-100 ms a request: concurrency is throughput.",
        ),
    ] = 64,
    prefix: Annotated[str, typer.Option("--prefix", help="Key prefix in the data bucket.")] = "staged/",
    as_json: JsonOpt = False,
) -> None:
    """Upload files or folders to the env's data bucket (content-addressed: unchanged content is never re-sent)."""
    from runner.files import stage as use_case

    request = use_case.StageRequest(
        paths=paths, concurrency=concurrency, prefix=prefix
    )  # checked before the env is opened
    view.staged(use_case.stage(common.session(env), request), as_json)
