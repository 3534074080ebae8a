"""Helpers shared by the tests: run the real `runner` CLI, copy the project, find free ports, require tools."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[1]
COPIED = ("envs", "modules", "packer", "examples")
IGNORED = shutil.ignore_patterns(
    ".terraform", "*.tfstate", "*.tfstate.*", ".terraform.lock.hcl", "ami.auto.tfvars.json"
)


def require_tool(name: str) -> str:
    """Tests that need a tool fail loudly when it is missing; they never skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"required tool '{name}' is not on PATH: run `make setup` (CI installs it in .ci/run)")
    return path


def require_aws_cli() -> str:
    """The AWS CLI the bench uses (`make bench` passes .venv/bench/bin/aws, installed from requirements/bench.txt by
    make setup's test target); RUNNER_AWS_CLI names another. Fails loudly when missing, never skips."""
    path = os.environ.get("RUNNER_AWS_CLI") or str(REPO / ".venv" / "bench" / "bin" / "aws")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the AWS CLI is not at {path}: run `make test` (it installs requirements/bench.txt there)")
    return path


def require_docker() -> None:
    """Docker-mode tests fail loudly, never skip, when no daemon answers (make setup / .ci/run start one)."""
    from runner.local import docker

    require_tool("docker")
    path = docker.socket_path()
    if path is None or not docker.Engine(path).ping():
        pytest.fail("no Docker daemon answers: run `make setup` (scripts/docker-up starts one; CI: .ci/run)")


def one_ce_queue(batch: Any, name: str, ce: str) -> str:
    """A job queue in front of one compute environment; its ARN."""
    return str(
        batch.create_job_queue(
            jobQueueName=name,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        )["jobQueueArn"]
    )


def batch_outputs(client: Callable[[str], Any], name: str, max_vcpus: int) -> dict[str, Any]:
    """An env made with boto3 directly (no terraform): a queue on a FARGATE compute environment of ``max_vcpus``,
    a job role, data/work/results buckets and a log group. Returns the outputs the CLI reads from
    ``RUNNER_OUTPUTS_FILE`` (the local Batch runs its jobs with ``max_vcpus`` in flight)."""
    ec2, iam, batch = client("ec2"), client("iam"), client("batch")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    sg = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]

    def role(role_name: str, service: str) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
        return str(iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])

    ce = batch.create_compute_environment(
        computeEnvironmentName=f"{name}-ce",
        type="MANAGED",
        state="ENABLED",
        serviceRole=role(f"{name}-batch", "batch.amazonaws.com"),
        computeResources={"type": "FARGATE", "maxvCpus": max_vcpus, "subnets": [subnet], "securityGroupIds": [sg]},
    )["computeEnvironmentArn"]
    queue = one_ce_queue(batch, f"{name}-default", ce)
    buckets = {kind: f"{name}-{kind}" for kind in ("data", "work", "results")}
    s3 = client("s3")
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    log_group = f"/aws/batch/{name}"
    client("logs").create_log_group(logGroupName=log_group)
    return {
        "region": "us-east-1",
        "name": name,
        "bucket_names": buckets,
        "bucket_arns": {k: f"arn:aws:s3:::{v}" for k, v in buckets.items()},
        "compute_environment_arns": {"default": ce},
        "job_queue_arns": {"default": queue},
        "job_queue_names": {"default": f"{name}-default"},
        "job_role_arn": role(f"{name}-job", "ecs-tasks.amazonaws.com"),
        "log_group_name": log_group,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_project(dest: Path) -> Path:
    """A scratch copy of everything terraform and packer read, so tests never touch the checkout's state."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = REPO / name
        if src.exists():
            shutil.copytree(src, dest / name, ignore=IGNORED, dirs_exist_ok=True)
    return dest


@dataclass
class Project:
    """One isolated project: its own copy, runner home and emulator port."""

    root: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    home: Path = field(init=False)  # its RUNNER_HOME

    def __post_init__(self) -> None:
        self.home = self.root / ".runner"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials(self) -> dict[str, str]:
        """The env's user credentials (made by `runner local up`) as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
        return env_credentials(self.home)

    def environ(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("ENV", "AWS_PROFILE")}
        env.update(
            RUNNER_ROOT=str(self.root),
            RUNNER_HOME=str(self.home),
            RUNNER_LOCAL_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
            # Submission bookkeeping tests use images that cannot be pulled here: jobs succeed at submission.
            # Tests of the local Batch itself pass RUNNER_LOCAL_BATCH=docker in extra_env.
            RUNNER_LOCAL_BATCH="instant",
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI (`python -m runner`) in a subprocess, as a user would."""
        proc = subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=self.root,
            env=env or self.environ(),
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"runner {' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                f"--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc

    def run_json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def client(self, service: str, region: str = "us-east-1", **kwargs: Any) -> Any:
        creds = self.credentials()
        signing = {
            "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region, **{**signing, **kwargs})


def env_client_credentials(home: Path) -> dict[str, str]:
    """The same, as boto3.client keyword arguments."""
    creds = env_credentials(home)
    return {"aws_access_key_id": creds["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"]}


def env_credentials(home: Path) -> dict[str, str]:
    """The user credentials of the emulator of RUNNER_HOME ``home`` (its credentials.json, written at up)."""
    from runner.local import credentials

    return credentials.load(credentials.path(home / "local")).user.env()


def batch_queue(proj: Project, prefix: str) -> tuple[str, str]:
    """A managed compute environment (c6i, r6i; up to 64 vCPUs) and a queue ``<prefix>-q`` on the project's
    emulator, made with boto3 (no terraform); returns their ARNs."""
    iam, ec2, batch = (proj.client(s) for s in ("iam", "ec2", "batch"))
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    service = iam.create_role(RoleName=f"{prefix}-svc", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName=f"{prefix}-inst")["InstanceProfile"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=prefix, Description=prefix, VpcId=vpc)["GroupId"]
    ce = batch.create_compute_environment(
        computeEnvironmentName=f"{prefix}-ce",
        type="MANAGED",
        state="ENABLED",
        serviceRole=service,
        computeResources={
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": 64,
            "instanceTypes": ["c6i", "r6i"],
            "subnets": [subnet],
            "securityGroupIds": [sg],
            "instanceRole": profile,
        },
    )["computeEnvironmentArn"]
    return str(ce), one_ce_queue(batch, f"{prefix}-q", ce)


def outputs_project(dest: Path) -> Project:
    """A scratch project whose outputs come from a file (``RUNNER_OUTPUTS_FILE``, written by `scratch_outputs`)."""
    root = copy_project(dest)
    return Project(root=root, port=free_port(), extra_env={"RUNNER_OUTPUTS_FILE": str(root / "outputs.json")})


def emulator_s3(endpoint: str, home: Path, pool: int, retries: dict[str, Any]) -> Any:
    """An S3 client on the emulator at ``endpoint`` with the credentials of RUNNER_HOME ``home``."""
    from botocore.config import Config

    creds = env_credentials(home)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        config=Config(max_pool_connections=pool, retries=retries),
    )


def scratch_outputs(proj: Project, prefix: str, buckets: dict[str, str], **extra: Any) -> None:
    """A queue ``<prefix>-q`` (`batch_queue`) and ``buckets`` on the project's emulator, and the outputs file
    (the project's ``RUNNER_OUTPUTS_FILE``) naming them, as a platform team hands one to analysts."""
    ce, queue = batch_queue(proj, prefix)
    s3 = proj.client("s3")
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    outputs = {
        "region": "us-east-1",
        "bucket_names": buckets,
        "job_queue_names": {"default": f"{prefix}-q"},
        "job_queue_arns": {"default": queue},
        "compute_environment_arns": {"ondemand": ce},
        **extra,
    }
    Path(proj.extra_env["RUNNER_OUTPUTS_FILE"]).write_text(json.dumps(outputs))


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one-line error a bad input must produce (and nothing else on stderr)."""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr}"
    return lines[0]
