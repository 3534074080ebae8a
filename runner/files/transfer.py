"""How staging talks to S3: what is already under the prefix (one LIST, read in a thread of its own while files are
hashed; a HEAD for what a capped listing left open), uploads (one PutObject with its SHA-256 checksum for a small
file; a multipart upload with parts streamed from the file for a large one), and the connection pool they share."""

from __future__ import annotations

import base64
import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from runner.aws.retry import error_code
from runner.files.hashing import LocalFile

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
NO_EXPECT_BELOW = 2 * MiB  # small PUTs skip the `Expect: 100-continue` round trip


class Progress(Protocol):
    """What ``stage`` reports: the total once known, then bytes as they are hashed or sent."""

    def begin(self, files: int, total_bytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def file_done(self, path: str, uploaded: bool) -> None: ...


class Silent:
    def begin(self, files: int, total_bytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self, path: str, uploaded: bool) -> None:
        pass


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


class Listing:
    """The keys under the prefix, ``page`` keys a request, in a thread of its own. S3 lists keys in order, so once a
    page has gone past a key, that key's presence is settled and its file need not wait for the rest. After
    ``max_pages`` pages (a bucket with far more staged objects than this run has files) the rest is left to
    HEADs."""

    def __init__(self, s3: Any, bucket: str, prefix: str, max_pages: int, page: int) -> None:
        self.s3, self.bucket, self.prefix, self.max_pages, self.page = s3, bucket, prefix, max_pages, page
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
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": self.page}
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


def head_present(s3: Any, bucket: str, f: LocalFile) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=f.key)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    digest = head.get("Metadata", {}).get("sha256")
    return int(head.get("ContentLength", -1)) == f.size and (digest is None or digest == f.sha256)


@dataclass
class Uploader:
    """One PutObject for a small file; a multipart upload for a large one, its parts on the parts pool (the file
    pool's thread waits for them: parts never wait on anything, so the two pools cannot deadlock)."""

    s3: Any
    bucket: str
    parts_pool: ThreadPoolExecutor
    progress: Progress
    threshold: int  # multipart from this size on
    part_size: int

    def _extra(self, f: LocalFile) -> dict[str, Any]:
        return {"Metadata": {"sha256": f.sha256}, "ContentType": "application/octet-stream"}

    def upload(self, f: LocalFile) -> None:
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

    def multipart(self, f: LocalFile) -> None:
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

    def _part(self, f: LocalFile, upload_id: str, number: int, offset: int, length: int) -> dict[str, Any]:
        with FileSlice(f.path, offset, length) as body:
            resp = self.s3.upload_part(Bucket=self.bucket, Key=f.key, UploadId=upload_id, PartNumber=number, Body=body)
        self.progress.advance(length)
        return {"PartNumber": number, "ETag": resp["ETag"]}


def _drop_expect(request: Any, **_: Any) -> None:
    length = request.headers.get("Content-Length")
    if length is not None and int(length) < NO_EXPECT_BELOW and "Expect" in request.headers:
        del request.headers["Expect"]


@contextmanager
def small_puts_without_expect(s3_client: Any) -> Iterator[None]:
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
