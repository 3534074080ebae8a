"""Staging: local files uploaded to the env's data bucket under content-addressed keys, sent at most once.

Each local file is hashed (SHA-256, streamed: `runner.files.hashing`; a hash cache keyed by path, size and mtime
skips files hashed before) and uploaded to::

    s3://<data bucket>/staged/<first 32 hex digits of the file's SHA-256>/<file name>

The full digest is stored in the object's metadata (``x-amz-meta-sha256``). The same content is therefore never
uploaded twice, whoever staged it and under whatever folder; an analyst finds a file by its name (``aws s3 ls
--recursive s3://BUCKET/staged/ | grep sample1.fastq.gz``) and the run record keeps the mapping.

`Stager` does one staging in named steps: `Stager.resolve` (each path resolved and stat'ed once: a missing or
irregular file is refused before any upload), the LIST of the prefix started in the background
(`runner.files.transfer.Listing`: a file waits only until the listing has passed its key; HEADs for what a capped
listing left open), `Stager.schedule` (files whose digest the cache knows and whose object the listing shows are
settled at once: a re-stage of unchanged files is one LIST), then one task per other file on a pool of ``workers``
threads (64: against S3's 20-100 ms a request, concurrency is throughput), so hashing overlaps uploading:
`Stager.digest`, `Stager.claim` (one upload per key), `Stager.present`, then the upload
(`runner.files.transfer.Uploader`: one PutObject below ``multipart_threshold``, else a multipart upload of
``part_size`` parts on a pool of their own, each part streamed from the file). `Stager.report` says what was sent.

Which cells of a sheet name files, and the check of its ``s3://`` ones: `runner.files.paths`; a sheet's files
staged and substituted: `runner.files.sheets.stage_sheet_files`.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.core.errors import RunFailed, UsageError
from runner.files.hashing import HashCache, LocalFile, default_cache_file, sha256_file
from runner.files.transfer import Listing, Progress, Silent, Uploader, head_present, small_puts_without_expect

MiB = 1024 * 1024
DEFAULT_PREFIX = "staged/"
MULTIPART_THRESHOLD = 32 * MiB
PART_SIZE = 16 * MiB
DEFAULT_WORKERS = 64  # requests in flight: against S3's 20-100 ms per request, concurrency is throughput
HASH_DIGITS = 32  # 128 bits of the SHA-256 in the key; the full digest is in the metadata
LIST_BELOW = 16  # with fewer files than this, HEAD each one instead of listing
LIST_PAGE = 1000  # keys per LIST request (S3's maximum)


@dataclass
class StageReport:
    uris: dict[str, str] = field(default_factory=dict)  # local path, as the caller gave it -> s3:// URI
    uploaded: list[str] = field(default_factory=list)  # resolved local paths sent this time
    skipped: list[str] = field(default_factory=list)  # resolved local paths whose content was already there
    bytes_uploaded: int = 0
    multipart: list[str] = field(default_factory=list)  # local paths sent as multipart uploads
    hashed: int = 0  # files hashed this time (the others' digests came from the hash cache)
    sent_as_given: set[str] = field(default_factory=set)  # paths as the caller gave them whose content was sent


def staged_key(prefix: str, sha256: str, path: str) -> str:
    return f"{prefix}{sha256[:HASH_DIGITS]}/{os.path.basename(path)}"


def normalise_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def pool_sizes(s3_client: Any, workers: int) -> tuple[int, int]:
    """(file threads, part threads) within the client's connection pool, so that no request waits for a
    connection (or makes urllib3 warn that its pool is full)."""
    config = getattr(getattr(s3_client, "meta", None), "config", None)
    connections = int(getattr(config, "max_pool_connections", 0) or 0) or workers + workers // 8 + 1
    parts = max(2, min(workers // 8, connections // 8))
    files = max(1, min(workers, connections - parts - 1))  # one connection for the listing
    return files, parts


class Stager:
    """One staging of local files to content-addressed keys under ``prefix`` in ``bucket`` (see the module
    docstring). ``cache`` defaults to the machine's hash cache (`runner.files.hashing.default_cache_file`)."""

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        prefix: str = DEFAULT_PREFIX,
        progress: Progress | None = None,
        workers: int = DEFAULT_WORKERS,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
        cache: HashCache | None = None,
    ) -> None:
        self.s3, self.bucket, self.prefix = s3_client, bucket, normalise_prefix(prefix)
        self.progress = progress or Silent()
        self.workers, self.threshold, self.part_size = workers, multipart_threshold, part_size
        self.given_cache = cache
        self.hashed = 0  # files hashed this time (the others' digests came from the hash cache)
        self._owners: dict[str, LocalFile] = {}  # key -> the file that uploads it (same name and content)
        self._lock = threading.Lock()
        self._listing: Listing | None = None
        self._uploader: Uploader | None = None

    def stage(self, paths: Iterable[str | Path]) -> StageReport:
        """Upload what is not there yet; the report maps each path as given to its ``s3://`` URI."""
        given, files = self.resolve(paths)
        if not files:
            return StageReport()
        self.cache = self.given_cache if self.given_cache is not None else HashCache(default_cache_file())
        todo = list(files.values())
        self.progress.begin(len(todo), sum(f.size for f in todo))
        if len(todo) >= LIST_BELOW:
            self._listing = Listing(self.s3, self.bucket, self.prefix, max_pages=2 + len(todo) // 250, page=LIST_PAGE)
        try:
            self.transfer(todo)
        except (ClientError, BotoCoreError) as exc:
            raise RunFailed(f"staging to s3://{self.bucket}/{self.prefix} failed: {exc}") from exc
        finally:
            if self._listing is not None:
                self._listing.join()
            self.cache.save()
        return self.report(given, files)

    def resolve(self, paths: Iterable[str | Path]) -> tuple[dict[str, str], dict[str, LocalFile]]:
        """(path as the caller wrote it -> resolved path, resolved path -> file): each file stat'ed once; a path
        that cannot be read or is not a regular file is a UsageError, before anything is sent."""
        files: dict[str, LocalFile] = {}
        given: dict[str, str] = {}
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
            files[path] = LocalFile(path, st.st_size, st.st_mtime_ns)
        return given, files

    def transfer(self, todo: list[LocalFile]) -> None:
        """The two pools (files, and the parts of large files) and the uploads, with small PUTs sent at once."""
        file_workers, part_workers = pool_sizes(self.s3, self.workers)
        with (
            ThreadPoolExecutor(max_workers=part_workers, thread_name_prefix="staging-part") as parts_pool,
            ThreadPoolExecutor(max_workers=file_workers, thread_name_prefix="staging") as pool,
            small_puts_without_expect(self.s3),
        ):
            self._uploader = Uploader(self.s3, self.bucket, parts_pool, self.progress, self.threshold, self.part_size)
            self.schedule(todo, pool)

    def schedule(self, todo: list[LocalFile], pool: ThreadPoolExecutor) -> None:
        """Files whose digest the cache knows and whose object the listing shows are settled here, without a task
        each; the rest go to the pool (`one`), hashing first. Waits for every task."""
        futures: list[Future[None]] = []
        try:
            known: list[LocalFile] = []
            for f in todo:
                digest = self.cache.get(f) if self._listing is not None else None
                if digest is None:
                    futures.append(pool.submit(self.one, f))
                else:
                    f.sha256 = digest
                    known.append(f)
            for f in known:
                if self.claim(f) is f and self._listing is not None and self._listing.lookup(f.key) == f.size:
                    self.settled(f)
                else:
                    futures.append(pool.submit(self.one, f))
            for fut in futures:
                fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise

    def one(self, f: LocalFile) -> None:
        """One file's task: its digest, its key, then the upload unless its content is there."""
        self.digest(f)
        owner = self.claim(f)
        if owner is not f:
            owner.done.wait()
            self.settled(f)
            return
        try:
            if self.present(f):
                self.settled(f)
            else:
                assert self._uploader is not None
                self._uploader.upload(f)
                f.sent = True
        finally:
            f.done.set()

    def digest(self, f: LocalFile) -> None:
        """The file's SHA-256: from the hash cache when size and mtime are unchanged, else read."""
        if f.sha256:  # files the hash cache knew arrive with their digest
            return
        cached = self.cache.get(f)
        if cached is not None:
            f.sha256 = cached
            return
        f.sha256 = sha256_file(f.path)
        self.cache.put(f)
        with self._lock:
            self.hashed += 1

    def claim(self, f: LocalFile) -> LocalFile:
        """The file's key, and the file that uploads it (the first one with that name and content)."""
        f.key = staged_key(self.prefix, f.sha256, f.path)
        with self._lock:
            return self._owners.setdefault(f.key, f)

    def present(self, f: LocalFile) -> bool:
        """Whether the key holds this content already: from the listing, else a HEAD."""
        listed = self._listing.lookup(f.key) if self._listing is not None else None
        # listed: a size (present, unless a broken object of another size), False (absent), None (ask)
        if listed is None:
            return head_present(self.s3, self.bucket, f)
        return listed is not False and listed == f.size

    def settled(self, f: LocalFile) -> None:
        """A file whose content is there already."""
        f.done.set()
        self.progress.advance(f.size)
        self.progress.file_done(f.path, False)

    def report(self, given: dict[str, str], files: dict[str, LocalFile]) -> StageReport:
        report = StageReport(hashed=self.hashed)
        for name, path in given.items():
            report.uris[name] = f"s3://{self.bucket}/{files[path].key}"
            if files[path].sent:
                report.sent_as_given.add(name)
        for f in files.values():
            if f.sent:
                report.uploaded.append(f.path)
                report.bytes_uploaded += f.size
                if f.size >= self.threshold:
                    report.multipart.append(f.path)
            else:
                report.skipped.append(f.path)
        return report


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
    """Upload local files to content-addressed keys, skipping content already there (one `Stager`)."""
    stager = Stager(s3_client, bucket, prefix, progress, workers, multipart_threshold, part_size, cache)
    return stager.stage(paths)


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
