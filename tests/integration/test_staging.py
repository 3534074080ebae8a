"""Staging against the embedded AWS over HTTP: uploads once, skips the second time, multipart above the threshold,
refuses missing files and objects before uploading anything."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from runner.core.errors import RunFailed, UsageError
from runner.files import hashing, paths, sheets, staging
from runner.files.sheets import check_s3_inputs, stage_sheet_files
from runner.local import server as local
from tests.helpers import emulator_s3, free_port

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
UPLOAD_CALLS = ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")


@pytest.fixture(scope="module")
def staging_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A moto server of this module's own, on a free port, in a scratch RUNNER_HOME: (endpoint, home)."""
    home = tmp_path_factory.mktemp("staging-home")
    info = local.up(home, port=free_port())
    yield info.endpoint, home
    local.down(home)


@pytest.fixture(scope="module")
def endpoint(staging_emulator: tuple[str, Path]) -> str:
    return staging_emulator[0]


@pytest.fixture
def s3(staging_emulator: tuple[str, Path]) -> Any:
    return emulator_s3(*staging_emulator, 32, {"mode": "adaptive", "max_attempts": 5})


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = "stage-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:12]
    s3.create_bucket(Bucket=name)
    return name


def _files(folder: Path, count: int, size: int = 2048, tag: str = "") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"sample{i:03d}.fastq.gz"
        path.write_bytes(f"{tag}{i}".encode() + os.urandom(size))
        paths.append(path)
    return paths


def _uploads(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts.get(name, 0) for name in UPLOAD_CALLS}


@pytest.mark.parametrize("count", [3, 40], ids=["head-per-file", "listing"])
def test_uploads_once_and_skips_the_second_time(s3: Any, bucket: str, tmp_path: Path, count: int) -> None:
    paths = _files(tmp_path / "in", count)
    with staging.counting_calls(s3) as first:
        uris = staging.stage(s3, bucket, [str(p) for p in paths]).uris
    assert _uploads(first) == {
        "PutObject": count,
        "CreateMultipartUpload": 0,
        "UploadPart": 0,
        "CompleteMultipartUpload": 0,
    }
    assert set(uris) == {str(p) for p in paths}
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert uris[str(path)] == f"s3://{bucket}/staged/{digest[:32]}/{path.name}"
        obj = s3.get_object(Bucket=bucket, Key=uris[str(path)].split("/", 3)[3])
        assert obj["Body"].read() == path.read_bytes()
        assert obj["Metadata"]["sha256"] == digest

    with staging.counting_calls(s3) as second:
        again = staging.stage(s3, bucket, [str(p) for p in paths]).uris
    assert again == uris
    assert sum(_uploads(second).values()) == 0, second
    # the check itself stays cheap: one LIST of the prefix, or one HEAD per file below the threshold
    if count >= staging.LIST_BELOW:
        assert second.get("HeadObject", 0) == 0 and second["ListObjectsV2"] == 1
    else:
        assert second == {"HeadObject": count}


def test_same_content_elsewhere_is_not_sent_again(s3: Any, bucket: str, tmp_path: Path) -> None:
    (original,) = _files(tmp_path / "a", 1)
    copy = tmp_path / "b" / original.name
    copy.parent.mkdir()
    copy.write_bytes(original.read_bytes())
    first = staging.stage(s3, bucket, [original])
    second = staging.stage(s3, bucket, [copy])
    assert first.uploaded == [str(original)] and second.uploaded == [] and second.skipped == [str(copy)]
    assert second.uris[str(copy)] == first.uris[str(original)]


def test_multipart_above_the_threshold(s3: Any, bucket: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bam"
    big.write_bytes(os.urandom(12 * MiB + 123))
    (small,) = _files(tmp_path / "small", 1)
    with staging.counting_calls(s3) as calls:
        report = staging.stage(s3, bucket, [big, small], multipart_threshold=8 * MiB, part_size=5 * MiB)
    assert _uploads(calls) == {
        "PutObject": 1,
        "CreateMultipartUpload": 1,
        "UploadPart": 3,
        "CompleteMultipartUpload": 1,
    }
    assert report.multipart == [str(big)]
    assert report.bytes_uploaded == big.stat().st_size + small.stat().st_size
    key = report.uris[str(big)].split("/", 3)[3]
    obj = s3.get_object(Bucket=bucket, Key=key)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    assert obj["Metadata"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    with staging.counting_calls(s3) as again:
        staging.stage(s3, bucket, [big, small], multipart_threshold=8 * MiB, part_size=5 * MiB)
    assert sum(_uploads(again).values()) == 0


def test_truncated_listing_falls_back_to_head(s3: Any, bucket: str, tmp_path: Path, monkeypatch) -> None:
    """Keys past a truncated LIST page are HEADed: present ones skipped, absent ones uploaded."""
    paths = _files(tmp_path / "in", 40)
    staging.stage(s3, bucket, paths[:30])
    monkeypatch.setattr(staging, "LIST_PAGE", 1)
    with staging.counting_calls(s3) as calls:
        report = staging.stage(s3, bucket, paths)
    assert sorted(report.uploaded) == sorted(str(p) for p in paths[30:])
    assert calls["PutObject"] == 10
    assert calls.get("HeadObject", 0) > 0


def test_broken_object_under_the_key_is_replaced(s3: Any, bucket: str, tmp_path: Path) -> None:
    (path,) = _files(tmp_path / "in", 1)
    key = staging.staged_key("staged/", hashing.sha256_file(path), str(path))
    s3.put_object(Bucket=bucket, Key=key, Body=b"truncated")
    report = staging.stage(s3, bucket, [path])
    assert report.uploaded == [str(path)]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == path.read_bytes()


def _sheet(folder: Path, rows: list[dict[str, str]]) -> sheets.Sheet:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "samples.csv"
    path.write_text("\n".join([",".join(rows[0]), *(",".join(r.values()) for r in rows)]) + "\n")
    return sheets.read_sheet(path)


def test_sheet_relative_paths_are_staged_and_rewritten(s3: Any, bucket: str, tmp_path: Path, monkeypatch) -> None:
    """The production path: the sheet's files found (plan), s3:// inputs checked (check), staged (apply)."""
    sheet_dir = tmp_path / "project" / "sheets"
    r1, r2 = _files(sheet_dir / "reads", 2)
    s3.put_object(Bucket=bucket, Key="refs/genome.fa", Body=b">chr1\nACGT\n")
    monkeypatch.chdir(tmp_path)
    sheet = _sheet(sheet_dir, [
        {"sample": "s1", "reads": "reads/sample000.fastq.gz", "ref": f"s3://{bucket}/refs/genome.fa"},
        {"sample": "s2", "reads": "./reads/sample001.fastq.gz", "ref": f"s3://{bucket}/refs/genome.fa"},
    ])  # fmt: skip
    refs = sheets.file_refs(sheet)
    check_s3_inputs(s3, refs.s3)
    mapping, report = stage_sheet_files(s3, bucket, sheet, refs)
    assert sorted(report.uploaded) == sorted([str(r1), str(r2)])
    assert sorted(mapping) == ["./reads/sample001.fastq.gz", "reads/sample000.fastq.gz"]
    for row, path in zip(sheet.rows, (r1, r2), strict=True):
        assert row["reads"] == report.uris[str(path)]
        assert row["ref"] == f"s3://{bucket}/refs/genome.fa"
        body = s3.get_object(Bucket=bucket, Key=row["reads"].split("/", 3)[3])["Body"].read()
        assert body == path.read_bytes()


def test_missing_local_file_uploads_nothing(s3: Any, bucket: str, tmp_path: Path) -> None:
    _files(tmp_path / "reads", 2)
    sheet = _sheet(tmp_path, [
        {"sample": "s1", "reads": "reads/sample000.fastq.gz"},
        {"sample": "s2", "reads": "reads/sample001.fastq.gz"},
        {"sample": "s3", "reads": "reads/sample999.fastq.gz"},
    ])  # fmt: skip
    with staging.counting_calls(s3) as calls, pytest.raises(UsageError) as info:
        sheets.file_refs(sheet)
    assert "column 'reads', row 3" in str(info.value) and "reads/sample999.fastq.gz" in str(info.value)
    assert calls == {}  # refused before the first AWS call
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_missing_s3_object_uploads_nothing(s3: Any, bucket: str, tmp_path: Path) -> None:
    _files(tmp_path / "reads", 1)
    s3.put_object(Bucket=bucket, Key="refs/genome.fa", Body=b">chr1\n")
    sheet = _sheet(tmp_path, [
        {"sample": "s1", "reads": "reads/sample000.fastq.gz", "ref": f"s3://{bucket}/refs/genome.fa"},
        {"sample": "s2", "reads": "reads/sample000.fastq.gz", "ref": f"s3://{bucket}/refs/missing.fa"},
        {"sample": "s3", "reads": "reads/sample000.fastq.gz", "ref": f"s3://{bucket}/refs/empty-folder/"},
    ])  # fmt: skip
    with staging.counting_calls(s3) as calls, pytest.raises(UsageError) as info:
        check_s3_inputs(s3, sheets.file_refs(sheet).s3)
    message = str(info.value)
    assert message.startswith("--samples") and f"s3://{bucket}/refs/empty-folder/" in message
    assert sum(_uploads(calls).values()) == 0
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["refs/genome.fa"]


def test_missing_bucket_is_a_missing_object(s3: Any) -> None:
    with pytest.raises(UsageError, match=r"s3 object 's3://no-such-bucket-x1/a.fa' does not exist"):
        paths.check_s3_uris(s3, ["s3://no-such-bucket-x1/a.fa"])


def test_progress_sees_every_byte(s3: Any, bucket: str, tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 20, size=1000)
    big = tmp_path / "big.cram"
    big.write_bytes(os.urandom(6 * MiB))
    events: dict[str, Any] = {"advanced": 0, "done": 0}

    class Recorder:
        def begin(self, files: int, total_bytes: int) -> None:
            events["begin"] = (files, total_bytes)

        def advance(self, nbytes: int) -> None:
            events["advanced"] += nbytes

        def file_done(self, path: str, uploaded: bool) -> None:
            events["done"] += 1

    all_paths = [*paths, big]
    total = sum(p.stat().st_size for p in all_paths)
    staging.stage(s3, bucket, all_paths, progress=Recorder(), multipart_threshold=5 * MiB, part_size=5 * MiB)
    assert events == {"begin": (21, total), "advanced": total, "done": 21}


def test_result_is_keyed_by_the_paths_as_given(s3: Any, bucket: str, tmp_path: Path, monkeypatch) -> None:
    (path,) = _files(tmp_path / "in", 1)
    link = tmp_path / "link.fastq.gz"
    link.symlink_to(path)
    monkeypatch.chdir(tmp_path)
    uris = staging.stage(s3, bucket, ["in/sample000.fastq.gz", str(link), str(path)]).uris
    assert set(uris) == {"in/sample000.fastq.gz", str(link), str(path)}
    assert len(set(uris.values())) == 1  # one object: the symlink resolves to the same file


def test_missing_bucket_fails_the_run_not_the_input(s3: Any, tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 2)
    with pytest.raises(RunFailed, match=r"staging to s3://no-such-data-bucket/staged/ failed.*NoSuchBucket"):
        staging.stage(s3, "no-such-data-bucket", paths)


def test_small_puts_skip_the_continue_round_trip(s3: Any, bucket: str, tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 2)
    big = tmp_path / "big.bam"
    big.write_bytes(os.urandom(6 * MiB))
    seen: dict[str, list[Any]] = {"PutObject": [], "UploadPart": []}

    def record(request: Any, event_name: str, **_: Any) -> None:
        seen[event_name.rsplit(".", 1)[1]].append(request.headers.get("Expect"))

    for op in seen:
        s3.meta.events.register_last(f"before-send.s3.{op}", record, unique_id=f"test-record-{op}")
    try:
        staging.stage(s3, bucket, [*paths, big], multipart_threshold=5 * MiB, part_size=5 * MiB)
    finally:
        for op in seen:
            s3.meta.events.unregister(f"before-send.s3.{op}", unique_id=f"test-record-{op}")
    assert seen["PutObject"] == [None, None]
    assert seen["UploadPart"] == [b"100-continue", b"100-continue"]
    # the handler is gone afterwards: the caller's client is left as it was
    s3.meta.events.register_last("before-send.s3.PutObject", record, unique_id="test-record2")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert seen["PutObject"][-1] == b"100-continue"


def test_unchanged_files_are_not_hashed_again(s3: Any, bucket: str, tmp_path: Path) -> None:
    """The hash cache (path, size, mtime): a re-stage reads no file; a file rewritten in place is hashed and sent
    again under its new content's key, even at the same size."""
    cache_file = tmp_path / "cache" / "sha256.json"
    paths = _files(tmp_path / "in", 20)
    first = staging.stage(s3, bucket, paths, cache=hashing.HashCache(cache_file))
    assert first.hashed == 20 and len(first.uploaded) == 20
    assert cache_file.is_file()
    again = staging.stage(s3, bucket, paths, cache=hashing.HashCache(cache_file))
    assert again.hashed == 0 and again.uploaded == [] and again.uris == first.uris
    changed = paths[3]
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 1_000_000))
    third = staging.stage(s3, bucket, paths, cache=hashing.HashCache(cache_file))
    assert third.hashed == 1 and third.uploaded == [str(changed)]
    digest = hashlib.sha256(bytes(data)).hexdigest()
    assert third.uris[str(changed)] == f"s3://{bucket}/staged/{digest[:32]}/{changed.name}"


def test_a_damaged_hash_cache_is_an_empty_one(s3: Any, bucket: str, tmp_path: Path) -> None:
    cache_file = tmp_path / "sha256.json"
    cache_file.write_text("{not json")
    paths = _files(tmp_path / "in", 2)
    report = staging.stage(s3, bucket, paths, cache=hashing.HashCache(cache_file))
    assert report.hashed == 2 and len(report.uploaded) == 2
    assert len(hashing.HashCache(cache_file).get_all()) == 2


def test_threads_stay_within_the_clients_connection_pool(s3: Any) -> None:
    files, parts = staging.pool_sizes(s3, 64)  # the fixture's client has 32 connections
    assert files + parts + 1 <= 32 and files >= 16 and parts >= 2
    roomy = boto3.client("s3", region_name="us-east-1", config=Config(max_pool_connections=80))
    assert staging.pool_sizes(roomy, 64) == (64, 8)


def test_a_restage_settles_known_files_from_one_listing(s3: Any, bucket: str, tmp_path: Path) -> None:
    """Files the hash cache knows are checked against the prefix's one LIST: present ones are skipped without a
    request of their own, and one deleted from the bucket since is uploaded again (under the same key)."""
    cache_file = tmp_path / "cache" / "sha256.json"
    paths = _files(tmp_path / "in", 40)
    first = staging.stage(s3, bucket, paths, cache=hashing.HashCache(cache_file))
    gone = paths[7]
    key = first.uris[str(gone)].split("/", 3)[3]
    s3.delete_object(Bucket=bucket, Key=key)
    with staging.counting_calls(s3) as calls:
        again = staging.stage(s3, bucket, paths, cache=hashing.HashCache(cache_file))
    assert again.hashed == 0 and again.uploaded == [str(gone)] and again.uris == first.uris
    assert calls == {"ListObjectsV2": 1, "PutObject": 1}
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == gone.stat().st_size
