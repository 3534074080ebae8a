"""modules/github-oidc: validates offline, and applied to the emulator its roles trust exactly what they should."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from runner.infra.terraform import Terraform, write_cli_config
from tests import iam_eval
from tests.helpers import REPO, Project, free_port, require_tool

pytestmark = pytest.mark.integration

MODULE = REPO / "modules" / "github-oidc"
FIXTURE = REPO / "tests" / "fixtures" / "github_oidc_root"
REPOSITORY = "acme/batch-platform"


def test_module_validates_with_init_backend_false(tmp_path: Path) -> None:
    terraform = require_tool("terraform")
    work = tmp_path / "github-oidc"
    shutil.copytree(MODULE, work, ignore=shutil.ignore_patterns(".terraform*"))
    env = {"TF_DATA_DIR": str(tmp_path / "data"), "TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin"}
    config = write_cli_config(tmp_path)
    if config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(config)
    for args in (["init", "-backend=false", "-input=false", "-no-color"], ["validate", "-no-color"]):
        proc = subprocess.run([terraform, f"-chdir={work}", *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "The configuration is valid" in proc.stdout


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Any]]]:
    require_tool("terraform")
    root = tmp_path_factory.mktemp("oidc")
    shutil.copytree(FIXTURE, root / "envs" / "oidc")
    shutil.copytree(MODULE, root / "modules" / "github-oidc", ignore=shutil.ignore_patterns(".terraform*"))
    proj = Project(root=root, port=free_port())
    proj.run("infra", "apply", "--env", "oidc", "--auto-approve")
    outputs = {k: v["value"] for k, v in proj.run_json("infra", "output", "--env", "oidc", "--json").items()}
    yield proj, outputs
    proj.run("local", "down", check=False)


def role_documents(proj: Project, arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    iam = proj.client("iam")
    name = arn.rsplit("/", 1)[1]
    role = iam.get_role(RoleName=name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    (policy_name,) = iam.list_role_policies(RoleName=name)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    policy = json.loads(unquote(policy)) if isinstance(policy, str) else policy
    return trust, policy


def statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in doc["Statement"] if s.get("Sid") == sid]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_provider_and_roles_exist(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    providers = proj.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [out["oidc_provider_arn"]]
    assert out["oidc_provider_arn"].endswith("oidc-provider/token.actions.githubusercontent.com")
    assert set(out["plan_role_arns"]) == set(out["apply_role_arns"]) == {"dev", "prod"}
    assert out["apply_role_arns"]["prod"].endswith(":role/batch-platform-gha-prod-apply")
    variables = out["github_variables"]
    assert json.loads(variables["AWS_PLAN_ROLE_ARNS"]) == out["plan_role_arns"]
    assert json.loads(variables["AWS_APPLY_ROLE_ARNS"]) == out["apply_role_arns"]
    assert json.loads(variables["AWS_REGIONS"]) == {"dev": "eu-west-1", "prod": "eu-west-1"}


def test_trust_is_scoped_to_the_repository_audience_and_subject(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    expected = {
        ("dev", "plan"): [f"repo:{REPOSITORY}:pull_request", f"repo:{REPOSITORY}:ref:refs/heads/main"],
        ("prod", "plan"): [f"repo:{REPOSITORY}:pull_request", f"repo:{REPOSITORY}:ref:refs/heads/main"],
        ("dev", "apply"): [f"repo:{REPOSITORY}:ref:refs/heads/main"],
        ("prod", "apply"): [f"repo:{REPOSITORY}:environment:prod"],  # only through the reviewed GitHub environment
    }
    for (env, kind), subjects in expected.items():
        trust, _ = role_documents(proj, out[f"{kind}_role_arns"][env])
        (stmt,) = trust["Statement"]
        assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert stmt["Principal"] == {"Federated": out["oidc_provider_arn"]}
        cond = stmt["Condition"]["StringEquals"]
        assert cond["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        assert sorted(as_list(cond["token.actions.githubusercontent.com:sub"])) == sorted(subjects)
        assert set(stmt["Condition"]) == {"StringEquals"}  # no StringLike wildcards anywhere


def test_plan_role_writes_only_the_lock_and_never_reads_data(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    _, plan = role_documents(proj, out["plan_role_arns"]["dev"])
    writes = [s for s in plan["Statement"] if {"s3:PutObject", "s3:DeleteObject"} & set(as_list(s["Action"]))]
    assert [as_list(s["Resource"]) for s in writes] == [
        ["arn:aws:s3:::acme-tfstate/batch-platform/dev/terraform.tfstate.tflock"]
    ]
    readers = [s for s in plan["Statement"] if "s3:GetObject" in as_list(s["Action"])]
    assert {r for s in readers for r in as_list(s["Resource"])} == {
        "arn:aws:s3:::acme-tfstate/batch-platform/dev/terraform.tfstate",
        "arn:aws:s3:::acme-tfstate/batch-platform/dev/terraform.tfstate.tflock",
    }
    actions = {a for s in plan["Statement"] for a in as_list(s["Action"])}
    assert not {a for a in actions if a.split(":")[1].startswith(("Create", "Delete", "Put", "Update", "Register"))} - {
        "s3:PutObject",
        "s3:DeleteObject",
    }


def test_apply_role_is_limited_to_the_envs_names_and_state(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    _, apply = role_documents(proj, out["apply_role_arns"]["prod"])
    assert as_list(statement(apply, "StateWrite")["Resource"]) == [
        "arn:aws:s3:::acme-tfstate/batch-platform/prod/terraform.tfstate"
    ]
    assert as_list(statement(apply, "ManageEnvBuckets")["Resource"]) == ["arn:aws:s3:::batch-platform-prod-*"]
    assert all(":role/batch-platform-prod-" in r for r in as_list(statement(apply, "PassEnvRolesToBatch")["Resource"]))
    # EC2 writes: every one conditioned on the env's tag (request tag on create, resource tag on change).
    for stmt in apply["Statement"]:
        if any(a.startswith("ec2:") and not a.startswith(("ec2:Describe", "ec2:Get")) for a in as_list(stmt["Action"])):
            keys = {k for block in stmt["Condition"].values() for k in block}
            assert keys & {"aws:RequestTag/Platform", "aws:ResourceTag/Platform", "ec2:CreateAction"}, stmt["Sid"]
            assert all(r.startswith("arn:aws:ec2:eu-west-1:") for r in as_list(stmt["Resource"])), stmt["Sid"]
    for stmt in apply["Statement"]:
        assert "*" not in as_list(stmt["Action"]) and not any(a.endswith(":*") for a in as_list(stmt["Action"]))


def test_a_bad_repository_is_refused_before_any_aws_call(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, _ = oidc
    tf = Terraform(proj.root / "envs" / "oidc", proj.root / "modules", proj.home, environ=proj.environ())
    argv = tf.argv("plan", "-input=false", "-no-color", "-var", "repository=not a repository")
    proc = subprocess.run(argv, env=tf.environment(), capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "repository must be `owner/name`" in " ".join(proc.stderr.split())


# --------------------------------------------------------------------------------------------------------------
# Least privilege of the apply role, evaluated (tests/iam_eval.py) on the policies the module rendered
# --------------------------------------------------------------------------------------------------------------

ACCOUNT = "123456789012"
DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/batch-platform-dev-job-20260101"


def _apply_policies(proj: Project, out: dict[str, Any], env: str) -> list[dict[str, Any]]:
    return iam_eval.role_policies(proj.client("iam"), out["apply_role_arns"][env].rsplit("/", 1)[1])


def test_apply_role_cannot_create_a_role_without_the_boundary(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    policies = _apply_policies(proj, out, "dev")
    boundary = out["role_boundary_arns"]["dev"]
    assert boundary == f"arn:aws:iam::{ACCOUNT}:policy/batch-platform/boundaries/batch-platform-gha-dev-role-boundary"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"):
        context: dict[str, str] = {
            "iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/batch-platform/batch-platform-dev-x"
        }
        assert not iam_eval.allowed(policies, action, DEV_ROLE, context), f"{action} without a boundary"
        for other in (out["role_boundary_arns"]["prod"], "arn:aws:iam::aws:policy/AdministratorAccess"):
            assert not iam_eval.allowed(policies, action, DEV_ROLE, {**context, "iam:PermissionsBoundary": other})
        assert iam_eval.allowed(policies, action, DEV_ROLE, {**context, "iam:PermissionsBoundary": boundary}), action
    # never outside the env's names, even bounded
    prod_role = DEV_ROLE.replace("-dev-", "-prod-")
    assert not iam_eval.allowed(policies, "iam:CreateRole", prod_role, {"iam:PermissionsBoundary": boundary})
    # a boundary is never removed, and the boundary policies never change
    assert iam_eval.decide(policies, "iam:DeleteRolePermissionsBoundary", DEV_ROLE) == iam_eval.DENY
    for arn in out["role_boundary_arns"].values():
        for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
            assert iam_eval.decide(policies, action, arn) == iam_eval.DENY, (action, arn)


def test_apply_role_attaches_only_the_platforms_policies(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    policies = _apply_policies(proj, out, "dev")
    bounded = {"iam:PermissionsBoundary": out["role_boundary_arns"]["dev"]}
    ok = [
        f"arn:aws:iam::{ACCOUNT}:policy/batch-platform/batch-platform-dev-analyst",
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
        "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole",
    ]
    refused = [
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/IAMFullAccess",
        f"arn:aws:iam::{ACCOUNT}:policy/admin",
        f"arn:aws:iam::{ACCOUNT}:policy/other-path/batch-platform-dev-x",
    ]
    for arn in ok:
        assert iam_eval.allowed(policies, "iam:AttachRolePolicy", DEV_ROLE, {**bounded, "iam:PolicyARN": arn}), arn
    for arn in refused:
        assert not iam_eval.allowed(policies, "iam:AttachRolePolicy", DEV_ROLE, {**bounded, "iam:PolicyARN": arn}), arn
    # managed policies are created only under the platform's path and the env's name
    own = f"arn:aws:iam::{ACCOUNT}:policy/batch-platform/batch-platform-dev-analyst"
    assert iam_eval.allowed(policies, "iam:CreatePolicy", own)
    assert not iam_eval.allowed(policies, "iam:CreatePolicy", f"arn:aws:iam::{ACCOUNT}:policy/batch-platform-dev-x")


def test_boundary_holds_no_iam_write_but_passing_the_envs_roles(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    iam = proj.client("iam")
    boundary = [iam_eval.managed_policy(iam, out["role_boundary_arns"]["dev"])]
    for action in (
        "iam:CreateRole",
        "iam:AttachRolePolicy",
        "iam:PutRolePolicy",
        "iam:CreateUser",
        "iam:CreateAccessKey",
    ):
        assert not iam_eval.allowed(boundary, action, DEV_ROLE), action
    assert iam_eval.allowed(boundary, "iam:PassRole", DEV_ROLE)
    assert not iam_eval.allowed(boundary, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")
    region = {"aws:RequestedRegion": "eu-west-1"}
    assert iam_eval.allowed(boundary, "batch:SubmitJob", "arn:aws:batch:eu-west-1:1:job-queue/q", region)
    assert not iam_eval.allowed(boundary, "batch:SubmitJob", "arn:aws:batch:us-east-1:1:job-queue/q", {
        "aws:RequestedRegion": "us-east-1"})  # fmt: skip
    assert iam_eval.allowed(boundary, "s3:PutObject", "arn:aws:s3:::batch-platform-dev-work/x")
    assert not iam_eval.allowed(boundary, "s3:PutObject", "arn:aws:s3:::someone-else/x")


def test_apply_role_changes_only_ec2_resources_tagged_for_its_env(oidc: tuple[Project, dict[str, Any]]) -> None:
    proj, out = oidc
    policies = _apply_policies(proj, out, "dev")
    ec2 = f"arn:aws:ec2:eu-west-1:{ACCOUNT}"
    mine, theirs = (
        {"aws:ResourceTag/Platform": "batch-platform-dev"},
        {"aws:ResourceTag/Platform": "batch-platform-prod"},
    )
    tagging = {"aws:RequestTag/Platform": "batch-platform-dev"}
    # creating: only tagged for the env
    assert iam_eval.allowed(policies, "ec2:CreateVpc", f"{ec2}:vpc/*", tagging)
    assert not iam_eval.allowed(policies, "ec2:CreateVpc", f"{ec2}:vpc/*")
    assert not iam_eval.allowed(policies, "ec2:CreateVpc", f"{ec2}:vpc/*", {"aws:RequestTag/Platform": "x"})
    assert iam_eval.allowed(policies, "ec2:CreateTags", f"{ec2}:vpc/*", {"ec2:CreateAction": "CreateVpc", **tagging})
    # a new subnet in another env's VPC: the VPC itself is not the env's
    assert iam_eval.allowed(policies, "ec2:CreateSubnet", f"{ec2}:subnet/*", tagging)
    assert iam_eval.allowed(policies, "ec2:CreateSubnet", f"{ec2}:vpc/vpc-1", {**tagging, **mine})
    assert not iam_eval.allowed(policies, "ec2:CreateSubnet", f"{ec2}:vpc/vpc-2", {**tagging, **theirs})
    # changing or deleting: only resources that carry the env's tag
    for action, resource in (
        ("ec2:DeleteVpc", "vpc/vpc-1"),
        ("ec2:AuthorizeSecurityGroupEgress", "security-group/sg-1"),
        ("ec2:RevokeSecurityGroupIngress", "security-group/sg-1"),
        ("ec2:CreateLaunchTemplateVersion", "launch-template/lt-1"),
        ("ec2:DeleteTags", "subnet/subnet-1"),
    ):
        assert iam_eval.allowed(policies, action, f"{ec2}:{resource}", mine), action
        assert not iam_eval.allowed(policies, action, f"{ec2}:{resource}", {**tagging, **theirs}), action
        assert not iam_eval.allowed(policies, action, f"{ec2}:{resource}"), action
    # another region, even tagged: no
    assert not iam_eval.allowed(policies, "ec2:DeleteVpc", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-1", mine)
