"""Staging without AWS: which sheet cells are files, streaming hashes and part bodies, row rewriting."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from runner.core.errors import UsageError
from runner.files import hashing, paths, staging, transfer


@pytest.fixture
def sheet_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "sheets"
    (folder / "reads").mkdir(parents=True)
    (folder / "reads" / "s1_R1.fastq.gz").write_bytes(b"r1")
    (folder / "reads" / "s1_R2.fastq.gz").write_bytes(b"r2")
    (folder / "panel.bed").write_text("chr1\t1\t2\n")
    return folder


def test_relative_paths_resolve_against_the_sheet_folder(sheet_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the sheet's folder: resolution must not depend on the cwd
    rows = [
        {"sample": "s1", "r1": "reads/s1_R1.fastq.gz", "r2": "./reads/s1_R2.fastq.gz", "bed": "panel.bed"},
    ]
    found = paths.find_paths(rows, sheet_dir)
    assert found.local_paths == sorted(
        str(sheet_dir / p) for p in ("reads/s1_R1.fastq.gz", "reads/s1_R2.fastq.gz", "panel.bed")
    )
    assert {(c.row, c.column) for c in found.local} == {(1, "r1"), (1, "r2"), (1, "bed")}
    assert found.s3 == []


def test_absolute_paths_s3_uris_and_plain_data(sheet_dir: Path) -> None:
    absolute = str(sheet_dir / "panel.bed")
    rows = [
        {"sample": "s1", "bed": absolute, "ref": "s3://refs-bucket/hg38/genome.fa", "group": "A/B", "dose": "1.5"},
        {"sample": "s2", "bed": absolute, "ref": "s3://refs-bucket/hg38/", "group": "tumor", "dose": "v2.0"},
        {"sample": "s3", "bed": "", "ref": "https://example.org/x.fa", "group": "Homo.sapiens", "dose": "10 mg/kg"},
    ]
    found = paths.find_paths(rows, sheet_dir)
    assert found.local_paths == [absolute]  # named twice, staged once
    assert found.s3_uris == ["s3://refs-bucket/hg38/", "s3://refs-bucket/hg38/genome.fa"]


@pytest.mark.parametrize(
    "value",
    ["reads/missing.fastq.gz", "./missing", "../elsewhere/x.txt", "/nonexistent/abs/path.bam", "s9.fq.gz"],
)
def test_missing_local_file_names_column_row_and_path(sheet_dir: Path, value: str) -> None:
    rows = [{"sample": "s1", "r1": "reads/s1_R1.fastq.gz"}, {"sample": "s2", "r1": value}]
    with pytest.raises(UsageError) as info:
        paths.find_paths(rows, sheet_dir)
    message = str(info.value)
    assert "column 'r1'" in message and "row 2" in message and value in message and "does not exist" in message


def test_folder_is_refused(sheet_dir: Path) -> None:
    with pytest.raises(UsageError, match=r"column 'reads', row 1: local file './reads' is a folder"):
        paths.find_paths([{"reads": "./reads"}], sheet_dir)


def test_malformed_s3_uri(sheet_dir: Path) -> None:
    with pytest.raises(UsageError, match=r"column 'ref', row 1: 's3://X_bad/key' is not a valid s3:// URI"):
        paths.find_paths([{"ref": "s3://X_bad/key"}], sheet_dir)


def test_skip_columns(sheet_dir: Path) -> None:
    found = paths.find_paths([{"sample": "panel.bed", "x": "1"}], sheet_dir, skip_columns=["sample"])
    assert found.local == []


def test_sha256_streams_in_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # 48 MiB, partly random so the digest is not trivial
        fh.write(os.urandom(1024 * 1024))
        fh.truncate(48 * 1024 * 1024)
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        digest = hashing.sha256_file(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest == expected
    assert peak < 4 * 1024 * 1024, f"hashing held {peak} bytes"


def test_file_slice_reads_seeks_and_rewinds(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    path = tmp_path / "f"
    path.write_bytes(data)
    with transfer.FileSlice(str(path), 100, 1000) as part:
        assert len(part) == 1000
        assert part.read(10) == data[100:110]
        assert part.tell() == 10
        assert part.read() == data[110:1100]
        assert part.read(5) == b""
        part.seek(0)
        buf = bytearray(64)
        assert part.readinto(buf) == 64 and bytes(buf) == data[100:164]
        part.seek(-4, io.SEEK_END)
        assert part.read() == data[1096:1100]


def test_staged_key_layout() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert staging.staged_key("staged/", digest, "/a/b/s1.fq.gz") == f"staged/{digest[:32]}/s1.fq.gz"


def test_malformed_uri_refused_before_any_call() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3), pytest.raises(UsageError, match="not a valid s3:// URI"):  # no responses queued: no call allowed
        paths.check_s3_uris(s3, ["s3://ok-bucket/a", "s3://B/x"])


def test_every_missing_uri_is_listed_in_one_error() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    uris = ["s3://bkt-1/c", "s3://bkt-1/a", "s3://bkt-1/b"]
    for key in ("a", "b", "c"):  # the pool runs one worker here: calls come in sorted order
        if key == "a":
            stub.add_response("head_object", {"ContentLength": 1}, {"Bucket": "bkt-1", "Key": key})
        else:
            stub.add_client_error(
                "head_object", "404", http_status_code=404, expected_params={"Bucket": "bkt-1", "Key": key}
            )
    with stub, pytest.raises(UsageError) as info:
        paths.check_s3_uris(s3, uris, workers=1)
    assert str(info.value) == (
        "2 s3:// inputs are missing or unreadable: s3 object 's3://bkt-1/b' does not exist; "
        "s3 object 's3://bkt-1/c' does not exist"
    )


def test_a_small_file_goes_with_the_digest_that_names_its_key(tmp_path: Path) -> None:
    """S3 checks a PutObject's ChecksumSHA256 against the body: a corrupted upload cannot sit under the key of the
    content it should have been (the emulator stores no checksum, so the request is what can be checked here)."""
    path = tmp_path / "reads.fastq.gz"
    path.write_bytes(b"@r1\nACGT\n+\nIIII\n")
    digest = hashlib.sha256(path.read_bytes()).digest()
    key = staging.staged_key("staged/", digest.hex(), str(path))
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(s3)
    stubber.add_client_error("head_object", "404", http_status_code=404)
    stubber.add_response(
        "put_object",
        {},
        {
            "Bucket": "data",
            "Key": key,
            "Body": ANY,
            "ChecksumSHA256": base64.b64encode(digest).decode(),
            "Metadata": {"sha256": digest.hex()},
            "ContentType": "application/octet-stream",
        },
    )
    with stubber:
        report = staging.stage(s3, "data", [path], cache=hashing.HashCache(None))
    stubber.assert_no_pending_responses()
    assert report.uploaded == [str(path.resolve())] and report.uris[str(path)] == f"s3://data/{key}"
