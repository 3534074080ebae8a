"""Bad input to `runner submit`: exit 2, one line naming the field, and zero jobs on any queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Deployment
from tests.helpers import error_line

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"


def all_jobs(deployed: Deployment) -> int:
    batch = deployed.client("batch")
    return sum(len(batch.list_jobs(jobQueue=q)["jobSummaryList"]) for q in deployed.output("job_queue_names").values())


def job_definitions(deployed: Deployment) -> int:
    return len(deployed.client("batch").describe_job_definitions()["jobDefinitions"])


def sheet(tmp_path: Path, text: str | bytes, name: str = "s.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


CASES = {
    "missing sample column": (["--samples", "{no_id}"], "--samples", "sample column"),
    "unterminated quote": (["--samples", "{unterminated}"], "--samples", "line 3: a quoted field is never closed"),
    "NUL byte": (["--samples", "{nul}"], "--samples", "line 2 contains a NUL byte"),
    "undecodable byte": (["--samples", "{latin1}"], "--samples", "line 2 has a byte that is not UTF-8"),
    "xlsx workbook": (["--samples", "{xlsx}"], "--samples", "an .xlsx workbook is one"),
    "parquet file": (["--samples", "{parquet}"], "--samples", "a Parquet file"),
    "file outside the sheet's folder": (["--samples", "{escape}"], "--samples", "is outside the sheet's folder"),
    "aws credentials": (["--samples", "{credentials}"], "--samples", "'~/.aws/credentials' is "),
    "hidden file": (["--samples", "{hidden}"], "--samples", "inside the hidden '.secret'"),
    "unknown group-by column": (["--samples", "{missing_file}", "--group-by", "donor"], "--group-by", "'donor'"),
    "upper-case image": (["--image", "MyLab/Aligner:1.0"], "--image", "must be lower-case"),
    "image with a command": (["--image", "bash:5 ; rm -rf /"], "--image", "not an image reference"),
    "bad digest": (["--image", "bash@sha256:xyz"], "--image", "ALGORITHM:HEX"),
    "300-character name": (["--name", "n" * 300], "--name", "1-100 letters"),
    "40 KB command": (["--command", "echo " + "x" * 40_000], "--command", "above AWS Batch's 30,720 (30 KiB) limit"),
    "vcpus not a number": (["--vcpus", "four"], "--vcpus", "valid integer"),
    "typo of a flag": (["--vcpu", "2"], "--vcpu", "--vcpus"),
    "empty sheet": (["--samples", "{empty}"], "--samples", "empty"),
    "malformed memory": (["--memory", "16GG"], "--memory", "16GG"),
    "vcpus beyond every compute environment": (["--vcpus", "64"], "--vcpus", "largest that fits is 16"),
    "gpus on a queue without gpu instances": (["--gpus", "1"], "--gpus", "no GPU instance types"),
    "unknown queue": (["--queue", "nope"], "--queue", "unknown queue 'nope'"),
    "nonexistent local file": (["--samples", "{missing_file}"], "--samples", "'reads/ghost.fq.gz' does not exist"),
    "nonexistent s3 object": (["--samples", "{missing_s3}"], "--samples", "not/there.fq.gz' does not exist"),
    "bad env var": (["--env-var", "NOEQUALS"], "--env-var", "KEY=VALUE"),
    "bad timeout": (["--timeout", "2 fortnights"], "--timeout", "duration"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_submit_bad_input(deployed: Deployment, tmp_path: Path, case: str) -> None:
    args, field, fragment = CASES[case]
    data = deployed.output("bucket_names")["data"]
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = not-for-upload\n")
    (tmp_path / ".secret").mkdir()
    (tmp_path / ".secret" / "key.txt").write_text("k")
    texts: dict[str, str | bytes] = {
        "no_id": "name,fastq\nS1,a\n",
        "empty": "",
        "missing_file": "sample,fastq\nS1,reads/ghost.fq.gz\n",
        "missing_s3": f"sample,fastq\nS1,s3://{data}/not/there.fq.gz\n",
        "unterminated": 'sample,note\nS1,ok\nS2,"open\nS3,swallowed\n',
        "nul": b"sample,note\nS1,a\x00b\n",
        "latin1": b"sample,note\nS1,caf\xe9\n",
        "xlsx": b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml",
        "parquet": b"PAR1\x15\x04\x15\x10",
        "escape": "sample,fastq\nS1," + "../" * len(tmp_path.parts) + "etc/passwd\n",
        "credentials": "sample,fastq\nS1,~/.aws/credentials\n",
        "hidden": "sample,fastq\nS1,.secret/key.txt\n",
    }
    paths = {key: sheet(tmp_path, text, f"{key}.csv") for key, text in texts.items()}
    args = [a.format(**paths) for a in args]
    jobs_before, defs_before = all_jobs(deployed), job_definitions(deployed)
    proc = deployed.project.run(
        "submit", "--env", "local", "--image", IMAGE, "--command", "true", "--name", f"bad-{abs(hash(case))}",
        *args, check=False, env=deployed.project.environ(HOME=str(home)),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc)
    assert field in line and fragment in line, line
    assert all_jobs(deployed) == jobs_before, "a bad input submitted a job"
    assert job_definitions(deployed) == defs_before, "a bad input registered a job definition"


def test_unknown_env(deployed: Deployment) -> None:
    proc = deployed.project.run("submit", "--env", "nowhere", "--image", IMAGE, "--command", "true", check=False)
    assert proc.returncode == 2 and "--env" in error_line(proc) and "nowhere" in error_line(proc)


def test_other_commands_bad_input(deployed: Deployment) -> None:
    proj = deployed.project
    for args, field in (
        (["status", "no-such-run"], "RUN_OR_JOB"),
        (["retry", "no-such-run", "--failed"], "RUN"),
        (["retry", "no-such-run"], "--failed"),
        (["list", "--since", "yesterday"], "--since"),
        (["list", "--status", "DONE"], "--status"),
        (["cancel", "no-such-run"], "RUN_OR_JOB"),
    ):
        proc = proj.run(*args, "--env", "local", check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert field in error_line(proc), (args, proc.stderr)


def staged_objects(deployed: Deployment) -> int:
    data = deployed.output("bucket_names")["data"]
    return deployed.client("s3").list_objects_v2(Bucket=data, Prefix="staged/").get("KeyCount", 0)


def run_record_exists(deployed: Deployment, run: str) -> bool:
    work = deployed.output("bucket_names")["work"]
    listed = deployed.client("s3").list_objects_v2(Bucket=work, Prefix=f"runs/{run}/")
    return bool(listed.get("KeyCount", 0))


def local_sheet(tmp_path: Path, rows: int, ref: str = "-") -> str:
    """A sheet whose rows name local files (reads/rI.fq.gz, unique to this test) and a ``ref`` value."""
    (tmp_path / "reads").mkdir(exist_ok=True)
    lines = ["sample,reads,ref"]
    for i in range(rows):
        (tmp_path / "reads" / f"r{i}.fq.gz").write_bytes(f"@{tmp_path.name}{i}\nACGT\n".encode())
        lines.append(f"S{i},reads/r{i}.fq.gz,{ref}")
    return sheet(tmp_path, "\n".join(lines) + "\n", "local.csv")


def test_dependencies_are_checked_before_anything_is_written(deployed: Deployment, tmp_path: Path) -> None:
    """--after naming a run of 21 jobs (above Batch's 20 dependencies): exit 2 with nothing staged, registered,
    recorded or submitted, although the sheet names local files."""
    from runner.session.runs import JobRef, RunRecord, RunStore

    store = RunStore(deployed.client("s3"), deployed.output("bucket_names")["work"])
    many = [JobRef(job_id=f"00000000-0000-0000-0000-{i:012d}", job_name=f"many-{i}") for i in range(21)]
    store.save(RunRecord(run="many-jobs", env="local", jobs=many))
    before = all_jobs(deployed), job_definitions(deployed), staged_objects(deployed)
    proc = deployed.project.run(
        "submit", "--env", "local", "--image", IMAGE, "--command", "echo $SEED", "--env-var", "SEED=after-many",
        "--samples", local_sheet(tmp_path, 3), "--name", "after-many", "--after", "many-jobs", check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "--after: 21 jobs exceed the 20" in error_line(proc)
    assert (all_jobs(deployed), job_definitions(deployed), staged_objects(deployed)) == before
    assert not run_record_exists(deployed, "after-many")


def test_dry_run_prints_the_plan_and_changes_nothing(deployed: Deployment, tmp_path: Path) -> None:
    data = deployed.output("bucket_names")["data"]
    deployed.client("s3").put_object(Bucket=data, Key="in/ref.fa", Body=b">c\nACGT\n")
    path = local_sheet(tmp_path, 3, ref=f"s3://{data}/in/ref.fa")
    args = ("submit", "--env", "local", "--image", IMAGE, "--command", "true", "--samples", path,
            "--vcpus", "2", "--memory", "3GiB", "--queue", "priority", "--name", "dry-one")  # fmt: skip
    before = all_jobs(deployed), job_definitions(deployed), staged_objects(deployed)
    plan = deployed.project.run_json(*args, "--dry-run", "--json")
    assert plan["dry_run"] is True and plan["already_submitted"] is False
    assert plan["queue"] == deployed.output("job_queue_names")["priority"]
    assert plan["resources"] == {"vcpus": 2, "memory_mib": 3072, "gpus": 0}
    assert plan["jobs"] == [{"job_name": "dry-one", "array_size": 3, "rows": [0, 3], "depends_on": []}]
    assert plan["files_to_stage"] == sorted(str(tmp_path / "reads" / f"r{i}.fq.gz") for i in range(3))
    assert plan["s3_inputs_checked"] == 1 and plan["job_definition"].startswith("runner-")
    text = deployed.project.run(*args, "--dry-run").stdout
    assert "dry run: nothing submitted" in text and "array of 3" in text and "files to stage  3" in text
    assert (all_jobs(deployed), job_definitions(deployed), staged_objects(deployed)) == before
    assert not run_record_exists(deployed, "dry-one")
    # The same command without --dry-run submits what the plan said.
    done = deployed.project.run_json(*args, "--json")
    assert [(j["job_name"], j["array_size"]) for j in done["jobs"]] == [("dry-one", 3)]
    assert sorted(done["staged"]) == [f"reads/r{i}.fq.gz" for i in range(3)]
