"""`runner stage PATH...`: files or folders uploaded to the env's data bucket (`runner.files.staging`: content-addressed
keys, so unchanged content is never re-sent), and where each went.

Folders are listed from their directory entries (no stat() per file; links to folders are not followed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.core.errors import UsageError
from runner.files import staging

if TYPE_CHECKING:
    from runner.session import Session

MAX_CONCURRENCY = 512


@dataclass(frozen=True)
class StageRequest:
    """Checked when made (the files named are found then): bad input is one line, before the env is opened."""

    paths: list[Path]  # files, and folders (every file under them)
    concurrency: int = staging.DEFAULT_WORKERS  # requests in flight
    prefix: str = staging.DEFAULT_PREFIX  # key prefix in the data bucket
    files: list[str] = field(default_factory=list, init=False)  # every file, each once, in the order named

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"--concurrency: {self.concurrency} is outside 1-{MAX_CONCURRENCY}")
        if self.prefix.startswith("/") or ".." in self.prefix.split("/"):
            raise UsageError(f"--prefix: '{self.prefix}' must be a relative key prefix such as staged/")
        object.__setattr__(self, "files", expand(self.paths))


@dataclass
class Staged:
    env: str
    bucket: str
    prefix: str
    files: list[str]  # as named (expanded)
    report: staging.StageReport

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "env": self.env,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "files": [{"path": p, "uri": report.uris[p], "uploaded": p in report.sent_as_given} for p in self.files],
            "uploaded": len(report.uploaded),
            "skipped": len(report.skipped),
            "bytes_uploaded": report.bytes_uploaded,
            "multipart": len(report.multipart),
            "hashed": report.hashed,
        }


def stage(session: Session, request: StageRequest) -> Staged:
    """One S3 client with a connection for every request in flight (`staging.pool_sizes`), then one `Stager`."""
    from botocore.config import Config

    from runner.aws.retry import CLIENT_CONFIG

    bucket = session.outputs.data_bucket
    if not bucket:
        raise UsageError(f"--env: '{session.name}' has no data bucket in its outputs; apply it first")
    files_threads, part_threads = staging.pool_sizes(None, request.concurrency)
    config = CLIENT_CONFIG.merge(Config(max_pool_connections=files_threads + part_threads + 1))
    s3 = session.aws.client("s3", config=config, name="s3-stage")
    report = staging.stage(s3, bucket, request.files, prefix=request.prefix, workers=request.concurrency)
    return Staged(session.name, bucket, staging.normalise_prefix(request.prefix), request.files, report)


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
