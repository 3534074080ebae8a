"""`runner stage PATH... --env E`: upload files or folders to the env's data bucket and print where they went.

The same code stages a sample sheet's local files on `runner submit` (runner.files.staging.stage): content-addressed
keys (``staged/<sha256[:32]>/<name>``, so nothing is sent twice), one LIST of the prefix, hashing overlapping the
uploads, a hash cache that skips reading unchanged files, multipart for large ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.errors import UsageError

MAX_CONCURRENCY = 512


def files_under(folder: str) -> list[str]:
    """Regular files (or links to one) anywhere under FOLDER, as os.walk finds them (links to folders are not
    followed), from the directory entries' own types: no stat() per file."""
    found: list[str] = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file():
                    found.append(entry.path)
    return found


def expand(paths: list[Path]) -> list[str]:
    """Files named, and every file under the folders named (sorted), each once; refuses what does not exist."""
    found: dict[str, None] = {}
    for path in paths:
        if path.is_file():
            found.setdefault(str(path), None)
        elif path.is_dir():
            inside = sorted(files_under(str(path)))
            if not inside:
                raise UsageError(f"PATH: folder '{path}' holds no files")
            for name in inside:
                found.setdefault(name, None)
        elif path.exists():
            raise UsageError(f"PATH: '{path}' is neither a file nor a folder")
        else:
            raise UsageError(f"PATH: '{path}' does not exist")
    return list(found)


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
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency: {concurrency} is outside 1-{MAX_CONCURRENCY}")
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise UsageError(f"--prefix: '{prefix}' must be a relative key prefix such as staged/")
    files = expand(paths)

    from botocore.config import Config

    from runner.aws.retry import CLIENT_CONFIG
    from runner.cli import common
    from runner.files import staging

    session = common.session(env)
    bucket = session.outputs.data_bucket
    if not bucket:
        raise UsageError(f"--env: '{session.name}' has no data bucket in its outputs; apply it first")
    files_threads, part_threads = staging.pool_sizes(None, concurrency)
    config = CLIENT_CONFIG.merge(Config(max_pool_connections=files_threads + part_threads + 1))
    s3 = session.aws.client("s3", config=config, name="s3-stage")
    report = staging.stage(s3, bucket, files, prefix=prefix, workers=concurrency)
    if as_json:
        console.print_json(
            {
                "env": session.name,
                "bucket": bucket,
                "prefix": staging.normalise_prefix(prefix),
                "files": [{"path": p, "uri": report.uris[p], "uploaded": p in report.sent_as_given} for p in files],
                "uploaded": len(report.uploaded),
                "skipped": len(report.skipped),
                "bytes_uploaded": report.bytes_uploaded,
                "multipart": len(report.multipart),
                "hashed": report.hashed,
            }
        )
        return
    # Plain `URI<TAB>path` lines (rich would expand the tab): `cut -f1` gives the URIs.
    sys.stdout.write("".join(f"{report.uris[path]}\t{path}\n" for path in files))
    sys.stdout.flush()
    console.err.print(
        f"staged {len(files)} file(s) to s3://{bucket}/{staging.normalise_prefix(prefix)}: "
        f"{len(report.uploaded)} uploaded ({report.bytes_uploaded / 1024 / 1024:,.1f} MiB), "
        f"{len(report.skipped)} already there",
        style="dim",
        markup=False,
        soft_wrap=True,
    )
