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


def sheet(tmp_path: Path, text: str, name: str = "s.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


CASES = {
    "missing sample column": (["--samples", "{no_id}"], "--samples", "sample column"),
    "duplicate sample ids": (["--samples", "{dupes}"], "--samples", "duplicate sample id 'S1'"),
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
    texts = {
        "no_id": "name,fastq\nS1,a\n",
        "dupes": "sample,fastq\nS1,a\nS2,b\nS1,c\n",
        "empty": "",
        "missing_file": "sample,fastq\nS1,reads/ghost.fq.gz\n",
        "missing_s3": f"sample,fastq\nS1,s3://{data}/not/there.fq.gz\n",
    }
    paths = {key: sheet(tmp_path, text, f"{key}.csv") for key, text in texts.items()}
    args = [a.format(**paths) for a in args]
    jobs_before, defs_before = all_jobs(deployed), job_definitions(deployed)
    proc = deployed.project.run(
        "submit", "--env", "local", "--image", IMAGE, "--command", "true", "--name", f"bad-{abs(hash(case))}",
        *args, check=False,
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
