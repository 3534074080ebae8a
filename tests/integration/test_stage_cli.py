"""`runner stage PATH... --env local` on the shared deployment: files and folders land in the env's data bucket under
content-addressed keys, the command prints where, a second run sends nothing; bad input is exit 2 before any
upload."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.conftest import Deployment
from tests.helpers import error_line


def _tree(root: Path) -> list[Path]:
    (root / "reads" / "lane2").mkdir(parents=True)
    paths = []
    for i, folder in enumerate(("reads", "reads", "reads/lane2")):
        path = root / folder / f"S{i}.fastq.gz"
        path.write_bytes(f"sample {i}\n".encode() + os.urandom(4096))
        paths.append(path)
    ref = root / "genome.fa"
    ref.write_bytes(b">chr1\nACGT\n")
    return [*paths, ref]


def test_stage_uploads_files_and_folders_and_prints_where(deployed: Deployment, tmp_path: Path) -> None:
    project = deployed.project
    data_bucket = deployed.output("bucket_names")["data"]
    paths = _tree(tmp_path)
    first = project.run_json("stage", str(tmp_path / "reads"), str(tmp_path / "genome.fa"), "--env", "local", "--json")
    assert first["bucket"] == data_bucket and first["uploaded"] == 4 and first["skipped"] == 0
    assert all(item["uploaded"] for item in first["files"])
    assert [f["path"] for f in first["files"]] == [*sorted(str(p) for p in paths[:3]), str(paths[3])]
    s3 = deployed.client("s3")
    for item in first["files"]:
        digest = hashlib.sha256(Path(item["path"]).read_bytes()).hexdigest()
        name = Path(item["path"]).name
        assert item["uri"] == f"s3://{data_bucket}/staged/{digest[:32]}/{name}"
        obj = s3.get_object(Bucket=data_bucket, Key=item["uri"].split("/", 3)[3])
        assert obj["Body"].read() == Path(item["path"]).read_bytes()
        assert obj["Metadata"]["sha256"] == digest

    # Again: nothing sent, nothing hashed (the cache knows the files), the same places printed as text.
    again = project.run("stage", str(tmp_path / "reads"), str(tmp_path / "genome.fa"), "--env", "local")
    lines = [line.split("\t") for line in again.stdout.strip().splitlines()]
    assert {path: uri for uri, path in lines} == {f["path"]: f["uri"] for f in first["files"]}
    said = " ".join(again.stderr.split())
    assert "0 uploaded" in said and "4 already there" in said
    quiet = project.run_json("stage", str(tmp_path / "reads"), "--env", "local", "--json", "--concurrency", "4")
    assert quiet["uploaded"] == 0 and quiet["hashed"] == 0
    assert not any(item["uploaded"] for item in quiet["files"])


def test_stage_bad_input_is_exit_2_before_any_upload(deployed: Deployment, tmp_path: Path) -> None:
    project = deployed.project
    data_bucket = deployed.output("bucket_names")["data"]
    real = tmp_path / "real.txt"
    real.write_text("never sent\n")
    (tmp_path / "empty").mkdir()
    cases = {
        ("stage", str(real), str(tmp_path / "missing.bam"), "--env", "local"): "PATH",
        ("stage", str(real), str(tmp_path / "empty"), "--env", "local"): "PATH",
        ("stage", str(real), "--env", "local", "--concurrency", "0"): "--concurrency",
        ("stage", str(real), "--env", "local", "--prefix", "/abs"): "--prefix",
        ("stage", str(real), "--env", "nosuch"): "--env",
    }
    for args, field in cases.items():
        proc = project.run(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert field in error_line(proc), (args, proc.stderr)
    digest = hashlib.sha256(real.read_bytes()).hexdigest()
    listed = deployed.client("s3").list_objects_v2(Bucket=data_bucket, Prefix=f"staged/{digest[:32]}/")
    assert listed.get("KeyCount", 0) == 0
