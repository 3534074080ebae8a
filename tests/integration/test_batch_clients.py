"""Real AWS Batch clients that nobody here wrote run unchanged on the local env (docker mode): the AWS CLI, a
Metaflow flow with `@batch` steps, Snakemake's AWS Batch executor. Each is configured only as its own documentation
says, plus `runner local env`'s variables; their jobs run as real containers, in the `python` image where they run
Python (`runner local image build python`). `runner logs` then shows what those jobs printed.

One emulator for the module, started with RUNNER_LOCAL_ALLOW_PRIVILEGED=1: the Snakemake executor registers every
job definition privileged (README: "Real Batch clients"). Its queue, job role and bucket are made with boto3.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.local import images
from tests.helpers import Project, batch_queue, copy_project, free_port, require_aws_cli, require_docker

pytestmark = pytest.mark.integration

REGION = "us-east-1"
BUCKET = "clients-data"
ENV_LOG_GROUP = "/aws/batch/clients-env"  # the env's log group (its outputs): no client's job logs there
VENV_BIN = Path(sys.executable).parent


@dataclass
class Clients:
    project: Project
    environ: dict[str, str]  # a user's shell after `eval "$(runner local env)"`, with a HOME of its own
    queue: str  # job queue ARN
    role: str  # job role ARN

    def client(self, service: str) -> Any:
        return self.project.client(service, REGION)

    def run(self, args: list[str], cwd: Path, timeout: float = 900, **extra: str) -> str:
        env = {**self.environ, **extra}
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        where = f"{shlex.join(args)} exited {proc.returncode}"
        assert proc.returncode == 0, f"{where}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        return proc.stdout

    def logs(self, job_id: str) -> dict[str, Any]:
        """`runner logs JOB --json`, as an analyst runs it."""
        return dict(self.project.run_json("logs", job_id, "--env", "local", "--json"))


def client_environ(project: Project, home: Path) -> dict[str, str]:
    """The environment a client runs in: the user's, less any AWS settings, plus `runner local env`'s exports."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METAFLOW_", "SNAKEMAKE_"))}
    for line in project.run("local", "env").stdout.splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line)[1].partition("=")
            environ[name] = value
    assert {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(environ)
    return {**environ, "HOME": str(home), "PATH": f"{VENV_BIN}:{environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clients]:
    require_docker()
    images.ensure("base")
    images.ensure("python")
    root = copy_project(tmp_path_factory.mktemp("clients"))
    outputs = root / "outputs.json"
    extra = {"RUNNER_LOCAL_BATCH": "docker", "RUNNER_LOCAL_ALLOW_PRIVILEGED": "1", "RUNNER_OUTPUTS_FILE": str(outputs)}
    project = Project(root=root, port=free_port(), extra_env=extra)
    project.run("local", "up")
    try:
        _, queue = batch_queue(project, "clients")  # EC2 capacity (Metaflow wants an execution role for Fargate)
        iam = project.client("iam", REGION)
        trust = json.dumps({"Version": "2012-10-17", "Statement": []})
        role = iam.create_role(RoleName="clients-job", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        project.client("s3", REGION).create_bucket(Bucket=BUCKET)
        project.client("logs", REGION).create_log_group(logGroupName=ENV_LOG_GROUP)
        names = {"work": BUCKET, "data": BUCKET, "results": BUCKET}
        outputs.write_text(json.dumps({"region": REGION, "bucket_names": names, "log_group_name": ENV_LOG_GROUP}))
        yield Clients(project, client_environ(project, tmp_path_factory.mktemp("home")), queue, role)
    finally:
        project.run("local", "down", check=False)


# ---------------------------------------------------------------------------------------------------------------
# The AWS CLI
# ---------------------------------------------------------------------------------------------------------------


class Cli:
    def __init__(self, clients: Clients, cwd: Path) -> None:
        self.clients, self.cwd, self.path = clients, cwd, require_aws_cli()

    def __call__(self, *args: str) -> Any:
        out = self.clients.run([self.path, *args, "--output", "json"], self.cwd, timeout=120)
        return json.loads(out) if out.strip() else None

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self("batch", "describe-jobs", "--jobs", job_id)["jobs"][0])

    def wait(self, job_id: str, *statuses: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id))["status"] not in statuses:
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']} (waiting for {statuses})"
            time.sleep(1)
        return job

    def definition(self, name: str, command: list[str], **extra: Any) -> str:
        props = {
            "image": "batch-platform/base:latest",
            "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
            **extra,
        }
        args = ["--job-definition-name", name, "--type", "container", "--container-properties", json.dumps(props)]
        return str(self("batch", "register-job-definition", *args)["jobDefinitionArn"])

    def submit(self, definition: str, *args: str) -> str:
        where = ["--job-name", "cli", "--job-queue", self.clients.queue, "--job-definition", definition]
        return str(self("batch", "submit-job", *where, *args)["jobId"])


def test_the_aws_cli_runs_an_array_job_reads_its_logs_and_stops_jobs(clients: Clients, tmp_path: Path) -> None:
    cli = Cli(clients, tmp_path)
    script = "echo child $AWS_BATCH_JOB_ARRAY_INDEX of $AWS_BATCH_JOB_ARRAY_SIZE on $AWS_EXECUTION_ENV"
    array = cli.submit(cli.definition("cli-array", ["sh", "-c", script]), "--array-properties", "size=3")
    assert cli.wait(array, "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"
    listed = cli("batch", "list-jobs", "--array-job-id", array, "--job-status", "SUCCEEDED")["jobSummaryList"]
    assert sorted(j["jobId"] for j in listed) == [f"{array}:{i}" for i in range(3)]
    for i in range(3):
        stream = cli.job(f"{array}:{i}")["container"]["logStreamName"]
        events = cli("logs", "get-log-events", "--log-group-name", "/aws/batch/job", "--log-stream-name", stream)
        assert [e["message"] for e in events["events"]] == [f"child {i} of 3 on AWS_ECS_EC2"]

    sleeper = cli.submit(cli.definition("cli-sleep", ["sleep", "300"]))
    waiting = cli.submit(cli.definition("cli-after", ["true"]), "--depends-on", f"jobId={sleeper}")
    cli.wait(sleeper, "RUNNING")
    assert cli.job(waiting)["status"] == "PENDING"
    cli("batch", "cancel-job", "--job-id", waiting, "--reason", "cancelled by the cli")
    cli("batch", "terminate-job", "--job-id", sleeper, "--reason", "terminated by the cli")
    assert cli.wait(waiting, "FAILED")["statusReason"] == "cancelled by the cli"
    assert cli.wait(sleeper, "FAILED")["statusReason"] == "terminated by the cli"


# ---------------------------------------------------------------------------------------------------------------
# runner logs: the group each job logs to
# ---------------------------------------------------------------------------------------------------------------


def test_runner_logs_reads_the_group_the_job_logs_to_not_the_envs(clients: Clients, tmp_path: Path) -> None:
    """A definition that names a log group logs there; one that names none logs to /aws/batch/job, as on AWS.
    `runner logs` reads each job's own (DescribeJobs' logConfiguration), never the env's group."""
    cli = Cli(clients, tmp_path)
    clients.client("logs").create_log_group(logGroupName="/clients/named")
    config = {"logDriver": "awslogs", "options": {"awslogs-group": "/clients/named"}}
    named = cli.submit(cli.definition("logs-named", ["echo", "in the named group"], logConfiguration=config))
    plain = cli.submit(cli.definition("logs-plain", ["echo", "in the default group"]))
    expected = {named: ("/clients/named", "in the named group"), plain: ("/aws/batch/job", "in the default group")}
    for job_id, (group, line) in expected.items():
        assert cli.wait(job_id, "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"
        shown = clients.logs(job_id)
        assert (shown["log_group"], shown["lines"]) == (group, [line])
    assert clients.project.run("logs", plain, "--env", "local").stdout.strip() == "in the default group"


# ---------------------------------------------------------------------------------------------------------------
# Metaflow
# ---------------------------------------------------------------------------------------------------------------

FLOW = """
from metaflow import FlowSpec, batch, step


class SquaresFlow(FlowSpec):
    @step
    def start(self):
        self.numbers = [1, 2, 3]
        self.next(self.square, foreach="numbers")

    @batch(cpu=1, memory=1024)
    @step
    def square(self):
        self.result = self.input**2
        print(f"square of {self.input} is {self.result}")
        self.next(self.join)

    @batch(cpu=1, memory=1024)
    @step
    def join(self, inputs):
        self.total = sum(i.result for i in inputs)
        print(f"total of squares is {self.total}")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SquaresFlow()
"""

# Metaflow's client API: the run's artifacts and the Batch jobs its tasks ran as (task metadata)
ARTIFACTS = """
import json
from metaflow import Flow
run = Flow("SquaresFlow").latest_run
tasks = [(t, t.metadata_dict) for step in ("square", "join") for t in run[step]]
print(json.dumps({
    "successful": run.successful,
    "total": run["join"].task.data.total,
    "squares": sorted(t.data.result for t in run["square"]),
    "jobs": [m["aws-batch-job-id"] for _, m in tasks],
    "execution_env": sorted({m["aws-batch-execution-env"] for _, m in tasks}),
}))
"""


def test_a_metaflow_foreach_flow_runs_unchanged_on_the_local_batch(clients: Clients, tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    metaflow = {  # Metaflow's documented configuration for AWS Batch with an S3 datastore
        "METAFLOW_USER": "analyst",
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
        "METAFLOW_DATATOOLS_S3ROOT": f"s3://{BUCKET}/metaflow/data",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_BATCH_JOB_QUEUE": clients.queue,
        "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": clients.role,
        "METAFLOW_BATCH_CONTAINER_IMAGE": images.recipe("python").image,
        "METAFLOW_S3_ENDPOINT_URL": clients.environ["AWS_ENDPOINT_URL"],  # the host's address: jobs get it too
    }
    clients.run([sys.executable, "flow.py", "run"], tmp_path, **metaflow)
    got = json.loads(clients.run([sys.executable, "-c", ARTIFACTS], tmp_path, **metaflow))
    assert got["successful"] and got["total"] == 14 and got["squares"] == [1, 4, 9]
    assert got["execution_env"] == ["AWS_ECS_EC2"] and len(got["jobs"]) == 4
    printed = {line for job_id in got["jobs"] for line in clients.logs(job_id)["lines"]}
    expected = {"square of 1 is 1", "square of 2 is 4", "square of 3 is 9", "total of squares is 14"}
    assert expected <= printed, sorted(printed)


# ---------------------------------------------------------------------------------------------------------------
# Snakemake's AWS Batch executor
# ---------------------------------------------------------------------------------------------------------------

SNAKEFILE = """
rule all:
    input:
        "results/summary.txt",


rule greet:
    output:
        "results/hello.txt",
    shell:
        "echo hello from job $AWS_BATCH_JOB_ID > {output}"


rule summarize:
    input:
        "results/hello.txt",
    output:
        "results/summary.txt",
    shell:
        "cat {input} > {output}; echo lines: $(wc -l < {input}) >> {output}"
"""


def test_a_snakemake_workflow_runs_on_the_local_batch_with_outputs_in_s3(clients: Clients, tmp_path: Path) -> None:
    """The executor's job command pip-installs snakemake-storage-plugin-s3 (network by design): the python image
    has it and its dependencies as wheels, with PIP_NO_INDEX and PIP_FIND_LINKS, so pip installs it offline."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    options = {
        "--executor": "aws-batch",
        "--aws-batch-region": REGION,
        "--aws-batch-job-queue": clients.queue,
        "--aws-batch-job-role": clients.role,
        "--default-storage-provider": "s3",
        "--default-storage-prefix": f"s3://{BUCKET}/snakemake",
        "--container-image": images.recipe("python").image,
        "--jobs": "2",
    }
    clients.run([str(VENV_BIN / "snakemake"), *(part for pair in options.items() for part in pair)], tmp_path)
    s3 = clients.client("s3")
    summary = s3.get_object(Bucket=BUCKET, Key="snakemake/results/summary.txt")["Body"].read().decode()
    jobs = clients.client("batch").list_jobs(jobQueue=clients.queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    by_rule = {j["jobName"].split("-")[1]: j["jobId"] for j in jobs if j["jobName"].startswith("snakejob-")}
    assert set(by_rule) == {"greet", "summarize"}
    assert summary.splitlines() == [f"hello from job {by_rule['greet']}", "lines: 1"]
    for job_id in by_rule.values():
        lines = clients.logs(job_id)["lines"]
        assert f"Looking in links: {images.WHEELHOUSE}" in lines, lines
        installed = [ln for ln in lines if ln.startswith("Successfully installed ")]
        assert installed and "snakemake-storage-plugin-s3-" in installed[0]
