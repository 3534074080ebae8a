"""The local Batch (docker mode): jobs submitted to the emulator run as real containers, as AWS Batch runs them.

One emulator for the module, started with `runner local up` in a scratch project (RUNNER_LOCAL_BATCH=docker);
compute environments, queues and job definitions are registered with boto3 (no terraform: fast). Images come
from `runner.local.images` (built offline when missing). The emulator is started with a fake profile, session
token and a canary variable in its environment: no container may see them.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from runner.local import credentials, docker, images
from tests.helpers import Project, copy_project, free_port, require_tool

pytestmark = pytest.mark.integration

REGION = "us-east-1"
LEAKS = {
    "AWS_PROFILE": "leaky-profile",
    "AWS_SESSION_TOKEN": "leaky-token",
    "AWS_SECRET_ACCESS_KEY": "leaky-secret",
    "RUNNER_LEAK_CANARY": "leaky-canary",
}
TERMINAL = ("SUCCEEDED", "FAILED")


def require_docker() -> None:
    require_tool("docker")
    path = docker.socket_path()
    if path is None or not docker.Engine(path).ping():
        pytest.fail("no Docker daemon answers: start dockerd (CI: .ci/run starts it); these tests never skip")


class LocalBatch:
    """boto3 against the module's emulator, with helpers to declare capacity and wait for jobs."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.batch = project.client("batch", REGION)
        self.logs = project.client("logs", REGION)
        self.s3 = project.client("s3", REGION)
        ec2 = project.client("ec2", REGION)
        self.subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        self.sg = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
        iam = project.client("iam", REGION)
        self.role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        status = json.loads(project.run("local", "status", "--json").stdout)
        self.job_endpoint = str(status["job_endpoint"])
        self.job_keys = credentials.load(project.home / "local" / credentials.FILE).job

    def environment(self, max_vcpus: int) -> str:
        name = f"ce-{uuid.uuid4().hex[:8]}"
        arn = self.batch.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            state="ENABLED",
            serviceRole=self.role,
            computeResources={
                "type": "FARGATE",
                "maxvCpus": max_vcpus,
                "subnets": [self.subnet],
                "securityGroupIds": [self.sg],
            },
        )["computeEnvironmentArn"]
        return str(arn)

    def queue(self, *environments: str, priority: int = 1, **extra: Any) -> str:
        order = [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(environments)]
        arn = self.batch.create_job_queue(
            jobQueueName=f"q-{uuid.uuid4().hex[:8]}",
            state="ENABLED",
            priority=priority,
            computeEnvironmentOrder=order,
            **extra,
        )["jobQueueArn"]
        return str(arn)

    def definition(self, command: list[str], image: str = "batch-platform/base:latest", **props: Any) -> str:
        vcpus = props.pop("vcpus", 1)
        memory = props.pop("memory", 128)
        extra = {k: props.pop(k) for k in ("retryStrategy", "timeout") if k in props}
        container = {
            "image": image,
            "command": command,
            "resourceRequirements": [
                {"type": "VCPU", "value": str(vcpus)},
                {"type": "MEMORY", "value": str(memory)},
            ],
            **props,
        }
        arn = self.batch.register_job_definition(
            jobDefinitionName=f"jd-{uuid.uuid4().hex[:8]}", type="container", containerProperties=container, **extra
        )["jobDefinitionArn"]
        return str(arn)

    def submit(self, queue: str, definition: str, **kwargs: Any) -> str:
        return str(self.batch.submit_job(jobName="t", jobQueue=queue, jobDefinition=definition, **kwargs)["jobId"])

    def describe(self, job_id: str) -> dict[str, Any]:
        jobs = self.batch.describe_jobs(jobs=[job_id])["jobs"]
        assert jobs, f"no job {job_id}"
        return dict(jobs[0])

    def wait(self, job_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.describe(job_id)
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} still {job['status']} after {timeout:.0f}s (waiting for {statuses})")
            time.sleep(0.2)

    def lines(self, job: dict[str, Any], group: str = "/aws/batch/job", stream: str | None = None) -> list[str]:
        stream = stream or job["container"]["logStreamName"]
        events = self.logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        return [e["message"] for e in events]


@pytest.fixture(scope="module")
def local_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    require_docker()
    images.ensure("base")
    root = copy_project(tmp_path_factory.mktemp("local-batch"))
    project = Project(root=root, port=free_port(), extra_env={"RUNNER_LOCAL_BATCH": "docker"})
    up = json.loads(project.run("local", "up", "--json", env=project.environ(**LEAKS)).stdout)
    assert up["batch"] == "docker"
    yield project
    project.run("local", "down", check=False)


@pytest.fixture(scope="module")
def lb(local_project: Project) -> LocalBatch:
    return LocalBatch(local_project)


@pytest.fixture(scope="module")
def roomy(lb: LocalBatch) -> str:
    """A queue with plenty of room."""
    return lb.queue(lb.environment(max_vcpus=64))


def env_of(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_status_reports_docker_mode(local_project: Project) -> None:
    status = json.loads(local_project.run("local", "status", "--json").stdout)
    assert status["running"] is True
    assert status["batch"] == "docker"
    assert "batch docker" in local_project.run("local", "status").stdout


def test_array_children_get_their_index_and_own_environment(lb: LocalBatch, roomy: str) -> None:
    jd = lb.definition(["sh", "-c", "env"], environment=[{"name": "FROM_DEF", "value": "d"}])
    job_id = lb.submit(
        roomy,
        jd,
        arrayProperties={"size": 3},
        containerOverrides={"environment": [{"name": "FROM_SUBMIT", "value": "s"}]},
    )
    parent = lb.wait(job_id)
    assert parent["status"] == "SUCCEEDED"
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    queue_name = roomy.rsplit("/", 1)[-1]
    for index in range(3):
        child = lb.describe(f"{job_id}:{index}")
        env = env_of(lb.lines(child))
        assert env["AWS_BATCH_JOB_ARRAY_INDEX"] == str(index)
        assert env["AWS_BATCH_JOB_ID"] == f"{job_id}:{index}"
        assert env["AWS_BATCH_JOB_ATTEMPT"] == "1"
        assert env["AWS_BATCH_JQ_NAME"] == queue_name
        assert env["AWS_BATCH_CE_NAME"].startswith("ce-")
        assert env["FROM_DEF"] == "d" and env["FROM_SUBMIT"] == "s"
        # the jobs' own way in (their network's gateway) and the env's job key pair: not the user's, not dummies
        assert env["AWS_ENDPOINT_URL"] == lb.job_endpoint != lb.project.endpoint
        assert env["AWS_ACCESS_KEY_ID"] == lb.job_keys.access_key_id != lb.project.credentials()["AWS_ACCESS_KEY_ID"]
        assert env["AWS_SECRET_ACCESS_KEY"] == lb.job_keys.secret_access_key != "testing"
        assert env["AWS_REGION"] == REGION
        # Nothing of the emulator's own environment (a profile, a session token, a canary) reaches a container.
        assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "RUNNER_LEAK_CANARY"} & set(env), env
        assert not any(value in "\n".join(lb.lines(child)) for value in LEAKS.values())


def test_vcpus_and_memory_become_cpu_quota_and_hard_memory_limit(lb: LocalBatch, roomy: str) -> None:
    script = (
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || "
        "cat /sys/fs/cgroup/cpu.max; "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
    )
    host_cpus = int(docker.Engine().call("GET", "/info")["NCPU"])
    expected_cpus = {1: 1.0, 8: float(min(8, host_cpus))}  # 8 vCPUs still runs: clamped to the host's CPUs
    for vcpus, cpus in expected_cpus.items():
        job = lb.wait(lb.submit(roomy, lb.definition(["sh", "-c", script], vcpus=vcpus, memory=96)))
        assert job["status"] == "SUCCEEDED", job
        values = " ".join(lb.lines(job)).split()
        quota, period, memory = int(values[0]), int(values[1]), int(values[-1])
        assert quota / period == pytest.approx(cpus)
        assert memory == 96 * 1024 * 1024


def test_out_of_memory_is_failed_with_137_and_batch_reason(lb: LocalBatch, roomy: str) -> None:
    jd = lb.definition(["sh", "-c", "echo filling; dd if=/dev/zero of=/dev/null bs=256M count=1"], memory=32)
    job = lb.wait(lb.submit(roomy, jd))
    assert job["status"] == "FAILED"
    assert job["container"]["exitCode"] == 137
    assert job["statusReason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert job["container"]["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert job["attempts"][0]["container"]["exitCode"] == 137


def test_status_sequence_and_timestamps(lb: LocalBatch, roomy: str) -> None:
    job_id = lb.submit(roomy, lb.definition(["sh", "-c", "sleep 2"]))
    seen: list[str] = []
    while not seen or seen[-1] not in TERMINAL:
        status = lb.describe(job_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.05)
    order = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert [s for s in order if s in seen] == seen, seen  # never out of order
    assert "RUNNING" in seen and seen[-1] == "SUCCEEDED"
    job = lb.describe(job_id)
    assert job["createdAt"] <= job["startedAt"] <= job["stoppedAt"]
    assert job["stoppedAt"] - job["startedAt"] >= 1900


def test_array_parent_fails_when_a_child_fails(lb: LocalBatch, roomy: str) -> None:
    jd = lb.definition(["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1 || exit 3'])
    job_id = lb.submit(roomy, jd, arrayProperties={"size": 3})
    parent = lb.wait(job_id)
    assert parent["status"] == "FAILED"
    summary = parent["arrayProperties"]["statusSummary"]
    assert (summary["SUCCEEDED"], summary["FAILED"]) == (2, 1)
    child = lb.describe(f"{job_id}:1")
    assert child["status"] == "FAILED" and child["container"]["exitCode"] == 3
    listed = lb.batch.list_jobs(arrayJobId=job_id, jobStatus="FAILED")["jobSummaryList"]
    assert [j["jobId"] for j in listed] == [f"{job_id}:1"]


def test_retries_follow_evaluate_on_exit_and_record_every_attempt(lb: LocalBatch, roomy: str) -> None:
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [{"onExitCode": "7", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}],
    }
    flaky = lb.definition(
        ["sh", "-c", 'echo "attempt $AWS_BATCH_JOB_ATTEMPT"; test "$AWS_BATCH_JOB_ATTEMPT" -ge 3 || exit 7'],
        retryStrategy=strategy,
    )
    job = lb.wait(lb.submit(roomy, flaky))
    assert job["status"] == "SUCCEEDED"
    assert [a["container"]["exitCode"] for a in job["attempts"]] == [7, 7, 0]
    streams = [a["container"]["logStreamName"] for a in job["attempts"]]
    assert len(set(streams)) == 3
    assert [lb.lines(job, stream=s) for s in streams] == [["attempt 1"], ["attempt 2"], ["attempt 3"]]
    assert all(a["startedAt"] <= a["stoppedAt"] for a in job["attempts"])

    # Exit code 9 matches no RETRY rule; the catch-all EXIT stops at the first attempt.
    fatal = lb.definition(["sh", "-c", "exit 9"], retryStrategy=strategy)
    job = lb.wait(lb.submit(roomy, fatal))
    assert job["status"] == "FAILED" and len(job["attempts"]) == 1
    assert job["attempts"][0]["container"]["exitCode"] == 9

    # No rule matches at all: Batch retries. A retryStrategy given at submission overrides the definition's.
    job = lb.wait(
        lb.submit(
            roomy, fatal, retryStrategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "1*", "action": "EXIT"}]}
        )
    )
    assert job["status"] == "FAILED" and [a["container"]["exitCode"] for a in job["attempts"]] == [9, 9]


def test_timeout_stops_the_container_with_batch_reason(lb: LocalBatch, roomy: str) -> None:
    jd = lb.definition(
        ["sh", "-c", "echo started; sleep 60"], timeout={"attemptDurationSeconds": 2}, retryStrategy={"attempts": 2}
    )
    job = lb.wait(lb.submit(roomy, jd), timeout=40)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(job["attempts"]) == 1  # a timed-out attempt is not retried
    assert job["stoppedAt"] - job["startedAt"] < 30_000
    assert lb.lines(job) == ["started"]


def test_depends_on_plain_sequential_and_n_to_n(lb: LocalBatch, roomy: str) -> None:
    ok = lb.definition(["sh", "-c", "sleep 1"])
    fail = lb.definition(["sh", "-c", "exit 1"])

    first = lb.submit(roomy, ok)
    after = lb.submit(roomy, ok, dependsOn=[{"jobId": first}])
    broken = lb.submit(roomy, fail)
    doomed = lb.submit(roomy, ok, dependsOn=[{"jobId": broken}])
    sequential = lb.submit(roomy, ok, arrayProperties={"size": 3}, dependsOn=[{"type": "SEQUENTIAL"}])
    left = lb.submit(roomy, ok, arrayProperties={"size": 2})
    right = lb.submit(roomy, ok, arrayProperties={"size": 2}, dependsOn=[{"jobId": left, "type": "N_TO_N"}])

    a, b = lb.wait(first), lb.wait(after)
    assert b["status"] == "SUCCEEDED" and b["startedAt"] >= a["stoppedAt"]

    d = lb.wait(doomed)
    assert d["status"] == "FAILED"
    assert d["statusReason"].startswith("Dependent Job failed")
    assert not d["attempts"]  # never ran

    assert lb.wait(sequential)["status"] == "SUCCEEDED"
    children = [lb.describe(f"{sequential}:{i}") for i in range(3)]
    for before, later in itertools.pairwise(children):
        assert later["startedAt"] >= before["stoppedAt"]

    assert lb.wait(right)["status"] == "SUCCEEDED"
    for i in range(2):
        assert lb.describe(f"{right}:{i}")["startedAt"] >= lb.describe(f"{left}:{i}")["stoppedAt"]


def test_max_vcpus_caps_running_jobs_and_higher_priority_queues_go_first(lb: LocalBatch) -> None:
    one_cpu = lb.environment(max_vcpus=1)
    low, high = lb.queue(one_cpu, priority=1), lb.queue(one_cpu, priority=10)
    blocker = lb.submit(low, lb.definition(["sh", "-c", "sleep 2"]))
    lb.wait(blocker, ("RUNNING",))
    short = lb.definition(["sh", "-c", "sleep 0.2"])
    lows = [lb.submit(low, short) for _ in range(2)]
    highs = [lb.submit(high, short) for _ in range(2)]
    time.sleep(0.5)
    assert {lb.describe(j)["status"] for j in lows + highs} == {"RUNNABLE"}  # no room: they wait
    jobs = [lb.wait(j) for j in [blocker, *lows, *highs]]
    assert {j["status"] for j in jobs} == {"SUCCEEDED"}
    assert max(j["startedAt"] for j in jobs[3:]) < min(j["startedAt"] for j in jobs[1:3])  # high before low
    spans = sorted((j["startedAt"], j["stoppedAt"]) for j in jobs)
    for (_, stop), (start, _) in itertools.pairwise(spans):
        assert start >= stop  # never two at once on a 1-vCPU environment


def test_queue_job_state_time_limit_action_cancels_a_job_that_cannot_start(lb: LocalBatch) -> None:
    action = {
        "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
        "state": "RUNNABLE",
        "maxTimeSeconds": 1,  # Batch's minimum is 600; the local Batch takes any value so tests stay short
        "action": "CANCEL",
    }
    unvalidated = lb.project.client("batch", REGION, config=Config(parameter_validation=False))
    queue = unvalidated.create_job_queue(
        jobQueueName=f"q-{uuid.uuid4().hex[:8]}",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": lb.environment(max_vcpus=1)}],
        jobStateTimeLimitActions=[action],
    )["jobQueueArn"]
    described = lb.batch.describe_job_queues(jobQueues=[queue])["jobQueues"][0]
    assert described["jobStateTimeLimitActions"] == [action]
    job = lb.wait(lb.submit(queue, lb.definition(["true"], vcpus=4)), timeout=30)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    assert not job["attempts"]


def test_cancel_reaches_waiting_children_and_terminate_stops_running_jobs(lb: LocalBatch) -> None:
    queue = lb.queue(lb.environment(max_vcpus=1))
    blocker = lb.submit(queue, lb.definition(["sh", "-c", "sleep 60"]))
    lb.wait(blocker, ("RUNNING",))
    array = lb.submit(queue, lb.definition(["true"]), arrayProperties={"size": 3})
    lb.wait(f"{array}:2", ("RUNNABLE",))
    lb.batch.cancel_job(jobId=array, reason="not needed")
    parent = lb.wait(array, timeout=10)
    assert parent["status"] == "FAILED"
    for i in range(3):
        child = lb.describe(f"{array}:{i}")
        assert (child["status"], child["statusReason"]) == ("FAILED", "not needed")

    lb.batch.cancel_job(jobId=blocker, reason="too late")  # CancelJob leaves a RUNNING job alone
    time.sleep(0.5)
    assert lb.describe(blocker)["status"] == "RUNNING"
    lb.batch.terminate_job(jobId=blocker, reason="stop now")
    job = lb.wait(blocker, timeout=20)
    assert (job["status"], job["statusReason"]) == ("FAILED", "stop now")
    assert job["stoppedAt"] - job["startedAt"] < 20_000

    running = lb.submit(
        lb.queue(lb.environment(max_vcpus=4)), lb.definition(["sh", "-c", "sleep 60"]), arrayProperties={"size": 2}
    )
    lb.wait(f"{running}:0", ("RUNNING",))
    lb.batch.terminate_job(jobId=running, reason="whole array")
    assert lb.wait(running, timeout=20)["status"] == "FAILED"
    assert {lb.describe(f"{running}:{i}")["statusReason"] for i in range(2)} == {"whole array"}


def test_missing_image_fails_quickly_with_cannot_pull(lb: LocalBatch, roomy: str) -> None:
    jd = lb.definition(["true"], image="batch-platform/no-such-image:1")
    job = lb.wait(lb.submit(roomy, jd), timeout=60)
    assert job["status"] == "FAILED"
    assert job["statusReason"].startswith("CannotPullContainerError: ")
    assert job["statusReason"].endswith("(build it offline: runner local image build no-such-image)")


def test_logs_reach_cloudwatch_while_the_container_runs(lb: LocalBatch, roomy: str) -> None:
    config = {"logDriver": "awslogs", "options": {"awslogs-group": "/test/local-batch", "awslogs-stream-prefix": "pfx"}}
    jd = lb.definition(["sh", "-c", "echo first; echo oops >&2; sleep 10; echo second"], logConfiguration=config)
    job_id = lb.submit(roomy, jd)
    job = lb.wait(job_id, ("RUNNING",))
    stream = job["container"]["logStreamName"]
    assert stream.startswith("pfx/default/")
    deadline = time.monotonic() + 8
    seen: list[str] = []
    while len(seen) < 2 and time.monotonic() < deadline:
        seen = lb.lines(job, group="/test/local-batch")
        time.sleep(0.1)
    assert lb.describe(job_id)["status"] == "RUNNING"
    # stdout and stderr are two pipes: like Batch, their relative order is not guaranteed.
    assert sorted(seen) == ["first", "oops"]
    job = lb.wait(job_id)
    lines = lb.lines(job, group="/test/local-batch")
    assert sorted(lines[:2]) == ["first", "oops"] and lines[2:] == ["second"]
    assert job["attempts"][0]["container"]["logStreamName"] == stream

    # Without a logConfiguration: /aws/batch/job, stream <job definition name>/default/<task id>.
    plain = lb.wait(lb.submit(roomy, lb.definition(["echo", "plain"])))
    name = plain["jobDefinition"].rsplit("/", 1)[-1].split(":")[0]
    assert plain["container"]["logStreamName"].startswith(f"{name}/default/")
    assert lb.lines(plain) == ["plain"]


def test_unchanged_scripts_reach_the_emulator_with_debian_aws_cli_and_boto3(lb: LocalBatch, roomy: str) -> None:
    images.ensure("tools")
    lb.s3.create_bucket(Bucket="local-batch-data")
    lb.s3.put_object(Bucket="local-batch-data", Key="in/reads.txt", Body=b"a\nb\nc\n")
    script = (
        "set -e; aws s3 cp s3://local-batch-data/in/reads.txt /tmp/reads.txt; "
        "wc -l < /tmp/reads.txt > /tmp/count; aws s3 cp /tmp/count s3://local-batch-data/out/cli.txt; "
        'python3 -c \'import boto3; boto3.client("s3").put_object(Bucket="local-batch-data", '
        'Key="out/boto3.txt", Body=b"from boto3")\''
    )
    job = lb.wait(lb.submit(roomy, lb.definition(["bash", "-c", script], image="batch-platform/tools:latest")))
    assert job["status"] == "SUCCEEDED", lb.lines(job)
    assert lb.s3.get_object(Bucket="local-batch-data", Key="out/cli.txt")["Body"].read().strip() == b"3"
    assert lb.s3.get_object(Bucket="local-batch-data", Key="out/boto3.txt")["Body"].read() == b"from boto3"


def test_runner_logs_follow_prints_lines_before_the_job_ends(lb: LocalBatch, roomy: str, tmp_path: Path) -> None:
    config = {"logDriver": "awslogs", "options": {"awslogs-group": "/test/follow"}}
    jd = lb.definition(["sh", "-c", "echo tick-1; sleep 120; echo tick-2"], logConfiguration=config)
    job_id = lb.submit(roomy, jd)
    lb.wait(job_id, ("RUNNING",))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"bucket_names": {"work": "unused"}, "log_group_name": "/test/follow"}))
    env = lb.project.environ(RUNNER_OUTPUTS_FILE=str(outputs), RUNNER_POLL_INTERVAL="0.5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "logs", job_id, "--follow", "--env", "local"],
        cwd=lb.project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    status_then = lb.describe(job_id)["status"]
    lb.batch.terminate_job(jobId=job_id, reason="seen enough")  # --follow stops once the job ends
    rest, err = proc.communicate(timeout=60)
    assert first == "tick-1", err
    assert status_then == "RUNNING"  # printed while the job still ran
    assert rest.split() == []


def test_a_large_array_runs_on_a_bounded_pool_of_threads(lb: LocalBatch, roomy: str) -> None:
    pid = json.loads(lb.project.run("local", "status", "--json").stdout)["pid"]
    job_id = lb.submit(roomy, lb.definition(["true"]), arrayProperties={"size": 100})
    most = 0
    while lb.describe(job_id)["status"] not in TERMINAL:
        most = max(most, len(os.listdir(f"/proc/{pid}/task")))
        time.sleep(0.2)
    assert lb.describe(job_id)["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 100
    assert most < 40  # one scheduler, 16 workers and the server's request threads; not one per child


def test_local_down_removes_the_containers_it_started(lb: LocalBatch, roomy: str) -> None:
    """Last in the module: it stops the module's emulator."""
    job_id = lb.submit(roomy, lb.definition(["sh", "-c", "sleep 120"]))
    lb.wait(job_id, ("RUNNING",))
    pid = json.loads(lb.project.run("local", "status", "--json").stdout)["pid"]
    engine = docker.Engine()
    label = f"{docker.EMULATOR_LABEL}={pid}"
    assert [c["Labels"]["runner.local.job"] for c in engine.containers(label)] == [job_id]
    lb.project.run("local", "down")
    assert engine.containers(label) == []
