"""Spot reclamation end to end on the local Batch (docker mode, real containers): `runner local reclaim`, the job
definitions' retry strategy, the spot fallback of `runner submit --wait`, and what `status` and `cost` say after.

The env's capacity is declared with boto3 (a SPOT and an EC2 compute environment, a spot-first `default` queue and
an on-demand `priority` queue, the work bucket) and handed to the runner as RUNNER_OUTPUTS_FILE: no terraform.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Project
from tests.integration.test_jobs import write_sheet
from tests.integration.test_local_batch import local_project  # noqa: F401  (the fixture, for this module)

pytestmark = pytest.mark.integration

REGION = "us-east-1"
IMAGE = "batch-platform/base:latest"
# Row S00000 never finishes on spot (only a reclamation ends it there); everything else is quick.
COMMAND = (
    'echo "$SAMPLE_ID attempt $AWS_BATCH_JOB_ATTEMPT on $AWS_BATCH_JQ_NAME"; '
    'if [ "$SAMPLE_ID" = S00000 ] && [ "$AWS_BATCH_JQ_NAME" = "$SPOT_QUEUE" ]; then sleep 120; fi'
)


class Env:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.batch = project.client("batch", REGION)
        self.s3 = project.client("s3", REGION)
        ec2, iam = project.client("ec2", REGION), project.client("iam", REGION)
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
        role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        profile = iam.create_instance_profile(InstanceProfileName="ecs-instance")["InstanceProfile"]["Arn"]
        tag = uuid.uuid4().hex[:6]

        def environment(kind: str) -> str:
            resources = {
                "type": kind,
                "minvCpus": 0,
                "maxvCpus": 8,
                "instanceTypes": ["optimal"],
                "subnets": [subnet],
                "securityGroupIds": [group],
                "instanceRole": profile,
            }
            return str(
                self.batch.create_compute_environment(
                    computeEnvironmentName=f"{kind.lower()}-{tag}",
                    type="MANAGED",
                    state="ENABLED",
                    serviceRole=role,
                    computeResources=resources,
                )["computeEnvironmentArn"]
            )

        spot, ondemand = environment("SPOT"), environment("EC2")

        def queue(name: str, *ces: str) -> str:
            order = [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(ces)]
            return str(
                self.batch.create_job_queue(
                    jobQueueName=name, state="ENABLED", priority=1, computeEnvironmentOrder=order
                )["jobQueueArn"]
            )

        self.queues = {"default": f"spot-first-{tag}", "priority": f"ondemand-{tag}"}
        arns = {
            "default": queue(self.queues["default"], spot, ondemand),
            "priority": queue(self.queues["priority"], ondemand),
        }
        self.s3.create_bucket(Bucket=f"work-{tag}")
        outputs = {
            "name": "batch-local",
            "region": REGION,
            "bucket_names": {"work": f"work-{tag}"},
            "job_queue_names": self.queues,
            "job_queue_arns": arns,
        }
        self.outputs_file = project.root / "outputs.json"
        self.outputs_file.write_text(json.dumps(outputs))

    def environ(self) -> dict[str, str]:
        return self.project.environ(RUNNER_OUTPUTS_FILE=str(self.outputs_file))

    def runner(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.project.run(*args, env=self.environ(), check=check)

    def record(self, run: str) -> dict[str, Any] | None:
        bucket = json.loads(self.outputs_file.read_text())["bucket_names"]["work"]
        try:
            return dict(json.loads(self.s3.get_object(Bucket=bucket, Key=f"runs/{run}/run.json")["Body"].read()))
        except self.s3.exceptions.NoSuchKey:
            return None

    def job(self, job_id: str) -> dict[str, Any]:
        jobs = self.batch.describe_jobs(jobs=[job_id])["jobs"]
        return dict(jobs[0]) if jobs else {}

    def until(self, what: str, check: Any, timeout: float = 90) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest) -> Env:
    """This module's own docker-mode emulator (`local_project` of test_local_batch, instantiated here)."""
    return Env(request.getfixturevalue("local_project"))


def test_a_row_reclaimed_twice_finishes_on_the_on_demand_queue(env: Env, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "spot.csv", 2)
    argv = [
        sys.executable, "-m", "runner", "submit", "--env", "local", "--image", IMAGE, "--command", COMMAND,
        "--env-var", f"SPOT_QUEUE={env.queues['default']}", "--samples", str(sheet), "--memory", "64",
        "--retries", "1", "--name", "spot-run", "--wait", "--interval", "0.5", "--json",
    ]  # fmt: skip
    watcher = subprocess.Popen(argv, cwd=env.project.root, env=env.environ(), stdout=subprocess.PIPE, text=True)
    try:
        record = env.until("the run record", lambda: (r := env.record("spot-run")) and r["jobs"] and r)
        child = f"{record['jobs'][0]['job_id']}:0"
        for attempt in (1, 2):
            env.until(f"attempt {attempt} running", lambda a=attempt: len(env.job(child).get("attempts", [])) == a
                      and env.job(child)["status"] == "RUNNING")  # fmt: skip
            reclaimed = json.loads(env.runner("local", "reclaim", child, "--json").stdout)
            assert reclaimed["attempt"] == attempt
            assert reclaimed["status_reason"].startswith("Host EC2 (instance i-")
            assert reclaimed["status_reason"].endswith(") terminated.")
        out, _ = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, out
    final = json.loads(out)["status"]
    assert final["state"] == "SUCCEEDED" and final["counts"]["SUCCEEDED"] == 2 and final["counts"]["FAILED"] == 0

    # The job definition's retry strategy retried the first reclamation; the second exhausted it (2 attempts).
    lost = env.job(child)
    assert lost["status"] == "FAILED" and len(lost["attempts"]) == 2
    assert all(a["statusReason"].startswith("Host EC2") for a in lost["attempts"])
    assert all("exitCode" not in a["container"] for a in lost["attempts"])
    # The fallback moved row 0 to the on-demand queue, linked in the run record.
    record = env.record("spot-run")
    assert record is not None and len(record["jobs"]) == 2
    moved = record["jobs"][1]
    assert moved["kind"] == "retry" and moved["rows"] == {"ranges": [[0, 1]]} and moved["retry_of"] == child
    assert moved["queue"] == env.queues["priority"]
    assert moved["moved"] == "reclaimed 2 times (--max-spot-attempts 2)"
    rerun = env.job(moved["job_id"])
    assert rerun["status"] == "SUCCEEDED" and rerun["jobQueue"].endswith("/" + env.queues["priority"])
    assert rerun["tags"]["runner:sample"] == "S00000"

    status = env.runner("status", "spot-run", "--env", "local").stdout
    assert f"moved rows 0 to {env.queues['priority']} as {moved['job_id']}: reclaimed 2 times" in status
    assert status.strip().splitlines()[-1].startswith("cost $")

    cost = json.loads(env.runner("cost", "spot-run", "--env", "local", "--json").stdout)
    outcomes = sorted((a["sample"], a["outcome"], a["market"]) for a in cost["attempts"])
    assert outcomes == [
        ("S00000", "reclaimed", "spot"),
        ("S00000", "reclaimed", "spot"),
        ("S00000", "succeeded", "on-demand"),
        ("S00001", "succeeded", "spot"),
    ]
    assert cost["wasted"] > 0 and cost["by_outcome"]["reclaimed"] == cost["wasted"]
    assert cost["per_sample"]["S00000"]["attempts"] == 3


def test_an_application_error_exits_at_once_and_never_moves(env: Env, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "broken.csv", 1)
    proc = env.runner(
        "submit", "--env", "local", "--image", IMAGE, "--command", "echo broken; exit 3", "--samples", str(sheet),
        "--memory", "64", "--retries", "2", "--name", "broken-run", "--wait", "--interval", "0.5", "--json",
        check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    failure = json.loads(proc.stdout)["status"]["failures"][0]
    assert failure["exit_code"] == 3 and failure["reclaimed"] == 0
    record = env.record("broken-run")
    assert record is not None and len(record["jobs"]) == 1  # nothing moved
    job = env.job(record["jobs"][0]["job_id"])
    assert len(job["attempts"]) == 1  # evaluateOnExit: any exit code -> EXIT, despite --retries 2
    assert job["retryStrategy"]["attempts"] == 3


def test_reclaim_refuses_what_spot_would_not_take(env: Env) -> None:
    done = env.runner("local", "reclaim", "0" * 8 + "-0000-0000-0000-" + "0" * 12, "--env", "local", check=False)
    assert done.returncode == 2 and "no job" in done.stderr
    record = env.record("spot-run")
    assert record is not None
    finished = env.runner("local", "reclaim", record["jobs"][1]["job_id"], "--env", "local", check=False)
    assert finished.returncode == 2
    assert "is SUCCEEDED: only a RUNNING job's instance can be reclaimed" in finished.stderr


def test_retry_on_demand_moves_a_reclaimed_row_and_status_watch_follows_it(env: Env, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "later.csv", 1)
    env.runner(
        "submit", "--env", "local", "--image", IMAGE, "--command", COMMAND, "--samples", str(sheet),
        "--env-var", f"SPOT_QUEUE={env.queues['default']}", "--memory", "64", "--name", "later-run",
    )  # fmt: skip
    record = env.record("later-run")
    assert record is not None
    job_id = record["jobs"][0]["job_id"]
    env.until("the job running", lambda: env.job(job_id).get("status") == "RUNNING")
    nothing = json.loads(env.runner("retry", "later-run", "--on-demand", "--env", "local", "--json").stdout)
    assert nothing == {"run": "later-run", "moved": []}  # running, never reclaimed: stays
    env.runner("local", "reclaim", job_id)
    env.until("the reclaimed job failed", lambda: env.job(job_id).get("status") == "FAILED")  # no retries
    moved = json.loads(
        env.runner("retry", "later-run", "--on-demand", "--max-spot-attempts", "1", "--env", "local", "--json").stdout
    )
    assert [(m["job_id"], m["row"], m["reason"]) for m in moved["moved"]] == [
        (job_id, 0, "reclaimed 1 times (--max-spot-attempts 1)")
    ]
    watched = json.loads(
        env.runner("status", "later-run", "--watch", "--interval", "0.5", "--env", "local", "--json").stdout
    )
    assert watched["state"] == "SUCCEEDED" and watched["counts"]["SUCCEEDED"] == 1
    assert [j["queue"] for j in watched["jobs"]] == [None, env.queues["priority"]]
