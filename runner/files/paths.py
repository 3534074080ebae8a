"""Which cells of a table name files: local files (to stage) and ``s3://`` objects (to check), and the check that the
``s3://`` ones exist.

``find_paths`` classifies every cell: an existing local file (relative to the sheet's folder, or absolute), a
clearly path-like value (which must exist: a ``UsageError`` naming the column, the row and the path, before any
AWS call), an ``s3://`` URI, or data. ``check_s3_uris``: concurrent HEADs; every missing or unreadable object,
sorted, in one ``UsageError``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.aws.retry import error_code
from runner.core.errors import RunFailed, UsageError

DEFAULT_WORKERS = 64  # HEADs in flight
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.*)$")
OTHER_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# A last path component that looks like a file name with an extension: `reads.fastq.gz`, `ref.fa`, `s1.bam`.
EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9_]{0,11}$")
# Data files named without any folder still count as paths: `sample1.fastq.gz` next to the sheet.
DATA_SUFFIXES = (
    ".fastq", ".fq", ".fastq.gz", ".fq.gz", ".fastq.bz2", ".fq.bz2", ".fastq.zst",
    ".bam", ".bai", ".cram", ".crai", ".sam", ".vcf", ".vcf.gz", ".bcf", ".tbi", ".csi",
    ".bed", ".bed.gz", ".gtf", ".gtf.gz", ".gff", ".gff3", ".gff.gz",
    ".fa", ".fa.gz", ".fasta", ".fasta.gz", ".fna", ".fna.gz", ".2bit", ".dict", ".fai",
    ".h5", ".h5ad", ".loom", ".mtx", ".mtx.gz", ".parquet", ".bw", ".bigwig", ".bedgraph",
    ".csv", ".tsv", ".txt", ".json", ".yaml", ".yml", ".gz", ".bz2", ".zst", ".tar", ".zip",
)  # fmt: skip


@dataclass(frozen=True)
class Cell:
    row: int  # 1-based data row (the header is not counted)
    column: str
    value: str  # as written in the sheet
    path: str  # absolute local path, or the s3:// URI


@dataclass
class SheetFiles:
    """The files one sheet names: local ones (to upload) and s3:// ones (to check)."""

    local: list[Cell] = field(default_factory=list)
    s3: list[Cell] = field(default_factory=list)

    @property
    def local_paths(self) -> list[str]:
        return sorted({c.path for c in self.local})

    @property
    def s3_uris(self) -> list[str]:
        return sorted({c.path for c in self.s3})


def _clearly_path_like(value: str) -> bool:
    """A value nobody would write unless they meant a file (used when the file is not there)."""
    if any(ch in value for ch in "\n\t") or OTHER_URL.match(value):
        return False
    if value.startswith(("/", "./", "../", "~/")):
        return True
    if value.lower().endswith(DATA_SUFFIXES) and " " not in value:
        return True
    return "/" in value and " " not in value and bool(EXTENSION.search(value.rsplit("/", 1)[-1]))


def find_paths(
    rows: Sequence[dict[str, str]],
    base_dir: Path | str = ".",
    skip_columns: Iterable[str] = (),
    field_name: str = "--samples",
) -> SheetFiles:
    """Classify every cell: an existing local file, a clearly path-like value (must exist), an s3:// URI, or data.

    Relative paths are resolved against ``base_dir`` (the sheet's folder), ``~`` against the home folder. A
    path-like value that does not exist, or that is a folder, raises ``UsageError`` naming column, row and path.
    """
    base = Path(base_dir).expanduser().resolve()
    skipped = set(skip_columns)
    found = SheetFiles()
    known: dict[str, str | tuple[Path, bool] | None] = {}
    for index, row in enumerate(rows, start=1):
        for column, raw in row.items():
            if column in skipped or raw is None:
                continue
            value = raw.strip()
            if not value:
                continue
            if value.startswith("s3://"):
                if not S3_URI.match(value) or value.endswith("s3://"):
                    raise UsageError(
                        f"{field_name}: column '{column}', row {index}: '{value}' is not a valid s3:// URI"
                    )
                found.s3.append(Cell(index, column, raw, value))
                continue
            if value not in known:  # a value is looked up once, however many cells hold it
                known[value] = _local_file(value, base)
            kind = known[value]
            if isinstance(kind, str):
                found.local.append(Cell(index, column, raw, kind))
            elif kind is not None and _clearly_path_like(value):
                resolved, is_dir = kind
                what = "is a folder, not a file" if is_dir else "does not exist"
                raise UsageError(
                    f"{field_name}: column '{column}', row {index}: local file '{value}' {what} ({resolved})"
                )
    return found


def _local_file(value: str, base: Path) -> str | tuple[Path, bool] | None:
    """What a cell's value is on this machine: the resolved path of an existing file (str); (path, is a folder)
    when no file is there; None when the value cannot be a path at all (a URL, too long, unusable: it is data).
    One stat() per value."""
    if OTHER_URL.match(value) or len(value) > 4096:
        return None
    candidate = Path(value).expanduser()
    resolved = candidate if candidate.is_absolute() else base / candidate
    try:
        mode = os.stat(resolved).st_mode
    except ValueError:  # an embedded NUL: not a file
        return resolved, False
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return resolved, False
        return None  # a name too long or otherwise unusable as a path: it is data
    if stat.S_ISREG(mode):
        return str(resolved.resolve())
    return resolved, stat.S_ISDIR(mode)


# ---------------------------------------------------------------------------------------------------------------
# Checking s3:// URIs
# ---------------------------------------------------------------------------------------------------------------


def _split(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        raise UsageError(f"'{uri}' is not a valid s3:// URI")
    return match["bucket"], match["key"]


def _problem(s3: Any, uri: str) -> str | None:
    """None when the object (or something under a folder) is there and readable, else what is wrong with it."""
    bucket, key = _split(uri)
    try:
        if key == "" or key.endswith("/"):  # a folder: something must be under it
            resp = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
            return None if resp.get("KeyCount", 0) else "does not exist"
        s3.head_object(Bucket=bucket, Key=key)
        return None
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return "does not exist"
        if error_code(exc) in ("403", "AccessDenied"):
            return "is not readable with the current credentials (403)"
        raise


def check_s3_uris(
    s3_client: Any, uris: Iterable[str], workers: int = DEFAULT_WORKERS, where: dict[str, str] | None = None
) -> None:
    """Concurrent HEADs (a LIST of one key for ``s3://bucket/folder/``); every missing or unreadable URI, in
    sorted order, in one ``UsageError``. ``where`` optionally maps a URI to the place it came from
    (``column 'r1', row 3``)."""
    unique = sorted(set(uris))
    if not unique:
        return
    for uri in unique:
        _split(uri)  # malformed URIs are refused before any call
    try:
        with ThreadPoolExecutor(max_workers=min(workers, len(unique))) as pool:
            problems = dict(zip(unique, pool.map(lambda u: _problem(s3_client, u), unique), strict=True))
    except (ClientError, BotoCoreError) as exc:
        raise RunFailed(f"checking s3:// paths failed: {exc}") from exc
    found = [
        f"{where[uri] + ': ' if where and uri in where else ''}s3 object '{uri}' {problem}"
        for uri, problem in problems.items()
        if problem is not None
    ]
    if len(found) == 1:
        raise UsageError(found[0])
    if found:
        raise UsageError(f"{len(found)} s3:// inputs are missing or unreadable: " + "; ".join(found))
