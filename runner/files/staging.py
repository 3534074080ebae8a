"""Staging of a sample sheet's files: local paths uploaded to the env's data bucket, ``s3://`` paths checked.

Flow (driven by `runner.runs.submission`: plan, check, apply), everything that can be refused is refused before the
first upload:

1. ``find_paths``: which cells are local files (relative to the sheet's folder, or absolute) and which are
   ``s3://`` URIs. A cell that clearly names a file that is not there is a ``UsageError`` naming the column, the
   row and the path: no AWS call has been made.
2. ``check_s3_uris``: concurrent HEADs; every missing or unreadable object, sorted, in one ``UsageError``.
3. ``stage``: each local file is hashed (SHA-256, streamed in 1 MiB blocks: memory stays bounded whatever the
   size; a hash cache keyed by path, size and mtime skips files hashed before) and uploaded to a
   content-addressed key::

       s3://<data bucket>/staged/<first 32 hex digits of the file's SHA-256>/<file name>

   The full digest is stored in the object's metadata (``x-amz-meta-sha256``). The same content is therefore
   never uploaded twice, whoever staged it and under whatever folder; an analyst finds a file by its name
   (``aws s3 ls --recursive s3://BUCKET/staged/ | grep sample1.fastq.gz``) and the run record keeps the mapping.
   What is already there is found with one LIST of the prefix, read in the background while files are hashed
   (a file waits only until the listing has passed its key), and HEADs for what a capped listing left open.
   Every file is one task (digest, look-up, upload) on a pool of ``workers`` threads (64: against S3's
   20-100 ms a request, concurrency is throughput), so hashing overlaps uploading. Files below
   ``multipart_threshold`` are one PutObject; larger ones are multipart uploads with ``part_size`` parts on a
   pool of their own, each part streamed from the file (never read whole into memory).
4. the sheet's local cells are replaced by their ``s3://`` URIs (``runner.files.sheets.substitute``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from runner.aws.retry import error_code
from runner.core.errors import RunFailed, UsageError

MiB = 1024 * 1024
DEFAULT_PREFIX = "staged/"
MULTIPART_THRESHOLD = 32 * MiB
PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
HASH_BLOCK = 1 * MiB
DEFAULT_WORKERS = 64  # requests in flight: against S3's 20-100 ms per request, concurrency is throughput
CACHE_DIR_VAR = "RUNNER_CACHE_DIR"
CACHE_MAX_ENTRIES = 200_000
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
    hashed: int = 0  # files hashed this time (the others' digests came from the hash cache)
    sent_as_given: set[str] = field(default_factory=set)  # paths as the caller gave them whose content was sent


@dataclass
class _File:
    path: str
    size: int
    mtime_ns: int = 0
    sha256: str = ""
    key: str = ""
    sent: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def staged_key(prefix: str, sha256: str, path: str) -> str:
    return f"{prefix}{sha256[:HASH_DIGITS]}/{os.path.basename(path)}"


def normalise_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


# ---------------------------------------------------------------------------------------------------------------
# The hash cache: (path, size, mtime) -> SHA-256, so unchanged files are not read again
# ---------------------------------------------------------------------------------------------------------------


def default_cache_file() -> Path:
    """``RUNNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/runner``, else ``~/.cache/runner``: one file per machine (the
    files it describes are this machine's), ``sha256.json``."""
    explicit = os.environ.get(CACHE_DIR_VAR)
    if explicit:
        return Path(explicit) / "sha256.json"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runner" / "sha256.json"


class HashCache:
    """Digests of local files keyed by absolute path, valid while size and mtime (ns) are unchanged. A damaged or
    unreadable cache is an empty one; it is written back atomically, only when something was added."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
        self._lock = threading.Lock()
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                if isinstance(data, dict) and isinstance(data.get("files"), dict):
                    self._entries = data["files"]

    def get(self, f: _File) -> str | None:
        entry = self._entries.get(f.path)
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == f.size and entry[1] == f.mtime_ns:
            return str(entry[2])
        return None

    def put(self, f: _File) -> None:
        with self._lock:
            self._entries[f.path] = [f.size, f.mtime_ns, f.sha256]
            self._dirty = True

    def get_all(self) -> dict[str, list[Any]]:
        return dict(self._entries)

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        entries = self._entries
        if len(entries) > CACHE_MAX_ENTRIES:  # keep the newest entries (dicts keep insertion order)
            entries = dict(list(entries.items())[-CACHE_MAX_ENTRIES:])
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": 1, "files": entries}, separators=(",", ":")))
            tmp.replace(self.path)
        self._dirty = False


# ---------------------------------------------------------------------------------------------------------------
# What is already in the bucket: one LIST of the prefix, read while files are being hashed
# ---------------------------------------------------------------------------------------------------------------


class _Listing:
    """The keys under the prefix, page by page in a thread of its own. S3 lists keys in order, so once a page has
    gone past a key, that key's presence is settled and its file need not wait for the rest. After ``max_pages``
    pages (a bucket with far more staged objects than this run has files) the rest is left to HEADs."""

    def __init__(self, s3: Any, bucket: str, prefix: str, max_pages: int) -> None:
        self.s3, self.bucket, self.prefix, self.max_pages = s3, bucket, prefix, max_pages
        self.sizes: dict[str, int] = {}
        self.upto = ""  # the last key listed so far
        self.complete = False  # the whole prefix was listed
        self.finished = False  # no more pages will come (complete, page budget spent, or failed)
        self.error: BaseException | None = None
        self.pages = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="staging-list", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": LIST_PAGE}
        try:
            while True:
                resp = self.s3.list_objects_v2(**kwargs)
                self.pages += 1
                contents = resp.get("Contents", [])
                truncated = bool(resp.get("IsTruncated"))
                with self._cond:
                    for obj in contents:
                        self.sizes[obj["Key"]] = int(obj["Size"])
                    if contents:
                        self.upto = max(self.upto, contents[-1]["Key"])
                    self.complete = not truncated
                    self._cond.notify_all()
                if not truncated or self.pages >= self.max_pages or not resp.get("NextContinuationToken"):
                    break
                kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        except BaseException as exc:  # handed to the files waiting on it
            self.error = exc
        finally:
            with self._cond:
                self.finished = True
                self._cond.notify_all()

    def lookup(self, key: str) -> int | bool | None:
        """The listed size of KEY; False when the listing shows it absent; None when the listing cannot tell."""
        with self._cond:
            self._cond.wait_for(lambda: self.finished or self.complete or key <= self.upto)
            if self.error is not None:
                raise self.error
            if key in self.sizes:
                return self.sizes[key]
            return False if self.complete or key <= self.upto else None

    def join(self) -> None:
        self._thread.join()


def _head_present(s3: Any, bucket: str, f: _File) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=f.key)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    digest = head.get("Metadata", {}).get("sha256")
    return int(head.get("ContentLength", -1)) == f.size and (digest is None or digest == f.sha256)


@dataclass
class _Uploader:
    """One PutObject for a small file; a multipart upload for a large one, its parts on the parts pool (the file
    pool's thread waits for them: parts never wait on anything, so the two pools cannot deadlock)."""

    s3: Any
    bucket: str
    parts_pool: ThreadPoolExecutor
    progress: Progress
    threshold: int  # multipart from this size on
    part_size: int

    def _extra(self, f: _File) -> dict[str, Any]:
        return {"Metadata": {"sha256": f.sha256}, "ContentType": "application/octet-stream"}

    def upload(self, f: _File) -> None:
        if f.size < self.threshold:
            # The digest that names the key goes along as the object's checksum: S3 refuses a body that does not
            # match it, and botocore computes no checksum of its own (one read of the file fewer).
            checksum = base64.b64encode(bytes.fromhex(f.sha256)).decode()
            with FileSlice(f.path, 0, f.size) as body:
                self.s3.put_object(Bucket=self.bucket, Key=f.key, Body=body, ChecksumSHA256=checksum, **self._extra(f))
            self.progress.advance(f.size)
        else:
            self.multipart(f)
        self.progress.file_done(f.path, True)

    def part_size_for(self, size: int) -> int:
        part = max(self.part_size, MIN_PART_SIZE)
        while (size + part - 1) // part > MAX_PARTS:
            part *= 2
        return part

    def multipart(self, f: _File) -> None:
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=f.key, **self._extra(f))["UploadId"]
        part = self.part_size_for(f.size)
        futures: list[Future[dict[str, Any]]] = []
        try:
            for number, offset in enumerate(range(0, f.size, part), start=1):
                length = min(part, f.size - offset)
                futures.append(self.parts_pool.submit(self._part, f, upload_id, number, offset, length))
            parts = [fut.result() for fut in futures]
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=f.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            for fut in futures:
                fut.cancel()
            # best effort; the bucket's lifecycle rule cleans up what is left
            with contextlib.suppress(Exception):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=f.key, UploadId=upload_id)
            raise

    def _part(self, f: _File, upload_id: str, number: int, offset: int, length: int) -> dict[str, Any]:
        with FileSlice(f.path, offset, length) as body:
            resp = self.s3.upload_part(Bucket=self.bucket, Key=f.key, UploadId=upload_id, PartNumber=number, Body=body)
        self.progress.advance(length)
        return {"PartNumber": number, "ETag": resp["ETag"]}


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


def pool_sizes(s3_client: Any, workers: int) -> tuple[int, int]:
    """(file threads, part threads) within the client's connection pool, so that no request waits for a
    connection (or makes urllib3 warn that its pool is full)."""
    config = getattr(getattr(s3_client, "meta", None), "config", None)
    connections = int(getattr(config, "max_pool_connections", 0) or 0) or workers + workers // 8 + 1
    parts = max(2, min(workers // 8, connections // 8))
    files = max(1, min(workers, connections - parts - 1))  # one connection for the listing
    return files, parts


def stage(
    s3_client: Any,
    bucket: str,
    paths: Iterable[str | Path],
    prefix: str = DEFAULT_PREFIX,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
    multipart_threshold: int = MULTIPART_THRESHOLD,
    part_size: int = PART_SIZE,
    cache: HashCache | None = None,
) -> StageReport:
    """Upload local files to content-addressed keys, skipping content already there; see the module docstring.

    Every file is one task: its digest (from ``cache`` when size and mtime are unchanged, else read), its key, a
    look-up in the prefix's listing (running meanwhile), then its upload; so hashing, listing and uploading
    overlap. ``cache`` defaults to the machine's hash cache (``default_cache_file``).
    """
    progress = progress or _Silent()
    prefix = normalise_prefix(prefix)
    files: dict[str, _File] = {}  # resolved path -> file
    given: dict[str, str] = {}  # path as the caller wrote it -> resolved path
    for raw in paths:
        path = os.path.realpath(os.path.expanduser(raw))  # what Path.resolve() gives, without the objects
        given[str(raw)] = path
        if path in files:
            continue
        try:
            st = os.stat(path)
        except OSError as exc:
            raise UsageError(f"local file '{raw}' cannot be read: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"local file '{raw}' is not a regular file")
        files[path] = _File(path, st.st_size, st.st_mtime_ns)
    report = StageReport()
    if not files:
        return report
    cache = cache if cache is not None else HashCache(default_cache_file())
    todo = list(files.values())
    progress.begin(len(todo), sum(f.size for f in todo))
    file_workers, part_workers = pool_sizes(s3_client, workers)
    owners: dict[str, _File] = {}  # key -> the file that uploads it (same name and content: one object)
    lock = threading.Lock()
    listing = _Listing(s3_client, bucket, prefix, max_pages=2 + len(todo) // 250) if len(todo) >= LIST_BELOW else None
    try:
        with (
            ThreadPoolExecutor(max_workers=part_workers, thread_name_prefix="staging-part") as parts_pool,
            ThreadPoolExecutor(max_workers=file_workers, thread_name_prefix="staging") as pool,
            _small_puts_without_expect(s3_client),
        ):
            uploader = _Uploader(s3_client, bucket, parts_pool, progress, multipart_threshold, part_size)

            def claim(f: _File) -> _File:
                """The file's key, and the file that uploads it (the first one with that name and content)."""
                f.key = staged_key(prefix, f.sha256, f.path)
                with lock:
                    return owners.setdefault(f.key, f)

            def settled(f: _File) -> None:
                f.done.set()
                progress.advance(f.size)
                progress.file_done(f.path, False)

            def one(f: _File) -> None:
                if not f.sha256:  # files the hash cache knew arrive with their digest
                    cached = cache.get(f)
                    if cached is None:
                        f.sha256 = sha256_file(f.path)
                        cache.put(f)
                        with lock:
                            report.hashed += 1
                    else:
                        f.sha256 = cached
                owner = claim(f)
                if owner is not f:
                    owner.done.wait()
                    settled(f)
                    return
                try:
                    listed = listing.lookup(f.key) if listing is not None else None
                    # listed: a size (present, unless a broken object of another size), False (absent), None (ask)
                    if listed is None:
                        present = _head_present(s3_client, bucket, f)
                    else:
                        present = listed is not False and listed == f.size
                    if present:
                        settled(f)
                    else:
                        uploader.upload(f)
                        f.sent = True
                finally:
                    f.done.set()

            # Files whose digest the cache knows and whose object the listing shows are settled here, without a
            # task each (a re-stage of unchanged files is one LIST); the rest go to the pool, hashing first.
            known: list[_File] = []
            futures = []
            for f in todo:
                digest = cache.get(f) if listing is not None else None
                if digest is None:
                    futures.append(pool.submit(one, f))
                else:
                    f.sha256 = digest
                    known.append(f)
            try:
                for f in known:
                    if claim(f) is f and listing is not None and listing.lookup(f.key) == f.size:
                        settled(f)
                    else:
                        futures.append(pool.submit(one, f))
                for fut in futures:
                    fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    except (ClientError, BotoCoreError) as exc:
        raise RunFailed(f"staging to s3://{bucket}/{prefix} failed: {exc}") from exc
    finally:
        if listing is not None:
            listing.join()
        cache.save()

    for name, path in given.items():
        report.uris[name] = f"s3://{bucket}/{files[path].key}"
        if files[path].sent:
            report.sent_as_given.add(name)
    for f in todo:
        if f.sent:
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
