"""Staging of a sample sheet's files: local paths uploaded to the env's data bucket, ``s3://`` paths checked.

Flow (driven by `runner.jobs.submit`: plan, check, apply), everything that can be refused is refused before the
first upload:

1. ``find_paths``: which cells are local files (relative to the sheet's folder, or absolute) and which are
   ``s3://`` URIs. A cell that clearly names a file that is not there is a ``UsageError`` naming the column, the
   row and the path: no AWS call has been made.
2. ``check_s3_uris``: concurrent HEADs; the first missing object (sorted) is a ``UsageError``.
3. ``stage``: each local file is hashed (SHA-256, streamed in 1 MiB blocks: memory stays bounded whatever
   the size) and uploaded to a content-addressed key::

       s3://<data bucket>/staged/<first 32 hex digits of the file's SHA-256>/<file name>

   The full digest is stored in the object's metadata (``x-amz-meta-sha256``). The same content is therefore
   never uploaded twice, whoever staged it and under whatever folder; an analyst finds a file by its name
   (``aws s3 ls --recursive s3://BUCKET/staged/ | grep sample1.fastq.gz``) and the run record keeps the mapping.
   What is already there is found with one LIST page per leading hex digit of the keys (at most 16 requests,
   each covering up to 1,000 keys) and, for files the listing did not settle, a HEAD per file. Files below
   ``multipart_threshold`` are one PutObject; larger ones are multipart uploads with ``part_size`` parts, each
   part streamed from the file (never read whole into memory). Files and parts share one thread pool.
4. the sheet's local cells are replaced by their ``s3://`` URIs (``runner.jobs.sheets.substitute``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from runner.core.errors import RunFailed, UsageError

MiB = 1024 * 1024
DEFAULT_PREFIX = "staged/"
MULTIPART_THRESHOLD = 32 * MiB
PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
HASH_BLOCK = 1 * MiB
DEFAULT_WORKERS = 16
HASH_DIGITS = 32  # 128 bits of the SHA-256 in the key; the full digest is in the metadata
LIST_BELOW = 16  # with fewer files than this, HEAD each one instead of listing
LIST_PAGE = 1000  # keys per LIST request (S3's maximum)
NO_EXPECT_BELOW = 2 * MiB  # small PUTs skip the `Expect: 100-continue` round trip

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


# ---------------------------------------------------------------------------------------------------------------
# Finding the files a sheet names
# ---------------------------------------------------------------------------------------------------------------


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
            if OTHER_URL.match(value) or len(value) > 4096:
                continue
            candidate = Path(value).expanduser()
            resolved = candidate if candidate.is_absolute() else base / candidate
            try:
                is_file, is_dir = resolved.is_file(), resolved.is_dir()
            except OSError:  # a name too long or otherwise unusable as a path: it is data
                continue
            if is_file:
                found.local.append(Cell(index, column, raw, str(resolved.resolve())))
            elif _clearly_path_like(value):
                what = "is a folder, not a file" if is_dir else "does not exist"
                raise UsageError(
                    f"{field_name}: column '{column}', row {index}: local file '{value}' {what} ({resolved})"
                )
    return found


# ---------------------------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------------------------


class Progress(Protocol):
    """What ``stage`` reports: the total once known, then bytes as they are hashed or sent."""

    def begin(self, files: int, total_bytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def file_done(self, path: str, uploaded: bool) -> None: ...


class _Silent:
    def begin(self, files: int, total_bytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self, path: str, uploaded: bool) -> None:
        pass


# ---------------------------------------------------------------------------------------------------------------
# Hashing and streaming bodies
# ---------------------------------------------------------------------------------------------------------------


def sha256_file(path: str | Path, block: int = HASH_BLOCK) -> str:
    """SHA-256 of a file read in fixed blocks: memory stays at one block whatever the file size."""
    digest = hashlib.sha256()
    buf = bytearray(block)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


class FileSlice(io.RawIOBase):
    """A read-only, seekable window on a file (one multipart part), read lazily: botocore can hash it, send it
    and rewind it for a retry without the part ever being held in memory."""

    def __init__(self, path: str, offset: int, length: int, progress: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._offset = offset
        self._length = length
        self._pos = 0
        self._progress = progress

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            new = pos
        elif whence == io.SEEK_CUR:
            new = self._pos + pos
        else:
            new = self._length + pos
        self._pos = max(0, min(new, self._length))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._length - self._pos
        if size is None or size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        self._fh.seek(self._offset + self._pos)
        data = self._fh.read(size)
        self._pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


# ---------------------------------------------------------------------------------------------------------------
# Checking s3:// URIs
# ---------------------------------------------------------------------------------------------------------------


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _split(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        raise UsageError(f"'{uri}' is not a valid s3:// URI")
    return match["bucket"], match["key"]


def _exists(s3: Any, uri: str) -> bool:
    bucket, key = _split(uri)
    try:
        if key == "" or key.endswith("/"):  # a folder: something must be under it
            resp = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
            return bool(resp.get("KeyCount", 0))
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return False
        if _error_code(exc) in ("403", "AccessDenied"):
            raise UsageError(f"s3 object '{uri}' is not readable with the current credentials (403)") from None
        raise


def check_s3_uris(
    s3_client: Any, uris: Iterable[str], workers: int = DEFAULT_WORKERS, where: dict[str, str] | None = None
) -> None:
    """Concurrent HEADs (a LIST of one key for ``s3://bucket/folder/``); the first missing URI, in sorted order,
    raises ``UsageError``. ``where`` optionally maps a URI to the place it came from (``column 'r1', row 3``)."""
    unique = sorted(set(uris))
    if not unique:
        return
    for uri in unique:
        _split(uri)  # malformed URIs are refused before any call
    try:
        with ThreadPoolExecutor(max_workers=min(workers, len(unique))) as pool:
            present = dict(zip(unique, pool.map(lambda u: _exists(s3_client, u), unique), strict=True))
    except (ClientError, BotoCoreError) as exc:
        raise RunFailed(f"checking s3:// paths failed: {exc}") from exc
    for uri in unique:
        if not present[uri]:
            origin = f"{where[uri]}: " if where and uri in where else ""
            raise UsageError(f"{origin}s3 object '{uri}' does not exist")


# ---------------------------------------------------------------------------------------------------------------
# Staging local files
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class StageReport:
    uris: dict[str, str] = field(default_factory=dict)  # local path, as the caller gave it -> s3:// URI
    uploaded: list[str] = field(default_factory=list)  # resolved local paths sent this time
    skipped: list[str] = field(default_factory=list)  # resolved local paths whose content was already there
    bytes_uploaded: int = 0
    multipart: list[str] = field(default_factory=list)  # local paths sent as multipart uploads


@dataclass
class _File:
    path: str
    size: int
    sha256: str = ""
    key: str = ""


def staged_key(prefix: str, sha256: str, path: str) -> str:
    return f"{prefix}{sha256[:HASH_DIGITS]}/{os.path.basename(path)}"


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _listed(s3: Any, bucket: str, prefix: str, files: list[_File], workers: int) -> tuple[set[str], list[_File]]:
    """Keys already present as far as one LIST page per leading hex digit can tell, and the files it left open.

    S3 lists keys in order, so a page that ends at key K settles every file whose key sorts at or before K:
    listed means present, absent means missing. Files beyond a truncated page are HEADed by the caller.
    """
    by_digit: dict[str, list[_File]] = {}
    for f in files:
        by_digit.setdefault(f.sha256[0], []).append(f)

    def page(digit: str) -> tuple[str, dict[str, int], str | None]:
        resp = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{digit}", MaxKeys=LIST_PAGE)
        sizes = {o["Key"]: int(o["Size"]) for o in resp.get("Contents", [])}
        last = max(sizes) if resp.get("IsTruncated") and sizes else None
        return digit, sizes, last

    present: set[str] = set()
    unsettled: list[_File] = []
    with ThreadPoolExecutor(max_workers=min(workers, len(by_digit))) as pool:
        for digit, sizes, last in pool.map(page, sorted(by_digit)):
            for f in by_digit[digit]:
                if f.key in sizes:
                    if sizes[f.key] == f.size:
                        present.add(f.key)
                    # a different size under a content-addressed key: a broken object; upload over it
                elif last is not None and f.key > last:
                    unsettled.append(f)
    return present, unsettled


def _head_present(s3: Any, bucket: str, f: _File) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=f.key)
    except Exception as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    digest = head.get("Metadata", {}).get("sha256")
    return int(head.get("ContentLength", -1)) == f.size and (digest is None or digest == f.sha256)


class _Uploader:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        pool: ThreadPoolExecutor,
        progress: Progress,
        multipart_threshold: int,
        part_size: int,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.pool = pool
        self.progress = progress
        self.threshold = multipart_threshold
        self.part_size = part_size
        self._upload_ids: dict[str, str] = {}

    def _extra(self, f: _File) -> dict[str, Any]:
        return {"Metadata": {"sha256": f.sha256}, "ContentType": "application/octet-stream"}

    def put(self, f: _File) -> None:
        with FileSlice(f.path, 0, f.size) as body:
            self.s3.put_object(Bucket=self.bucket, Key=f.key, Body=body, **self._extra(f))
        self.progress.advance(f.size)
        self.progress.file_done(f.path, True)

    def part_size_for(self, size: int) -> int:
        part = max(self.part_size, MIN_PART_SIZE)
        while (size + part - 1) // part > MAX_PARTS:
            part *= 2
        return part

    def multipart(self, f: _File) -> list[Future[dict[str, Any]]]:
        """Start a multipart upload; its parts go to the shared pool. Completion is ``finish``'s job."""
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=f.key, **self._extra(f))["UploadId"]
        part = self.part_size_for(f.size)
        futures = []
        for number, offset in enumerate(range(0, f.size, part), start=1):
            length = min(part, f.size - offset)
            futures.append(self.pool.submit(self._part, f, upload_id, number, offset, length))
        self._upload_ids[f.key] = upload_id
        return futures

    def _part(self, f: _File, upload_id: str, number: int, offset: int, length: int) -> dict[str, Any]:
        with FileSlice(f.path, offset, length) as body:
            resp = self.s3.upload_part(Bucket=self.bucket, Key=f.key, UploadId=upload_id, PartNumber=number, Body=body)
        self.progress.advance(length)
        return {"PartNumber": number, "ETag": resp["ETag"]}

    def finish(self, f: _File, parts: list[dict[str, Any]]) -> None:
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=f.key,
            UploadId=self._upload_ids[f.key],
            MultipartUpload={"Parts": sorted(parts, key=lambda p: p["PartNumber"])},
        )
        self.progress.file_done(f.path, True)

    def abort(self, f: _File) -> None:
        upload_id = self._upload_ids.get(f.key)
        if upload_id:
            # best effort; the bucket's lifecycle rule cleans up what is left
            with contextlib.suppress(Exception):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=f.key, UploadId=upload_id)


def _drop_expect(request: Any, **_: Any) -> None:
    length = request.headers.get("Content-Length")
    if length is not None and int(length) < NO_EXPECT_BELOW and "Expect" in request.headers:
        del request.headers["Expect"]


@contextmanager
def _small_puts_without_expect(s3_client: Any) -> Iterator[None]:
    """botocore asks for `100-continue` on every PutObject: a full round trip before the body is sent. For a small
    body there is nothing to save by waiting, so staging drops the header for those (large parts keep it)."""
    events = getattr(getattr(s3_client, "meta", None), "events", None)
    if events is None:
        yield
        return
    unique_id = f"runner-staging-no-expect-{id(s3_client)}-{threading.get_ident()}"
    events.register("before-send.s3.PutObject", _drop_expect, unique_id=unique_id)
    try:
        yield
    finally:
        events.unregister("before-send.s3.PutObject", unique_id=unique_id)


def _check_and_upload(
    s3_client: Any,
    bucket: str,
    prefix: str,
    todo: list[_File],
    pool: ThreadPoolExecutor,
    progress: Progress,
    workers: int,
    multipart_threshold: int,
    part_size: int,
) -> list[_File]:
    """Find what is already in the bucket, upload the rest; returns the files uploaded (one per key)."""
    unique: dict[str, _File] = {}
    for f in todo:
        unique.setdefault(f.key, f)  # two paths with the same name and content: one object
    candidates = list(unique.values())
    # 1. what is already there: one LIST page per leading digit, then HEADs for what it left open
    if len(candidates) >= LIST_BELOW:
        present, unsettled = _listed(s3_client, bucket, prefix, candidates, workers)
    else:
        present, unsettled = set(), candidates
    for f, here in zip(unsettled, pool.map(lambda f: _head_present(s3_client, bucket, f), unsettled), strict=True):
        if here:
            present.add(f.key)
    missing = [f for f in candidates if f.key not in present]
    sending = {id(f) for f in missing}
    for f in todo:
        if id(f) not in sending:
            progress.advance(f.size)
            progress.file_done(f.path, False)

    # 2. upload the rest: small files as one PUT, large ones in parts; all on the same pool
    uploader = _Uploader(s3_client, bucket, pool, progress, multipart_threshold, part_size)
    singles = [pool.submit(uploader.put, f) for f in missing if f.size < multipart_threshold]
    large = [f for f in missing if f.size >= multipart_threshold]
    parts: dict[str, list[Future[dict[str, Any]]]] = {}
    try:
        for f in large:
            parts[f.key] = uploader.multipart(f)
        for f in large:
            uploader.finish(f, [fut.result() for fut in parts[f.key]])
        for single in singles:
            single.result()
    except BaseException:
        for single in singles:
            single.cancel()
        for part in (p for ps in parts.values() for p in ps):
            part.cancel()
        for f in large:
            uploader.abort(f)
        raise
    return missing


def stage(
    s3_client: Any,
    bucket: str,
    paths: Iterable[str | Path],
    prefix: str = DEFAULT_PREFIX,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
    multipart_threshold: int = MULTIPART_THRESHOLD,
    part_size: int = PART_SIZE,
) -> StageReport:
    """Upload local files to content-addressed keys, skipping content already there; see the module docstring."""
    progress = progress or _Silent()
    prefix = _normalise_prefix(prefix)
    files: dict[str, _File] = {}  # resolved path -> file
    given: dict[str, str] = {}  # path as the caller wrote it -> resolved path
    for raw in paths:
        path = str(Path(raw).expanduser().resolve())
        given[str(raw)] = path
        if path in files:
            continue
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise UsageError(f"local file '{raw}' cannot be read: {exc.strerror}") from None
        if not Path(path).is_file():
            raise UsageError(f"local file '{raw}' is not a regular file")
        files[path] = _File(path, size)
    report = StageReport()
    if not files:
        return report
    todo = list(files.values())
    total = sum(f.size for f in todo)
    progress.begin(len(todo), total)

    with ThreadPoolExecutor(max_workers=workers) as pool, _small_puts_without_expect(s3_client):
        # 1. hash, in parallel (hashlib releases the GIL on large blocks)
        for f, digest in zip(todo, pool.map(lambda f: sha256_file(f.path), todo), strict=True):
            f.sha256 = digest
            f.key = staged_key(prefix, digest, f.path)

        try:
            missing = _check_and_upload(
                s3_client, bucket, prefix, todo, pool, progress, workers, multipart_threshold, part_size
            )
        except (ClientError, BotoCoreError) as exc:
            raise RunFailed(f"staging to s3://{bucket}/{prefix} failed: {exc}") from exc

    for name, path in given.items():
        report.uris[name] = f"s3://{bucket}/{files[path].key}"
    sent = {id(f) for f in missing}
    for f in todo:
        if id(f) in sent:
            report.uploaded.append(f.path)
            report.bytes_uploaded += f.size
            if f.size >= multipart_threshold:
                report.multipart.append(f.path)
        else:
            report.skipped.append(f.path)
    return report


@contextmanager
def counting_calls(client: Any) -> Iterator[dict[str, int]]:
    """Count the API calls a boto3 client makes (by operation name) while the block runs. Thread-safe."""
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def hook(model: Any, **_: Any) -> None:
        with lock:
            counts[model.name] = counts.get(model.name, 0) + 1

    events = client.meta.events
    events.register("before-call.*.*", hook, unique_id=f"count-{id(counts)}")
    try:
        yield counts
    finally:
        events.unregister("before-call.*.*", unique_id=f"count-{id(counts)}")
