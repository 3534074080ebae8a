"""The env opened once: where outputs come from (file, cache, the published SSM parameter, terraform) and the
typed accessors that name a missing output. SSM runs on moto in-process."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from runner.aws.context import AwsContext
from runner.core.errors import UsageError
from runner.core.project import Env
from runner.infra import outputs as cache
from runner.infra.plans import Infra
from runner.session import outputs as contract
from runner.session.outputs import Outputs


def test_outputs_come_from_file_then_cache_then_ssm_then_terraform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "envs" / "dev").mkdir(parents=True)
    (tmp_path / "envs" / "dev" / "terraform.tfvars").write_text('name = "batch-dev"\n')
    env = Env("dev", tmp_path)
    asked: list[str] = []
    monkeypatch.setattr(Infra, "output_values", lambda _self: asked.append("terraform") or {})
    monkeypatch.delenv(contract.OUTPUTS_FILE_VAR, raising=False)
    with mock_aws():
        aws = AwsContext(env, home=tmp_path)
        ssm = boto3.client("ssm", region_name="us-east-1")
        aws._clients["ssm"] = ssm
        with pytest.raises(UsageError, match="'dev' has no outputs; apply it first"):
            contract.load(env, aws)  # not published: ParameterNotFound falls through to terraform
        assert asked == ["terraform"]

        assert contract.parameter_name(env) == "/batch-dev/runner/outputs"
        ssm.put_parameter(Name="/batch-dev/runner/outputs", Type="String", Value=json.dumps({"region": "eu-west-1"}))
        assert contract.load(env, aws).region == "eu-west-1" and asked == ["terraform"]

        cache.save(env, {"region": "eu-central-1"}, tmp_path)
        assert contract.load(env, aws).region == "eu-central-1"

        given = tmp_path / "handed-over.json"
        given.write_text(json.dumps({"region": {"value": "us-west-2", "type": "string"}}))
        monkeypatch.setenv(contract.OUTPUTS_FILE_VAR, str(given))
        assert contract.load(env, aws).region == "us-west-2"


def test_accessors_name_what_is_missing() -> None:
    outputs = Outputs(
        {
            "bucket_names": {"work": "w"},
            "job_queue_names": {"default": "q-default", "head": "q-head"},
            "job_queue_arns": {"default": "arn:q-default", "head": "arn:q-head"},
        }
    )
    assert outputs.work_bucket == "w" and outputs.data_bucket is None and outputs.log_group is None
    by = [outputs.queue(ref) for ref in ("default", "q-default", "arn:q-default")]
    assert {(q.key, q.name, q.arn) for q in by} == {("default", "q-default", "arn:q-default")}
    assert outputs.head_queue().arn == "arn:q-head"
    with pytest.raises(UsageError, match=r"^--queue: unknown queue 'gpu' \(this env's queues: default\)$"):
        outputs.queue("gpu")
    with pytest.raises(UsageError, match="no output 'aws_cli_path'"):
        _ = outputs.aws_cli_path
    with pytest.raises(UsageError, match="output 'job_definition_arns'|no output 'job_definition_arns'"):
        outputs.job_definition("nextflow-head")


def test_backend_is_checked_only_when_the_outputs_must_come_from_terraform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "envs" / "dev").mkdir(parents=True)
    (tmp_path / "envs" / "dev" / "terraform.tfvars").write_text('name = "batch-dev"\n')
    (tmp_path / "envs" / "dev" / "main.tf").write_text('terraform {\n  backend "s3" {}\n}\n')  # never bootstrapped
    env = Env("dev", tmp_path)
    monkeypatch.setattr(Infra, "output_values", lambda _self: pytest.fail("terraform must not run"))
    monkeypatch.delenv(contract.OUTPUTS_FILE_VAR, raising=False)
    with mock_aws():
        aws = AwsContext(env, home=tmp_path)
        ssm = boto3.client("ssm", region_name="us-east-1")
        aws._clients["ssm"] = ssm
        with pytest.raises(UsageError, match=r"^--env: envs/dev is not bootstrapped \(no backend.hcl\): runner infra"):
            contract.load(env, aws)
        ssm.put_parameter(Name="/batch-dev/runner/outputs", Type="String", Value=json.dumps({"region": "eu-west-1"}))
        assert contract.load(env, aws).region == "eu-west-1"  # an analyst with the published outputs: no backend


def test_timestamps_parse_as_botocore_parses_them() -> None:
    """The fast ISO 8601 path gives botocore's instant for S3's form; every other form goes to botocore."""
    from botocore.utils import parse_timestamp as botocore_parse

    from runner.aws.context import parse_timestamp

    for value in ("2026-12-02T01:30:00.000Z", "2026-12-02T01:30:00Z", "2026-12-02T01:30:00.123456Z"):
        fast = parse_timestamp(value)
        assert fast == botocore_parse(value) and fast.utcoffset() is not None, value
    for value in ("Wed, 02 Dec 2026 01:30:00 GMT", "1764639000", 1764639000, "2026-12-02T01:30:00+01:00"):
        assert parse_timestamp(value) == botocore_parse(value), value
