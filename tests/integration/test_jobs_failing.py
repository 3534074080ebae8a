"""Failing jobs end to end through the CLI: an emulator whose Batch jobs all fail (MOTO_SIMPLE_BATCH_FAIL_AFTER=0).

No terraform here: the fixture creates a compute environment, a queue and buckets with boto3 and hands the
runner an outputs file (RUNNER_OUTPUTS_FILE), as a platform team hands one to analysts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Project, outputs_project, scratch_outputs

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    proj = outputs_project(tmp_path_factory.mktemp("failing"))
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
    assert record["jobs"][1]["rows"] == {"ranges": [[0, 4]]}  # rows as ranges: the record does not grow with rows
    assert record["jobs"][1]["retry_of"] == record["jobs"][0]["job_id"]

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


def test_failed_nextflow_tasks_show_their_reasons(failing: Project) -> None:
    """A Nextflow run whose task jobs failed (every job fails on this emulator). Nextflow cannot run here: the
    head job and the task jobs are submitted directly, tagged as the generated config's ``resourceLabels`` tag
    them (``run``, ``env``), and the run recorded as `runner nextflow run` records it."""
    from runner.session.runs import JobRef, RunRecord, RunStore

    batch = failing.client("batch")
    definition = batch.register_job_definition(
        jobDefinitionName="nf-task",
        type="container",
        containerProperties={"image": IMAGE, "vcpus": 1, "memory": 512, "command": ["true"]},
    )["jobDefinitionArn"]

    def submit(name: str, tags: dict[str, str]) -> str:
        job = batch.submit_job(jobName=name, jobQueue="fail-q", jobDefinition=definition, tags=tags)
        return str(job["jobId"])

    head = submit("nf-fail-head", {"runner:run": "nf-fail", "runner:kind": "nextflow-head"})
    labels = {"env": "local", "run": "nf-fail", "pipeline": "nf-core/rnaseq"}
    tasks = {submit(f"nf-NFCORE_RNASEQ_STEP_({i})", labels) for i in range(3)}
    submit("nf-NFCORE_RNASEQ_STEP_(other)", {**labels, "run": "another-run"})
    RunStore(failing.client("s3"), "fail-work").save(
        RunRecord(
            run="nf-fail",
            env="local",
            kind="nextflow",
            queue="fail-q",
            jobs=[JobRef(job_id=head, job_name="nf-fail-head", kind="head")],
            extra={"pipeline": "nf-core/rnaseq", "task_queue": "fail-q"},
        )
    )
    proc = failing.run("status", "nf-fail", "--env", "local", "--json", check=False)
    assert proc.returncode == 1, proc.stderr  # the head job failed
    status = json.loads(proc.stdout)
    assert status["tasks"]["counts"] == {"FAILED": 3} and status["tasks"]["total"] == 3
    failures = status["tasks"]["failures"]
    assert {f["job_id"] for f in failures} == tasks
    assert all(f["reason"] and f["sample"].startswith("nf-NFCORE_RNASEQ_STEP_(") for f in failures), failures
    text = failing.run("status", "nf-fail", "--env", "local", check=False).stdout
    assert "Nextflow tasks: 3 (failed 3)" in text and "3 failed tasks" in text
    assert "Resume it: runner retry nf-fail" in text and "--failed" not in text
