"""Analysts need no terraform: with the platform's outputs published in SSM (``/<name>/runner/outputs``), the
analysts' commands work with terraform off PATH, no state and no outputs cache.

No terraform here: a compute environment, a queue and buckets are made with boto3 and the parameter is put by
the test itself, as `modules/platform` publishes it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Project, batch_queue, copy_project, free_port

pytestmark = pytest.mark.integration

IMAGE = "public.ecr.aws/docker/library/bash:5"
PARAMETER = "/batch-local/runner/outputs"  # envs/local/terraform.tfvars: name = "batch-local"


def without_terraform() -> str:
    """PATH minus every folder holding terraform or tofu."""
    keep = [
        d
        for d in os.environ["PATH"].split(os.pathsep)
        if not any((Path(d) / t).exists() for t in ("terraform", "tofu"))
    ]
    path = os.pathsep.join(keep)
    assert shutil.which("terraform", path=path) is None and shutil.which("tofu", path=path) is None
    return path


@pytest.fixture(scope="module")
def analyst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = copy_project(tmp_path_factory.mktemp("published"))
    proj = Project(root=root, port=free_port(), extra_env={"PATH": without_terraform()})
    proj.extra_env["TERRAFORM_BINARY"] = ""
    proj.run("local", "up")
    try:
        yield proj
    finally:
        proj.run("local", "down", check=False)


def test_analysts_commands_read_the_published_outputs(analyst: Project, tmp_path: Path) -> None:
    assert not (analyst.root / "envs" / "local" / "terraform.tfstate").exists()
    assert not (analyst.root / "envs" / "local" / ".terraform").exists()
    # Not published yet: the runner falls through to terraform, which is not there.
    before = analyst.run("list", "--env", "local", check=False)
    assert before.returncode == 2 and "terraform" in before.stderr and "Traceback" not in before.stderr

    ce, queue = batch_queue(analyst, "pub")
    s3 = analyst.client("s3")
    for bucket in ("pub-work", "pub-data"):
        s3.create_bucket(Bucket=bucket)
    contract = {
        "region": "us-east-1",
        "name": "batch-local",
        "bucket_names": {"work": "pub-work", "data": "pub-data"},
        "job_queue_names": {"default": "pub-q"},
        "job_queue_arns": {"default": queue},
        "compute_environment_arns": {"ondemand": ce},
    }
    analyst.client("ssm").put_parameter(Name=PARAMETER, Type="String", Value=json.dumps(contract))

    sheet = tmp_path / "two.csv"
    sheet.write_text("sample,x\nS0,a\nS1,b\n")
    submitted = json.loads(
        analyst.run(
            "submit", "--env", "local", "--image", IMAGE, "--command", "true", "--samples", str(sheet),
            "--name", "published", "--wait", "--interval", "0.05", "--json",
        ).stdout
    )  # fmt: skip
    assert submitted["queue"] == "pub-q" and submitted["status"]["state"] == "SUCCEEDED"
    status = json.loads(analyst.run("status", "published", "--env", "local", "--json").stdout)
    assert status["state"] == "SUCCEEDED" and status["counts"]["SUCCEEDED"] == 2
    listed = json.loads(analyst.run("list", "--env", "local", "--json").stdout)
    assert [r["run"] for r in listed] == ["published"]
    record = json.loads(s3.get_object(Bucket="pub-work", Key="runs/published/run.json")["Body"].read())
    assert record["jobs"][0]["job_id"] == status["jobs"][0]["job_id"]
    # Published values are read each time, never cached as if terraform had given them.
    assert not (analyst.home / "outputs" / "local.json").exists()
