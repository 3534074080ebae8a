"""`runner infra bootstrap`: the state bucket of an S3-backend env, created on the embedded AWS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Project, error_line, require_tool

pytestmark = pytest.mark.integration

ENV = "bootstrapdev"


@pytest.fixture(scope="module")
def s3_env(project: Project, emulator: dict[str, Any]) -> Path:
    """A copy of envs/dev (S3 backend) that runs against the emulator: only its runner.toml differs."""
    path = project.root / "envs" / ENV
    shutil.copytree(project.root / "envs" / "dev", path, dirs_exist_ok=True)
    (path / "backend.hcl").unlink(missing_ok=True)
    (path / "runner.toml").write_text("emulator = true\nprotected = false\n")
    return path


def test_bootstrap_creates_a_versioned_encrypted_tls_only_state_bucket(project: Project, s3_env: Path) -> None:
    result = project.run_json("infra", "bootstrap", "--env", ENV, "--json")
    assert result["created"] is True and result["region"] == "eu-west-1"
    bucket = result["bucket"]
    assert bucket == "batch-platform-dev-tfstate-123456789012"
    s3 = project.client("s3", region="eu-west-1")
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    statement = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    backend = (s3_env / "backend.hcl").read_text()
    assert f'bucket = "{bucket}"' in backend and 'region = "eu-west-1"' in backend

    again = project.run_json("infra", "bootstrap", "--env", ENV, "--json")
    assert again["created"] is False and again["bucket"] == bucket


def test_terraform_keeps_the_envs_state_in_the_bootstrapped_bucket(project: Project, s3_env: Path) -> None:
    require_tool("terraform")
    bucket = project.run_json("infra", "bootstrap", "--env", ENV, "--json")["bucket"]
    project.run("infra", "init", "--env", ENV)
    assert project.run_json("infra", "output", "--env", ENV, "--json") == {}
    init_state = json.loads((s3_env / ".terraform" / "terraform.tfstate").read_text())
    config = init_state["backend"]["config"]
    assert init_state["backend"]["type"] == "s3"
    assert config["bucket"] == "batch-platform-dev-tfstate-123456789012"
    assert config["use_lockfile"] is True and config["encrypt"] is True
    assert config["key"] == "batch-platform/dev/terraform.tfstate"
    # The state bucket kept its TLS-only policy (the emulator leaves conditional statements out of its decisions).
    s3 = project.client("s3", region="eu-west-1")
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]


def test_bootstrap_refuses_bad_input_before_any_aws_call(project: Project, s3_env: Path) -> None:
    proc = project.run("infra", "bootstrap", "--env", "local", check=False)
    assert proc.returncode == 2 and "--env" in error_line(proc) and "S3 backend" in error_line(proc)
    proc = project.run("infra", "bootstrap", "--env", ENV, "--bucket", "Not_A_Bucket", check=False)
    assert proc.returncode == 2 and "--bucket" in error_line(proc)
    proc = project.run("infra", "bootstrap", "--env", ENV, "--kms-key", "alias/x", check=False)
    assert proc.returncode == 2 and "--kms-key" in error_line(proc)
    names = {b["Name"] for b in project.client("s3").list_buckets()["Buckets"]}
    assert "Not_A_Bucket".lower() not in names
