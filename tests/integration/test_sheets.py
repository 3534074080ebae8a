"""nf-core sample sheets through `runner submit` on the applied envs/local: one child per sample, every lane.

What reaches the queue is read back with describe_jobs; each child's own command and environment then run here
under dash and busybox sh (and, for hostile values, in a real container), as Batch would run them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.files import sheets
from runner.runs import rows
from tests.conftest import Deployment
from tests.integration.test_rows_container import base_image, run_in_container
from tests.unit.test_sheets import DATA, HOSTILE

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"
NF_BUCKET = "nf-core-awsmegatests"
# What an analyst's script does with the lanes: loop over RUNNER_LANES in plain sh.
LANES = (
    'i=1; while [ "$i" -le "$RUNNER_LANES" ]; do eval "r1=\\${FASTQ_1__$i} r2=\\${FASTQ_2__$i}"; '
    'echo "$SAMPLE_ID|$STRANDEDNESS|$i|$r1|$r2"; i=$((i + 1)); done'
)


def child_of(deployed: Deployment, job_id: str, index: int) -> tuple[list[str], dict[str, str]]:
    child = deployed.client("batch").describe_jobs(jobs=[f"{job_id}:{index}"])["jobs"][0]
    return child["container"]["command"], {e["name"]: e["value"] for e in child["container"]["environment"]}


def run_child(shell: list[str], command: list[str], env: dict[str, str], index: int) -> list[str]:
    full = {"PATH": "/usr/bin:/bin", **env, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)}
    proc = subprocess.run(shell + command[1:], env=full, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


def expected_lines(sheet_path: Path, rewrite: dict[str, str] | None = None) -> list[list[str]]:
    """Per sample, the lines LANES prints: its lanes in sheet order."""
    sheet = sheets.read_sheet(sheet_path)
    out = []
    for index in range(len(sheet)):
        lanes = sheet.lanes(index)
        out.append(
            [
                "|".join([lane["sample"], lanes[0]["strandedness"], str(n)] + [
                    (rewrite or {}).get(lane[c], lane[c]) for c in ("fastq_1", "fastq_2")
                ])
                for n, lane in enumerate(lanes, start=1)
            ]
        )  # fmt: skip
    return out


def submit(deployed: Deployment, sheet: Path, name: str, *extra: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        deployed.project.run(
            "submit", "--env", "local", "--image", IMAGE, "--command", LANES, "--samples", str(sheet),
            "--name", name, "--json", *extra,
        ).stdout
    )  # fmt: skip
    return out


def put_nf_core_inputs(deployed: Deployment) -> None:
    """The objects the nf-core sheet names, in a bucket of that name on the emulator."""
    s3 = deployed.client("s3")
    region = deployed.output("region")
    kwargs: dict[str, Any] = {}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if NF_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=NF_BUCKET, **kwargs)
    sheet = sheets.read_sheet(DATA / "samplesheet_test.csv")
    for row in sheet.rows:
        for column in ("fastq_1", "fastq_2"):
            if row[column]:
                s3.put_object(Bucket=NF_BUCKET, Key=row[column].split("/", 3)[3], Body=b"@r\nACGT\n+\n!!!!\n")


def test_nf_core_sheet_submits_one_child_per_sample_with_every_lane(deployed: Deployment) -> None:
    put_nf_core_inputs(deployed)
    sheet = DATA / "samplesheet_test.csv"
    out = submit(deployed, sheet, "nfcore-lanes")
    (job,) = out["jobs"]
    assert out["submitted"] == 1 and job["array_size"] == 5, "7 rows, 5 samples: one array child per sample"
    expected = expected_lines(sheet)
    for index in range(5):
        command, env = child_of(deployed, job["job_id"], index)
        for shell in (["dash"], ["busybox", "sh"]):
            assert run_child(shell, command, env, index) == expected[index], (shell, index)
    assert expected[0] == [
        f"WT_REP1|auto|1|s3://{NF_BUCKET}/rnaseq/input_data/minimal/GSE110004/SRR6357070_1.fastq.gz|"
        f"s3://{NF_BUCKET}/rnaseq/input_data/minimal/GSE110004/SRR6357070_2.fastq.gz",
        f"WT_REP1|auto|2|s3://{NF_BUCKET}/rnaseq/input_data/minimal/GSE110004/SRR6357071_1.fastq.gz|"
        f"s3://{NF_BUCKET}/rnaseq/input_data/minimal/GSE110004/SRR6357071_2.fastq.gz",
    ]
    # status counts samples; the record names them
    status = deployed.project.run_json("status", "nfcore-lanes", "--env", "local", "--json")
    assert status["total"] == 5
    record = json.loads(
        deployed.client("s3")
        .get_object(Bucket=deployed.output("bucket_names")["work"], Key="runs/nfcore-lanes/run.json")["Body"]
        .read()
    )
    assert record["sample_count"] == 5 and record["jobs"][0]["rows"] == {"ranges": [[0, 5]]}


def test_https_values_pass_through_and_group_by_regroups(deployed: Deployment) -> None:
    sheet = DATA / "samplesheet_test_https.csv"
    out = submit(deployed, sheet, "nfcore-https")
    (job,) = out["jobs"]
    assert job["array_size"] == 5 and out["staged"] == {}
    command, env = child_of(deployed, job["job_id"], 3)
    assert run_child(["dash"], command, env, 3) == expected_lines(sheet)[3]
    # --group-by another column: one child per strandedness value (auto, reverse), its rows as lanes in sheet order
    put_nf_core_inputs(deployed)
    by = submit(deployed, DATA / "samplesheet_test.csv", "nfcore-by-strand", "--group-by", "strandedness")
    assert by["jobs"][0]["array_size"] == 2
    command, env = child_of(deployed, by["jobs"][0]["job_id"], 1)
    lines = run_child(["busybox", "sh"], command, env, 1)
    assert [line.split("|")[:3] for line in lines] == [["reverse", "reverse", str(n)] for n in range(1, 5)]
    assert lines[3].endswith("SRR6357076_1.fastq.gz|s3://nf-core-awsmegatests/rnaseq/input_data/minimal/GSE110004/"
                             "SRR6357076_2.fastq.gz")  # fmt: skip


def test_local_lanes_are_staged_and_reach_their_sample(deployed: Deployment, tmp_path: Path) -> None:
    sheet = tmp_path / "samplesheet_test_local.csv"
    shutil.copy(DATA / "samplesheet_test_local.csv", sheet)
    (tmp_path / "fastq").mkdir()
    for row in sheets.read_sheet(sheet).rows:
        for column in ("fastq_1", "fastq_2"):
            if row[column]:
                (tmp_path / row[column]).write_bytes(f"@{row[column]}\nACGT\n+\n!!!!\n".encode())
    out = submit(deployed, sheet, "nfcore-local")
    assert len(out["staged"]) == 11 and all(v.startswith("s3://") for v in out["staged"].values())
    (job,) = out["jobs"]
    expected = expected_lines(sheet, rewrite=out["staged"])
    command, env = child_of(deployed, job["job_id"], 0)
    assert run_child(["dash"], command, env, 0) == expected[0]
    assert "/staged/" in expected[0][1]


def test_hostile_sheet_values_stay_data_through_submit_and_a_container(deployed: Deployment, tmp_path: Path) -> None:
    sheet = tmp_path / "hostile.csv"
    quoted = ['"' + value.replace('"', '""') + '"' for _name, value in HOSTILE]
    sheet.write_text("sample,note\n" + "".join(f"{name},{q}\n" for (name, _v), q in zip(HOSTILE, quoted, strict=True)))
    out = json.loads(
        deployed.project.run(
            "submit", "--env", "local", "--image", IMAGE, "--samples", str(sheet), "--name", "hostile-rows",
            "--command", 'printf "%s" "$NOTE" > "value.$AWS_BATCH_JOB_ARRAY_INDEX"', "--json",
        ).stdout
    )  # fmt: skip
    (job,) = out["jobs"]
    assert job["array_size"] == len(HOSTILE)
    command, env = child_of(deployed, job["job_id"], 0)
    assert [rows.decode_line(line)["SAMPLE_ID"] for line in env["RUNNER_ROWS"].split("\n")] == [n for n, _ in HOSTILE]
    image = base_image(tmp_path)
    mount = tmp_path / "out"
    mount.mkdir()
    for index, (name, value) in enumerate(HOSTILE):
        expected = value.strip().encode()  # sheet values are stripped
        proc = run_in_container(image, command, env, index, mount)
        assert proc.returncode == 0, proc.stderr
        assert (mount / f"value.{index}").read_bytes() == expected, name
        local = subprocess.run(
            ["busybox", "sh", *command[1:]],
            env={"PATH": "/usr/bin:/bin", **env, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)},
            cwd=mount,
            capture_output=True,
            check=False,
        )
        assert local.returncode == 0 and (mount / f"value.{index}").read_bytes() == expected, name
    assert not (mount / "FILE").exists() and not (tmp_path / "FILE").exists()
