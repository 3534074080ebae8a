"""Failing jobs end to end through the CLI: an emulator whose Batch jobs all fail (MOTO_SIMPLE_BATCH_FAIL_AFTER=0).

No terraform here: the fixture creates a compute environment, a queue and buckets with boto3 and hands the
runner an outputs file (RUNNER_OUTPUTS_FILE), as a platform team hands one to analysts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Project, copy_project, free_port, scratch_outputs

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = copy_project(tmp_path_factory.mktemp("failing"))
    outputs_file = root / "outputs.json"
    proj = Project(root=root, port=free_port(), extra_env={"RUNNER_OUTPUTS_FILE": str(outputs_file)})
    proj.run("local", "up", env=proj.environ(MOTO_SIMPLE_BATCH_FAIL_AFTER="0"))
    try:
        scratch_outputs(proj, "fail", {"work": "fail-work", "data": "fail-data"})
        yield proj
    finally:
        proj.run("local", "down", check=False)


def test_failed_rows_status_exit_codes_and_retry(failing: Project, tmp_path: Path) -> None:
    sheet = tmp_path / "four.csv"
    sheet.write_text("sample,x\nS0,a\nS1,b\nS2,c\nS3,d\n")
    waited = failing.run(
        "submit", "--env", "local", "--image", IMAGE, "--command", "exit 3", "--samples", str(sheet),
        "--name", "doomed", "--memory", "64GiB", "--wait", "--interval", "0.05", "--json", check=False,
    )  # fmt: skip
    assert waited.returncode == 1, waited.stderr
    result = json.loads(waited.stdout)
    assert result["status"]["state"] == "FAILED" and result["status"]["counts"]["FAILED"] == 4
    assert sorted(f["sample"] for f in result["status"]["failures"]) == ["S0", "S1", "S2", "S3"]

    status = failing.run("status", "doomed", "--env", "local", check=False)
    assert status.returncode == 1 and "runner retry doomed --failed" in status.stdout

    retried = json.loads(failing.run("retry", "doomed", "--failed", "--env", "local", "--json").stdout)
    assert retried["retried_rows"] == [0, 1, 2, 3] and retried["jobs"][0]["array_size"] == 4
    record = json.loads(failing.client("s3").get_object(Bucket="fail-work", Key="runs/doomed/run.json")["Body"].read())
    assert [j["kind"] for j in record["jobs"]] == ["submit", "retry"]
    assert record["jobs"][1]["rows"] == [0, 1, 2, 3] and record["jobs"][1]["retry_of"] == record["jobs"][0]["job_id"]

    # Those rows now count by the retry (which failed again here): still 4 rows, not 8.
    after = json.loads(failing.run("status", "doomed", "--env", "local", "--json", check=False).stdout)
    assert after["total"] == 4 and after["counts"]["FAILED"] == 4
    assert {f["job_id"] for f in after["failures"]} == {retried["jobs"][0]["job_id"]}
    listed = json.loads(failing.run("list", "--env", "local", "--status", "FAILED", "--json").stdout)
    assert [r["run"] for r in listed] == ["doomed"]


def test_memory_above_the_largest_usable_type_is_refused(failing: Project) -> None:
    proc = failing.run(
        "submit", "--env", "local", "--image", IMAGE, "--command", "true", "--memory", "1024GiB", check=False
    )
    assert proc.returncode == 2
    assert "--memory" in proc.stderr and "r6i" in proc.stderr and "ECS/OS reserve" in proc.stderr
    assert (
        failing.client("batch").list_jobs(jobQueue="fail-q", filters=[{"name": "JOB_NAME", "values": ["job*"]}])[
            "jobSummaryList"
        ]
        == []
    )
