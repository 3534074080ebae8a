"""modules/platform applied to the embedded AWS (envs/local), asserted resource by resource with boto3.

One deployment per session (the `deployed` fixture); destroy is asserted in test_foundation's teardown test.
"""

from __future__ import annotations

import base64
import email
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner.infra.terraform import Terraform
from tests.conftest import Deployment
from tests.helpers import Project, require_tool

pytestmark = pytest.mark.integration

CONTRACT: dict[str, type] = {
    "region": str,
    "name": str,
    "bucket_names": dict,
    "bucket_arns": dict,
    "launch_template_id": str,
    "launch_template_version": str,
    "ami_id": str,
    "compute_environment_arns": dict,
    "job_queue_arns": dict,
    "job_queue_names": dict,
    "job_definition_arns": dict,
    "job_role_arn": str,
    "instance_role_arn": str,
    "log_group_name": str,
    "ecr_repository_urls": dict,
    "aws_cli_path": str,
    "share_identifiers": list,
}


def _statements(document: Any) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _inline_policies(iam: Any, role_arn: str) -> dict[str, list[dict[str, Any]]]:
    role = role_arn.rsplit("/", 1)[1]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    return {n: _statements(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]) for n in names}


def _launch_data(deployed: Deployment) -> dict[str, Any]:
    ec2 = deployed.client("ec2")
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=deployed.output("launch_template_id"),
        Versions=[deployed.output("launch_template_version")],
    )["LaunchTemplateVersions"]
    assert len(versions) == 1
    data: dict[str, Any] = versions[0]["LaunchTemplateData"]
    return data


# --------------------------------------------------------------------------------------------------------------
# The output contract
# --------------------------------------------------------------------------------------------------------------


def test_outputs_follow_the_contract(deployed: Deployment) -> None:
    for name, kind in CONTRACT.items():
        assert name in deployed.outputs, f"output {name} missing"
        assert isinstance(deployed.output(name), kind), f"output {name} is not a {kind.__name__}"
    assert deployed.output("name") == "batch-local"
    assert set(deployed.output("bucket_names")) == set(deployed.output("bucket_arns")) == {"data", "work", "results"}
    assert (
        set(deployed.output("job_queue_arns"))
        == set(deployed.output("job_queue_names"))
        == {
            "default",
            "priority",
            "head",
        }
    )
    assert set(deployed.output("compute_environment_arns")) == {"spot", "ondemand"}
    assert set(deployed.output("job_definition_arns")) == {"default", "nextflow-head"}
    assert deployed.output("aws_cli_path") == "/opt/aws-cli/bin/aws"
    assert deployed.output("launch_template_version").isdigit()
    assert deployed.output("ami_id").startswith("ami-")
    assert deployed.output("head_job_role_arn").startswith("arn:aws:iam::")
    assert set(deployed.output("ecr_repository_urls")) == {"pipelines"}
    # envs/local keeps FIFO queues for now: no share identifiers, and a null policy (terraform keeps no null
    # output, so the name is absent from `terraform output`; the SSM contract has it as null)
    assert deployed.output("share_identifiers") == []
    assert deployed.outputs.get("scheduling_policy_arn", {}).get("value") is None


# --------------------------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------------------------


def test_buckets_are_private_versioned_encrypted_and_tls_only(deployed: Deployment) -> None:
    s3 = deployed.client("s3")
    for name in deployed.output("bucket_names").values():
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        ownership = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        denies = [
            st
            for st in _statements(s3.get_bucket_policy(Bucket=name)["Policy"])
            if st["Effect"] == "Deny"
            and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", ["false"])
        ]
        assert len(denies) == 1, f"{name}: no statement denying aws:SecureTransport = false"
        arn = f"arn:aws:s3:::{name}"
        assert set(_as_list(denies[0]["Resource"])) == {arn, f"{arn}/*"}
        assert _as_list(denies[0]["Action"]) == ["s3:*"]


def test_work_bucket_expires_only_scratch_and_aborts_multipart_uploads(deployed: Deployment) -> None:
    s3 = deployed.client("s3")
    rules = {
        r["ID"]: r
        for r in s3.get_bucket_lifecycle_configuration(Bucket=deployed.output("bucket_names")["work"])["Rules"]
    }
    for prefix in ("nextflow", "scratch"):
        rule = rules[f"expire-{prefix}"]
        assert rule["Status"] == "Enabled" and rule["Expiration"]["Days"] == 30
        assert rule["Filter"]["Prefix"] == f"{prefix}/"
    assert rules["abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    assert rules["noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    # Data and results are kept: no expiry of current objects there.
    for role in ("data", "results"):
        rules_there = s3.get_bucket_lifecycle_configuration(Bucket=deployed.output("bucket_names")[role])["Rules"]
        assert not [r for r in rules_there if "Expiration" in r]
        assert "abort-incomplete-multipart" in {r["ID"] for r in rules_there}


# --------------------------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------------------------


def test_network_spans_two_zones_with_s3_endpoint_and_no_inbound(deployed: Deployment) -> None:
    ec2 = deployed.client("ec2")
    outputs = deployed.outputs
    vpc_id = outputs["vpc_id"]["value"] if "vpc_id" in outputs else None
    ce = deployed.client("batch").describe_compute_environments(
        computeEnvironments=[deployed.output("compute_environment_arns")["spot"]]
    )["computeEnvironments"][0]["computeResources"]
    subnets = ec2.describe_subnets(SubnetIds=ce["subnets"])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) >= 2
    vpc_id = vpc_id or subnets[0]["VpcId"]
    assert {s["VpcId"] for s in subnets} == {vpc_id}
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    s3_endpoints = [e for e in endpoints if e["ServiceName"].endswith(".s3")]
    assert len(s3_endpoints) == 1 and s3_endpoints[0]["VpcEndpointType"] == "Gateway"
    assert s3_endpoints[0]["RouteTableIds"]
    # not the default full-access policy (tests/integration/test_security.py evaluates it)
    statements = _statements(s3_endpoints[0]["PolicyDocument"])
    assert {st["Sid"] for st in statements} == {"EnvBuckets", "ReadExternalBuckets", "ReadAwsOwnedBuckets"}
    assert all(st["Effect"] == "Allow" and "*" not in _as_list(st["Resource"]) for st in statements)
    groups = ec2.describe_security_groups(GroupIds=ce["securityGroupIds"])["SecurityGroups"]
    for group in groups:
        assert group["IpPermissions"] == [], f"{group['GroupId']} admits inbound traffic"
        assert group["IpPermissionsEgress"], f"{group['GroupId']} has no egress"
    nat = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    assert [n for n in nat if n["State"] != "deleted"] == []


# --------------------------------------------------------------------------------------------------------------
# Compute: launch template and instance role
# --------------------------------------------------------------------------------------------------------------


def test_launch_template_has_encrypted_gp3_scratch_volume_besides_root(deployed: Deployment) -> None:
    devices = {m["DeviceName"]: m["Ebs"] for m in _launch_data(deployed)["BlockDeviceMappings"]}
    assert set(devices) == {"/dev/xvda", "/dev/xvdb"}
    root, scratch = devices["/dev/xvda"], devices["/dev/xvdb"]
    assert root["VolumeType"] == "gp3" and root["Encrypted"] is True and root["VolumeSize"] == 30
    assert scratch["VolumeType"] == "gp3" and scratch["Encrypted"] is True
    assert (scratch["VolumeSize"], scratch["Iops"], scratch["Throughput"]) == (50, 3000, 125)
    assert scratch["DeleteOnTermination"] is True and root["DeleteOnTermination"] is True


def test_launch_template_requires_imdsv2_for_the_host_only(deployed: Deployment) -> None:
    options = _launch_data(deployed)["MetadataOptions"]
    assert options["HttpTokens"] == "required"
    # hop limit 1: token responses die before they reach a container behind the docker bridge
    assert options["HttpPutResponseHopLimit"] == 1
    assert options["HttpEndpoint"] == "enabled"


def test_launch_template_user_data_is_mime_multipart_with_ecs_settings(deployed: Deployment) -> None:
    raw = base64.b64decode(_launch_data(deployed)["UserData"]).decode()
    message = email.message_from_string(raw)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    parts = [p for p in message.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/x-shellscript"]
    script = parts[0].get_payload()
    assert script.startswith("#!/bin/bash")
    settings = dict(line.split("=", 1) for line in script.split("<<'ECS'\n", 1)[1].split("\nECS\n", 1)[0].splitlines())
    assert settings["ECS_ENABLE_SPOT_INSTANCE_DRAINING"] == "true"
    assert settings["ECS_IMAGE_PULL_BEHAVIOR"] == "prefer-cached"
    assert settings["ECS_AWSVPC_BLOCK_IMDS"] == "true"
    assert "ECS_CLUSTER" not in settings  # Batch adds its own part with the cluster
    assert "ECS_CONTAINER_STOP_TIMEOUT" not in settings  # one owner: the AMI (packer/scripts/20-ecs-agent.sh)
    # containers (docker bridges) are cut off from the instance metadata service before the ECS agent starts
    block = "-I DOCKER-USER 1 -i docker+ -d 169.254.169.254/32 -j DROP"
    assert block in script and script.index(block) < script.index("/etc/ecs/ecs.config")


def test_launch_template_uses_the_ami_and_tags_instances_and_volumes(deployed: Deployment) -> None:
    data = _launch_data(deployed)
    # The session builds the AMI with Packer before applying: the template runs that image, not the stock one.
    assert data["ImageId"] == deployed.output("ami_id") == deployed.ami_build["ami_id"]
    ssm = deployed.client("ssm")
    public = ssm.get_parameter(Name="/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
    assert data["ImageId"] != public["Parameter"]["Value"]
    specs = {s["ResourceType"]: {t["Key"]: t["Value"] for t in s["Tags"]} for s in data["TagSpecifications"]}
    for kind in ("instance", "volume"):
        assert specs[kind]["Environment"] == "local" and specs[kind]["Platform"] == "batch-local"


def test_instance_role_has_ecs_and_ssm_policies_and_a_profile(deployed: Deployment) -> None:
    iam = deployed.client("iam")
    role = deployed.output("instance_role_arn").rsplit("/", 1)[1]
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
    assert attached == {"AmazonEC2ContainerServiceforEC2Role", "AmazonSSMManagedInstanceCore"}
    assume = _statements(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
    assert assume[0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    profiles = iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    assert len(profiles) == 1


# --------------------------------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------------------------------


def _compute_environments(deployed: Deployment) -> dict[str, dict[str, Any]]:
    arns = deployed.output("compute_environment_arns")
    found = deployed.client("batch").describe_compute_environments(computeEnvironments=list(arns.values()))
    by_arn = {ce["computeEnvironmentArn"]: ce for ce in found["computeEnvironments"]}
    return {key: by_arn[arn] for key, arn in arns.items()}


def test_compute_environments_spot_and_on_demand_scale_from_zero_with_the_launch_template(
    deployed: Deployment,
) -> None:
    envs = _compute_environments(deployed)
    iam = deployed.client("iam")
    profile_arns = {
        p["Arn"]
        for p in iam.list_instance_profiles_for_role(RoleName=deployed.output("instance_role_arn").rsplit("/", 1)[1])[
            "InstanceProfiles"
        ]
    }
    expected = {"spot": ("SPOT", "SPOT_CAPACITY_OPTIMIZED", 16), "ondemand": ("EC2", "BEST_FIT_PROGRESSIVE", 8)}
    for key, (kind, strategy, max_vcpus) in expected.items():
        ce = envs[key]
        assert ce["type"] == "MANAGED" and ce["state"] == "ENABLED"
        res = ce["computeResources"]
        assert (res["type"], res["allocationStrategy"]) == (kind, strategy)
        assert res["minvCpus"] == 0 and res["maxvCpus"] == max_vcpus
        assert res["launchTemplate"]["launchTemplateId"] == deployed.output("launch_template_id")
        # Pinned to the template's latest version (Batch resolves $Latest only at create/update time), rolled out
        # by infrastructure updates that let running jobs finish.
        assert res["launchTemplate"]["version"] == deployed.output("launch_template_version")
        assert ce["updatePolicy"] == {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 360}
        assert res["instanceRole"] in profile_arns
        assert res["tags"]["ComputeEnvironment"] == key and res["tags"]["Environment"] == "local"
        # Batch's service-linked role: infrastructure updates need it.
        assert ce["serviceRole"].endswith(":role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch")
        assert ce["tags"]["Name"] == f"batch-local-{key}"


def test_queues_are_fifo_until_local_turns_fair_share_on(deployed: Deployment) -> None:
    arns = deployed.output("job_queue_arns")
    queues = deployed.client("batch").describe_job_queues(jobQueues=list(arns.values()))["jobQueues"]
    assert [q.get("schedulingPolicyArn") for q in queues] == [None] * len(arns)
    assert deployed.client("batch").list_scheduling_policies()["schedulingPolicies"] == []


def test_default_queue_tries_spot_then_on_demand(deployed: Deployment) -> None:
    arns = deployed.output("job_queue_arns")
    ce = deployed.output("compute_environment_arns")
    queues = {
        q["jobQueueArn"]: q
        for q in deployed.client("batch").describe_job_queues(jobQueues=list(arns.values()))["jobQueues"]
    }

    def order(key: str) -> list[str]:
        entries = sorted(queues[arns[key]]["computeEnvironmentOrder"], key=lambda e: e["order"])
        return [e["computeEnvironment"] for e in entries]

    assert order("default") == [ce["spot"], ce["ondemand"]]
    assert order("priority") == [ce["ondemand"]]
    assert order("head") == [ce["ondemand"]]
    assert queues[arns["priority"]]["priority"] > queues[arns["default"]]["priority"]
    names = deployed.output("job_queue_names")
    assert {k: queues[arns[k]]["jobQueueName"] for k in arns} == names
    assert all(queues[a]["state"] == "ENABLED" for a in arns.values())


def _job_definition(deployed: Deployment, key: str) -> dict[str, Any]:
    arn = deployed.output("job_definition_arns")[key]
    found = deployed.client("batch").describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
    assert len(found) == 1
    definition: dict[str, Any] = found[0]
    return definition


def test_job_definition_retries_spot_reclamation_only_and_times_out(deployed: Deployment) -> None:
    jd = _job_definition(deployed, "default")
    retry = jd["retryStrategy"]
    assert retry["attempts"] == 3
    rules = [(r.get("onStatusReason"), r.get("onReason"), r["action"].upper()) for r in retry["evaluateOnExit"]]
    assert rules == [("Host EC2*", None, "RETRY"), (None, "*", "EXIT")]
    assert jd["timeout"]["attemptDurationSeconds"] == 86400
    assert jd["platformCapabilities"] == ["EC2"] and jd["propagateTags"] is True
    props = jd["containerProperties"]
    assert props["jobRoleArn"] == deployed.output("job_role_arn")
    resources = {r["type"]: r["value"] for r in props["resourceRequirements"]}
    assert resources == {"VCPU": "1", "MEMORY": "4096"}
    log = props["logConfiguration"]
    assert log["logDriver"] == "awslogs" and log["options"]["awslogs-group"] == deployed.output("log_group_name")


def test_head_job_definition_runs_nextflow_with_the_head_role(deployed: Deployment) -> None:
    jd = _job_definition(deployed, "nextflow-head")
    props = jd["containerProperties"]
    assert props["image"].startswith("nextflow/nextflow:")
    assert props["jobRoleArn"] == deployed.output("head_job_role_arn")
    assert jd["retryStrategy"]["attempts"] == 1
    assert jd["timeout"]["attemptDurationSeconds"] == 7 * 24 * 3600


def test_a_submitted_job_reaches_the_queue_with_the_definitions_resources(deployed: Deployment) -> None:
    batch = deployed.client("batch")
    job = batch.submit_job(
        jobName="platform-smoke",
        jobQueue=deployed.output("job_queue_names")["default"],
        jobDefinition=deployed.output("job_definition_arns")["default"],
    )
    described = batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
    assert described["jobQueue"] == deployed.output("job_queue_arns")["default"]
    assert described["jobDefinition"] == deployed.output("job_definition_arns")["default"]
    container = described["container"]
    assert (container["vcpus"], container["memory"]) == (1, 4096)
    assert container["command"] == ["echo", "hello from the batch platform"]


def test_log_group_keeps_job_logs_for_the_configured_days(deployed: Deployment) -> None:
    logs = deployed.client("logs")
    name = deployed.output("log_group_name")
    groups = [g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
    assert len(groups) == 1 and groups[0]["retentionInDays"] == 7


# --------------------------------------------------------------------------------------------------------------
# IAM: least privilege on this env's buckets and queues
# --------------------------------------------------------------------------------------------------------------


def _env_bucket_resources(deployed: Deployment) -> set[str]:
    arns = set(deployed.output("bucket_arns").values())
    return arns | {f"{a}/*" for a in arns}


def test_job_role_may_use_only_this_envs_buckets_and_the_listed_external_ones(deployed: Deployment) -> None:
    iam = deployed.client("iam")
    role = deployed.output("job_role_arn").rsplit("/", 1)[1]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    policies = _inline_policies(iam, deployed.output("job_role_arn"))
    assert list(policies) == ["env-buckets"]
    external = {"arn:aws:s3:::batch-local-reference-genomes", "arn:aws:s3:::batch-local-reference-genomes/*"}
    env = _env_bucket_resources(deployed)
    for st in policies["env-buckets"]:
        assert all(a.startswith("s3:") for a in _as_list(st["Action"]))
        for resource in _as_list(st["Resource"]):
            bucket = resource.split("/", 1)[0]
            assert bucket in env or resource in external, f"{st['Sid']}: {resource} is outside the env"
    assume = _statements(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
    assert assume[0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}


def test_head_role_manages_jobs_only_on_this_envs_queues(deployed: Deployment) -> None:
    iam = deployed.client("iam")
    policies = _inline_policies(iam, deployed.output("head_job_role_arn"))
    assert set(policies) == {"env-batch", "env-buckets"}
    by_sid = {st["Sid"]: st for st in policies["env-batch"]}
    submit = set(_as_list(by_sid["SubmitTaggedJobsToEnvQueues"]["Resource"]))
    queue_arns = set(deployed.output("job_queue_arns").values())
    assert {r for r in submit if ":job-queue/" in r} == queue_arns
    assert all(":job-definition/" in r or r.endswith(":job/*") or r in queue_arns for r in submit)
    assert "arn:aws:batch:us-east-1:123456789012:job-definition/batch-local-*" in submit
    pass_role = by_sid["PassJobRole"]
    assert _as_list(pass_role["Resource"]) == [deployed.output("job_role_arn")]
    # `*` only where AWS offers no resource-level permission: the read-only Describe/List calls.
    for sid, st in by_sid.items():
        if "*" in _as_list(st["Resource"]) and st["Effect"] == "Allow":
            assert sid == "DescribeAndList"
            assert all(a.split(":")[1].startswith(("Describe", "List")) for a in _as_list(st["Action"]))
    for action in ("batch:SubmitJob", "batch:TerminateJob", "batch:CancelJob"):
        assert any(action in _as_list(st["Action"]) for st in by_sid.values()), action


# --------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------


def test_ecr_repositories_scan_on_push_are_immutable_and_expire_only_untagged_and_dev_images(
    deployed: Deployment,
) -> None:
    ecr = deployed.client("ecr")
    urls = deployed.output("ecr_repository_urls")
    names = [url.split("/", 1)[1] for url in urls.values()]
    repos = ecr.describe_repositories(repositoryNames=names)["repositories"]
    assert {r["repositoryUri"] for r in repos} == set(urls.values())
    for repo in repos:
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
        policy = json.loads(ecr.get_lifecycle_policy(repositoryName=repo["repositoryName"])["lifecyclePolicyText"])
        selections = sorted((r["rulePriority"], r["selection"]) for r in policy["rules"])
        assert all(r["action"] == {"type": "expire"} for r in policy["rules"])
        # Untagged images expire; only development tags (dev-*) are counted; no rule selects any other tag, so an
        # image a pipeline pins (v1.2, a digest's release tag) never expires.
        assert selections == [
            (1, {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}),
            (
                2,
                {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["dev-"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 30,
                },
            ),
        ]


# --------------------------------------------------------------------------------------------------------------
# After destroy (called by test_foundation's teardown test, which destroys the shared deployment once)
# --------------------------------------------------------------------------------------------------------------


def assert_platform_gone(deployed: Deployment) -> None:
    """Nothing of the env is left: Batch, launch template, network, roles, registry, logs."""
    prefix = deployed.output("name")
    batch = deployed.client("batch")
    ces = batch.describe_compute_environments(
        computeEnvironments=list(deployed.output("compute_environment_arns").values())
    )["computeEnvironments"]
    assert [ce for ce in ces if ce.get("status") != "DELETED"] == []
    queues = batch.describe_job_queues(jobQueues=list(deployed.output("job_queue_arns").values()))["jobQueues"]
    assert [q for q in queues if q.get("status") != "DELETED"] == []
    definitions = batch.describe_job_definitions(jobDefinitions=list(deployed.output("job_definition_arns").values()))
    assert [d for d in definitions["jobDefinitions"] if d["status"] == "ACTIVE"] == []
    ec2 = deployed.client("ec2")
    templates = ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [f"{prefix}-batch-*"]}]
    )["LaunchTemplates"]
    assert templates == []
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"] == []
    iam = deployed.client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{prefix}-")]
    assert roles == []
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert [p for p in profiles if p["InstanceProfileName"].startswith(f"{prefix}-")] == []
    repos = deployed.client("ecr").describe_repositories()["repositories"]
    assert [r for r in repos if r["repositoryName"].startswith(f"{prefix}/")] == []
    groups = deployed.client("logs").describe_log_groups()["logGroups"]
    assert [g for g in groups if prefix in g["logGroupName"]] == []


# --------------------------------------------------------------------------------------------------------------
# Rolling out a new AMI or template change: in-place infrastructure updates, planned on a copy of the state
# --------------------------------------------------------------------------------------------------------------


def _copy_of_the_deployment(deployed: Deployment, root: Path) -> Project:
    """The deployed project's envs/ (state included) and modules/ in a folder of its own, on the same emulator
    (its server record copied, so the runner finds it running instead of starting another)."""
    for folder in ("envs", "modules"):
        shutil.copytree(
            deployed.project.root / folder, root / folder, ignore=shutil.ignore_patterns(".terraform", "*.tfplan")
        )
    (root / ".runner" / "local").mkdir(parents=True)
    for name in ("server.json", "credentials.json"):
        shutil.copy2(deployed.project.home / "local" / name, root / ".runner" / "local" / name)
    return Project(root=root, port=deployed.project.port)


def _managed_actions(plan: dict[str, Any]) -> dict[str, list[str]]:
    return {rc["address"]: rc["change"]["actions"] for rc in plan["resource_changes"] if rc["mode"] == "managed"}


BATCH = "module.platform.module.batch"
TEMPLATE = "module.platform.module.compute.aws_launch_template.this"


def test_a_new_ami_is_an_in_place_update_of_the_compute_environments(deployed: Deployment, tmp_path: Path) -> None:
    """`runner ami build` writes a new ami.auto.tfvars.json: the plan makes a new template version and updates
    both compute environments in place to that version (Batch's infrastructure update), replacing nothing."""
    require_tool("terraform")
    copy = _copy_of_the_deployment(deployed, tmp_path / "copy")
    other_image = deployed.ami_build["source_ami"]  # registered in the emulator, not the image in use
    assert other_image != deployed.output("ami_id")
    (copy.root / "envs" / "local" / "ami.auto.tfvars.json").write_text(json.dumps({"ami_id": other_image}))

    summary = copy.run_json("infra", "plan", "--env", "local", "--format", "json")
    assert (summary["add"], summary["destroy"]) == (0, 0)
    # The env's output contract in SSM carries ami_id and the template version: updated in place as well.
    assert summary["by_type"] == {
        "aws_batch_compute_environment": {"update": 2},
        "aws_launch_template": {"update": 1},
        "aws_ssm_parameter": {"update": 1},
    }
    assert {c["address"] for c in summary["changes"] if c["type"] != "aws_ssm_parameter"} == {
        f'{BATCH}.aws_batch_compute_environment.this["spot"]',
        f'{BATCH}.aws_batch_compute_environment.this["ondemand"]',
        TEMPLATE,
    }
    assert set(summary["outputs_changed"]) == {"ami_id", "launch_template_version"}

    tf = Terraform(
        copy.root / "envs" / "local",
        copy.root / "modules",
        copy.home,
        environ=copy.environ(AWS_ENDPOINT_URL=copy.endpoint, **copy.credentials()),
    )
    plan = tf.show_plan(copy.home / "plans" / "local.plan")
    changes = {rc["address"]: rc["change"] for rc in plan["resource_changes"] if rc["mode"] == "managed"}
    assert changes[TEMPLATE]["after"]["image_id"] == other_image
    for key in ("spot", "ondemand"):
        change = changes[f'{BATCH}.aws_batch_compute_environment.this["{key}"]']
        assert change["actions"] == ["update"] and not change.get("replace_paths")
        before = change["before"]["compute_resources"][0]["launch_template"][0]
        assert before["version"] == deployed.output("launch_template_version")  # pinned, not $Latest
        # The new version number exists only after the template update: the environment takes it in place.
        assert change["after_unknown"]["compute_resources"][0]["launch_template"][0]["version"] is True
        assert change["after"]["update_policy"] == [
            {"job_execution_timeout_minutes": 360, "terminate_jobs_on_update": False}
        ]


def test_other_changes_update_in_place_and_a_forced_replacement_keeps_the_queues(
    deployed: Deployment, tmp_path: Path
) -> None:
    """Instance types and the template's volumes change in place; a replacement (forced here with -replace: the
    module's inputs no longer cause one) creates the new environment before the old one goes and updates the
    queue in place (no "existing JobQueue relationship")."""
    require_tool("terraform")
    copy = _copy_of_the_deployment(deployed, tmp_path / "copy")
    main = copy.root / "envs" / "local" / "main.tf"
    text = main.read_text()
    assert "scratch_volume_size = 50" in text and 'max_vcpus = 16, instance_types = ["optimal"]' in text
    text = text.replace("scratch_volume_size = 50", "scratch_volume_size = 80")
    text = text.replace('max_vcpus = 16, instance_types = ["optimal"]', 'max_vcpus = 16, instance_types = ["m6i"]')
    main.write_text(text)
    environ = copy.environ(AWS_ENDPOINT_URL=copy.endpoint, AWS_REGION="us-east-1", **copy.credentials())
    tf = Terraform(copy.root / "envs" / "local", copy.root / "modules", copy.home, environ=environ)
    actions = _managed_actions(tf.plan(copy.home / "change.tfplan").plan)
    assert actions[TEMPLATE] == ["update"]
    assert actions[f'{BATCH}.aws_batch_compute_environment.this["spot"]'] == ["update"]
    assert actions[f'{BATCH}.aws_batch_compute_environment.this["ondemand"]'] == ["update"]
    assert all(act in (["no-op"], ["update"]) for act in actions.values()), actions
    assert all(act == ["no-op"] for a, act in actions.items() if "aws_batch_job_queue" in a)

    spot = f'{BATCH}.aws_batch_compute_environment.this["spot"]'
    actions = _managed_actions(tf.plan(copy.home / "replace.tfplan", f"-replace={spot}").plan)
    assert actions[spot] == ["create", "delete"]  # create_before_destroy
    assert actions[f'{BATCH}.aws_batch_job_queue.this["default"]'] == ["update"]
    assert actions[f'{BATCH}.aws_batch_job_queue.this["priority"]'] == ["no-op"]
    changed = {a for a, act in actions.items() if act != ["no-op"]}
    assert not {a for a in changed if "aws_batch_job_definition" in a or "aws_s3_bucket" in a}
