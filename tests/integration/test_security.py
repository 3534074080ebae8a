"""Least privilege of the deployed env (envs/local on the emulator, the shared `deployed` fixture).

moto keeps IAM policies but does not enforce their conditions, so the policies the apply rendered are read back
from the emulator and evaluated with tests/iam_eval.py (explicit deny wins, conditions as IAM evaluates them).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests import iam_eval
from tests.conftest import Deployment
from tests.helpers import REPO

pytestmark = pytest.mark.integration

EXTERNAL = "batch-local-reference-genomes"  # envs/local/main.tf: external_read_buckets


def _role(deployed: Deployment, output: str) -> list[dict[str, Any]]:
    iam = deployed.client("iam")
    return iam_eval.role_policies(iam, deployed.output(output).rsplit("/", 1)[1])


def _buckets(deployed: Deployment) -> dict[str, str]:
    return {k: f"arn:aws:s3:::{v}" for k, v in deployed.output("bucket_names").items()}


def _batch(deployed: Deployment) -> str:
    return deployed.output("job_queue_arns")["default"].split(":job-queue/")[0]


# --------------------------------------------------------------------------------------------------------------
# Job role
# --------------------------------------------------------------------------------------------------------------


def test_job_role_cannot_delete_from_the_data_bucket_nor_write_or_delete_under_runs(deployed: Deployment) -> None:
    job = _role(deployed, "job_role_arn")
    b = _buckets(deployed)
    for key in ("inputs/sample1.fq.gz", "staged/0123abcd/sample1.fq.gz", "references/GRCh38.fa"):
        for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
            assert iam_eval.decide(job, action, f"{b['data']}/{key}") == iam_eval.DENY, (action, key)
        assert not iam_eval.allowed(job, "s3:PutObject", f"{b['data']}/{key}")
        assert iam_eval.allowed(job, "s3:GetObject", f"{b['data']}/{key}")
    for key in ("runs/r1/run.json", "runs/r1/samples.json", "runs/r1/rows/r1-part0.sh", "runs/r1/nextflow.config"):
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"):
            assert iam_eval.decide(job, action, f"{b['work']}/{key}") == iam_eval.DENY, (action, key)
    # row manifests are read by key (the job is given its own); nothing else of the run records, and no listing
    assert iam_eval.allowed(job, "s3:GetObject", f"{b['work']}/runs/r1/rows/r1-part0.sh")
    for key in ("runs/r1/run.json", "runs/r1/samples.json", "runs/r1/nextflow.config"):
        assert not iam_eval.allowed(job, "s3:GetObject", f"{b['work']}/{key}"), key
    for prefix in ("runs/", "runs/r1/rows/", ""):
        assert not iam_eval.allowed(job, "s3:ListBucket", b["work"], {"s3:prefix": prefix}), prefix
    assert not iam_eval.allowed(job, "s3:ListBucket", b["work"])


def test_job_role_writes_only_its_outputs_scratch_and_results(deployed: Deployment) -> None:
    job = _role(deployed, "job_role_arn")
    b = _buckets(deployed)
    for key in ("nextflow/run1/ab/cdef01/.command.log", "scratch/run1/part.bam"):
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
            assert iam_eval.allowed(job, action, f"{b['work']}/{key}"), (action, key)
    assert iam_eval.allowed(job, "s3:ListBucket", b["work"], {"s3:prefix": "nextflow/run1/"})
    assert iam_eval.allowed(job, "s3:PutObject", f"{b['results']}/run1/out.vcf")
    assert not iam_eval.allowed(job, "s3:DeleteObject", f"{b['results']}/run1/out.vcf")
    assert not iam_eval.allowed(job, "s3:PutObject", f"{b['work']}/elsewhere/x")


def test_job_role_reads_a_listed_external_bucket_and_nothing_else_outside(deployed: Deployment) -> None:
    job = _role(deployed, "job_role_arn")
    assert iam_eval.allowed(job, "s3:GetObject", f"arn:aws:s3:::{EXTERNAL}/GRCh38/genome.fa")
    assert iam_eval.allowed(job, "s3:ListBucket", f"arn:aws:s3:::{EXTERNAL}", {"s3:prefix": "GRCh38/"})
    assert not iam_eval.allowed(job, "s3:PutObject", f"arn:aws:s3:::{EXTERNAL}/x")
    for other in ("batch-dev-data", "some-public-bucket", "batch-local-reference-genomes-2"):
        assert not iam_eval.allowed(job, "s3:GetObject", f"arn:aws:s3:::{other}/x"), other
        assert not iam_eval.allowed(job, "s3:ListBucket", f"arn:aws:s3:::{other}", {"s3:prefix": ""}), other
    assert not any(a.split(":")[0] != "s3" for s in iam_eval.statements(job) for a in iam_eval.as_list(s["Action"]))


# --------------------------------------------------------------------------------------------------------------
# Head role: this env's jobs and job definitions only
# --------------------------------------------------------------------------------------------------------------


def test_head_role_cannot_touch_another_envs_jobs(deployed: Deployment) -> None:
    head = _role(deployed, "head_job_role_arn")
    job = f"{_batch(deployed)}:job/0f0e0d0c-0b0a-0908-0706-050403020100"
    name = deployed.output("name")
    for action in ("batch:CancelJob", "batch:TerminateJob"):
        assert iam_eval.allowed(head, action, job, {"aws:ResourceTag/Platform": name}), action
        assert not iam_eval.allowed(head, action, job, {"aws:ResourceTag/Platform": "batch-dev"}), action
        assert not iam_eval.allowed(head, action, job), f"{action} on an untagged job"
    # a job of another env, or one the runner submitted, can never be re-tagged into this env
    tagging = {"aws:RequestTag/Platform": name}
    assert iam_eval.allowed(head, "batch:TagResource", job, tagging)  # tags given at submission
    assert iam_eval.decide(head, "batch:TagResource", job, {**tagging, "aws:ResourceTag/Platform": "batch-dev"}) == (
        iam_eval.DENY
    )
    assert iam_eval.decide(head, "batch:TagResource", job, {**tagging, "aws:ResourceTag/runner:run": "r1"}) == (
        iam_eval.DENY
    )
    assert not iam_eval.allowed(head, "batch:TagResource", job, {"aws:RequestTag/Platform": "batch-dev"})
    # submitting: this env's queues, with this env's tag
    other_queue = deployed.output("job_queue_arns")["default"].replace(f"/{name}-", "/batch-dev-")
    assert not iam_eval.allowed(head, "batch:SubmitJob", other_queue, tagging)
    assert iam_eval.allowed(head, "batch:SubmitJob", deployed.output("job_queue_arns")["default"], tagging)


def test_head_role_registers_job_definitions_only_under_the_envs_prefix(deployed: Deployment) -> None:
    head = _role(deployed, "head_job_role_arn")
    definitions = f"{_batch(deployed)}:job-definition"
    name = deployed.output("name")
    own_logs = {"batch:AWSLogsGroup": deployed.output("log_group_name")}
    for action in ("batch:RegisterJobDefinition", "batch:DeregisterJobDefinition"):
        assert iam_eval.allowed(head, action, f"{definitions}/{name}-fastqc")
        assert not iam_eval.allowed(head, action, f"{definitions}/batch-dev-fastqc", own_logs)
        assert not iam_eval.allowed(head, action, f"{definitions}/runner-0123456789abcdef", own_logs)
    # Nextflow's own `nf-<image>` names (its prefix is hard-coded): registered only logging to this env's group,
    # never deregistered
    nf = f"{definitions}/nf-quay-io-biocontainers-fastqc-0-12-1"
    assert iam_eval.allowed(head, "batch:RegisterJobDefinition", nf, own_logs)
    assert not iam_eval.allowed(head, "batch:RegisterJobDefinition", nf, {"batch:AWSLogsGroup": "/aws/batch/batch-dev"})
    assert not iam_eval.allowed(head, "batch:RegisterJobDefinition", nf)
    assert not iam_eval.allowed(head, "batch:DeregisterJobDefinition", nf, own_logs)


# --------------------------------------------------------------------------------------------------------------
# Run history lasts: no expiry reaches runs/
# --------------------------------------------------------------------------------------------------------------


def _rule_prefix(rule: dict[str, Any]) -> str:
    flt = rule.get("Filter", {})
    if "Prefix" in flt:
        return str(flt["Prefix"])
    if "And" in flt:
        return str(flt["And"].get("Prefix", ""))
    if "Tag" in flt or "ObjectSizeGreaterThan" in flt or "ObjectSizeLessThan" in flt:
        pytest.fail(f"rule {rule['ID']}: a filter this test cannot judge: {flt}")
    return str(rule.get("Prefix", ""))  # legacy top-level prefix, or none: the whole bucket


def test_lifecycle_rules_never_expire_run_records(deployed: Deployment) -> None:
    s3 = deployed.client("s3")
    expiring: dict[str, list[str]] = {}
    for role, bucket in deployed.output("bucket_names").items():
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        expiring[role] = [_rule_prefix(r) for r in rules if r["Status"] == "Enabled" and "Expiration" in r]
        # rules that cover everything only abort uploads or drop old versions, never current objects
        for rule in rules:
            if _rule_prefix(rule) == "":
                assert "Expiration" not in rule, f"{bucket}: rule {rule['ID']} expires the whole bucket"
    for role, prefixes in expiring.items():
        for key in ("runs/r1/run.json", "runs/r1/rows/r1-part0.sh", "runs/r1/launch/history", "runs/"):
            assert not [p for p in prefixes if key.startswith(p)], f"{role}: {key} would expire ({prefixes})"
    # scratch still expires
    assert any("nextflow/r1/ab/.command.log".startswith(p) for p in expiring["work"])


# --------------------------------------------------------------------------------------------------------------
# Analysts need no terraform: the contract in SSM, and a policy with what the runner's commands need
# --------------------------------------------------------------------------------------------------------------


def test_output_contract_is_published_as_an_ssm_parameter(deployed: Deployment) -> None:
    name = deployed.output("name")
    parameter = deployed.client("ssm").get_parameter(Name=f"/{name}/runner/outputs")["Parameter"]
    assert parameter["Type"] == "String"
    published = json.loads(parameter["Value"])
    # terraform keeps no null output (scheduling_policy_arn of a FIFO env): the contract publishes it as null
    assert {k: v for k, v in published.items() if v is not None} == {k: v["value"] for k, v in deployed.outputs.items()}
    declared = re.findall(r'^output "(\w+)"', (REPO / "envs" / "local" / "outputs.tf").read_text(), re.M)
    assert sorted(published) == sorted(declared)
    assert published["scheduling_policy_arn"] is None and published["share_identifiers"] == []


def test_analyst_policy_allows_what_the_runner_commands_need_on_this_env_only(deployed: Deployment) -> None:
    iam = deployed.client("iam")
    arn = deployed.output("analyst_policy_arn")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Path"] == "/batch-platform/"
    analyst = [iam_eval.managed_policy(iam, arn)]
    name, batch, b = deployed.output("name"), _batch(deployed), _buckets(deployed)
    region_account = batch.split(":batch:")[1]
    parameter = f"arn:aws:ssm:{region_account}:parameter/{name}/runner/outputs"
    assert iam_eval.allowed(analyst, "ssm:GetParameter", parameter)
    assert not iam_eval.allowed(analyst, "ssm:GetParameter", parameter.replace(name, "batch-dev"))
    # submit / nextflow run / retry
    for queue in deployed.output("job_queue_arns").values():
        assert iam_eval.allowed(analyst, "batch:SubmitJob", queue)
        assert not iam_eval.allowed(analyst, "batch:SubmitJob", queue.replace(f"/{name}-", "/batch-dev-"))
    for definition in ("runner-0123456789abcdef", f"{name}-nextflow-head-0123456789", f"{name}-default"):
        assert iam_eval.allowed(analyst, "batch:SubmitJob", f"{batch}:job-definition/{definition}:1")
    assert iam_eval.allowed(analyst, "batch:RegisterJobDefinition", f"{batch}:job-definition/runner-0123456789abcdef")
    assert not iam_eval.allowed(analyst, "batch:RegisterJobDefinition", f"{batch}:job-definition/batch-dev-x")
    assert not iam_eval.allowed(analyst, "batch:DeregisterJobDefinition", f"{batch}:job-definition/runner-0123")
    # cancel: this env's jobs
    job = f"{batch}:job/0f0e0d0c-0b0a-0908-0706-050403020100"
    for action in ("batch:CancelJob", "batch:TerminateJob"):
        assert iam_eval.allowed(analyst, action, job, {"aws:ResourceTag/Platform": name})
        assert not iam_eval.allowed(analyst, action, job, {"aws:ResourceTag/Platform": "batch-dev"})
    for action in ("batch:DescribeJobs", "batch:ListJobs", "batch:DescribeJobQueues", "ec2:DescribeInstanceTypes"):
        assert iam_eval.allowed(analyst, action, "*"), action
    # roles: pass the env's job roles, nothing else
    assert iam_eval.allowed(analyst, "iam:PassRole", deployed.output("job_role_arn"))
    assert not iam_eval.allowed(analyst, "iam:PassRole", deployed.output("instance_role_arn"))
    # logs of this env
    group = f"arn:aws:logs:{region_account}:log-group:{deployed.output('log_group_name')}"
    assert iam_eval.allowed(analyst, "logs:GetLogEvents", f"{group}:log-stream:default/x/y")
    assert not iam_eval.allowed(analyst, "logs:GetLogEvents", f"{group}-other:log-stream:x")
    # S3 as the runner uses it: staging into data, run records into work, results read; never a delete
    assert iam_eval.allowed(analyst, "s3:PutObject", f"{b['data']}/staged/0123/a.fq")
    assert iam_eval.allowed(analyst, "s3:PutObject", f"{b['work']}/runs/r1/run.json")
    assert iam_eval.allowed(analyst, "s3:GetObject", f"{b['results']}/r1/out.vcf")
    assert iam_eval.allowed(analyst, "s3:GetObject", f"arn:aws:s3:::{EXTERNAL}/GRCh38/genome.fa")
    assert not iam_eval.allowed(analyst, "s3:PutObject", f"{b['results']}/r1/out.vcf")
    for bucket in b.values():
        assert not iam_eval.allowed(analyst, "s3:DeleteObject", f"{bucket}/runs/r1/run.json")
    actions = {a for s in iam_eval.statements(analyst) for a in iam_eval.as_list(s["Action"])}
    assert not [a for a in actions if a == "*" or a.endswith(":*")]
    assert not [a for a in actions if a.startswith("iam:") and a != "iam:PassRole"]
    # FIFO queues (envs/local for now): no share identifier needed, none refused
    default = deployed.output("job_queue_arns")["default"]
    assert iam_eval.allowed(analyst, "batch:SubmitJob", default)
    assert not [s for s in iam_eval.statements(analyst) if "batch:ShareIdentifier" in json.dumps(s)]


# --------------------------------------------------------------------------------------------------------------
# Network: the S3 gateway endpoint reaches the env's buckets, the external one and what AWS runs instances from
# --------------------------------------------------------------------------------------------------------------


def test_s3_endpoint_reaches_only_the_envs_external_and_aws_owned_buckets(deployed: Deployment) -> None:
    endpoints = deployed.client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
    name = f"{deployed.output('name')}-s3"
    (endpoint,) = [e for e in endpoints if {"Key": "Name", "Value": name} in e.get("Tags", [])]
    policy = [iam_eval.document(endpoint["PolicyDocument"])]
    b, region = _buckets(deployed), deployed.output("region")
    for bucket in b.values():
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert iam_eval.allowed(policy, action, f"{bucket}/runs/r1/run.json"), (action, bucket)
        assert iam_eval.allowed(policy, "s3:ListBucket", bucket)
    assert iam_eval.allowed(policy, "s3:GetObject", f"arn:aws:s3:::{EXTERNAL}/GRCh38/genome.fa")
    assert not iam_eval.allowed(policy, "s3:PutObject", f"arn:aws:s3:::{EXTERNAL}/x")
    assert iam_eval.allowed(policy, "s3:GetObject", f"arn:aws:s3:::prod-{region}-starport-layer-bucket/layer")
    assert iam_eval.allowed(policy, "s3:GetObject", f"arn:aws:s3:::al2023-repos-{region}-de612dc2/core/repodata")
    for other in ("batch-dev-data", "someone-elses-bucket", f"{EXTERNAL}-2"):
        assert not iam_eval.allowed(policy, "s3:PutObject", f"arn:aws:s3:::{other}/x"), other
        assert not iam_eval.allowed(policy, "s3:GetObject", f"arn:aws:s3:::{other}/x"), other
