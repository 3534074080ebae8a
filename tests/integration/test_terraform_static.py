"""Static checks of modules/ and envs/: validate, fmt, checkov, idle cost of dev, and the aws 6.25.0 schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.infra.terraform import Terraform
from tests import provider_schema
from tests.helpers import REPO, Project, copy_project, error_line, require_tool

pytestmark = pytest.mark.integration

SCHEMA_CACHE = REPO / ".venv" / "cache" / "cdktf"


def _terraform(root: Path, env: str, **environ: str) -> Terraform:
    base = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "ENV")}
    base.update(environ)
    home = root / ".runner"
    home.mkdir(exist_ok=True)
    return Terraform(root / "envs" / env, root / "modules", home, environ=base)


# --------------------------------------------------------------------------------------------------------------
# validate and fmt
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_validates_without_a_backend(env: str, tmp_path: Path) -> None:
    require_tool("terraform")
    root = copy_project(tmp_path)
    tf = _terraform(root, env)
    tf.run("init", "-backend=false", "-input=false", "-no-color", capture=True)
    result = tf.run("validate", "-json", "-no-color", capture=True, check=False)
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["error_count"] == 0, json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


def test_terraform_files_are_formatted() -> None:
    terraform = require_tool("terraform")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "modules", "envs"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt would change:\n{proc.stdout}"


def test_dev_and_prod_lock_state_in_s3_and_prod_is_protected() -> None:
    for env in ("dev", "prod"):
        text = (REPO / "envs" / env / "versions.tf").read_text()
        assert re.search(r'backend\s+"s3"', text)
        assert re.search(r"use_lockfile\s*=\s*true", text) and re.search(r"encrypt\s*=\s*true", text)
    from runner.core.project import resolve_env

    assert resolve_env("prod", REPO).protected is True
    assert resolve_env("dev", REPO).protected is False
    dev, prod = resolve_env("dev", REPO).tfvars, resolve_env("prod", REPO).tfvars
    for size in ("spot_max_vcpus", "ondemand_max_vcpus", "scratch_volume_size"):
        assert prod[size] > dev[size], size


# --------------------------------------------------------------------------------------------------------------
# One owner per variable type: modules/platform (and the env roots) pass child modules' objects through
# --------------------------------------------------------------------------------------------------------------


def _variables(path: Path) -> dict[str, dict[str, Any]]:
    import hcl2

    with path.open() as fh:
        doc = hcl2.load(fh)
    return {name.strip('"'): body for block in doc.get("variable", []) for name, body in block.items()}


def _type(body: dict[str, Any]) -> str:
    raw = str(body.get("type", "any"))
    raw = raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw
    return re.sub(r"\s+", "", raw)


def _object_attributes(type_expr: str) -> frozenset[str]:
    """Attribute names of the innermost object type (`map(object({a=string,b=optional(number)}))` -> {a, b})."""
    inner = type_expr[type_expr.rindex("object({") + len("object({") :]
    depth, names, token = 0, set(), ""
    for char in inner:
        if char in "({[":
            depth += 1
        elif char in ")}]":
            if depth == 0:
                break
            depth -= 1
        elif char == "=" and depth == 0:
            names.add(token.strip(", "))
            token = ""
            continue
        elif char == "," and depth == 0:
            token = ""
            continue
        token += char if depth == 0 else ""
    return frozenset(names)


def _owned_object_types() -> dict[str, str]:
    """Object-typed variables of the child modules: a key (name, type, attribute set) -> who owns it."""
    owned: dict[str, str] = {}
    for module in sorted((REPO / "modules").iterdir()):
        if module.name == "platform" or not (module / "variables.tf").is_file():
            continue
        for name, body in _variables(module / "variables.tf").items():
            kind = _type(body)
            if "object(" in kind:
                owner = f"modules/{module.name} variable {name}"
                owned[f"name:{name}"] = owner
                owned[f"type:{kind}"] = owner
                owned[f"attributes:{sorted(_object_attributes(kind))}"] = owner
    return owned


def redeclared_object_types(variables_tf: Path) -> list[str]:
    """Variables of ``variables_tf`` that declare an object type a child module owns (same name, same type, or
    the same attributes under another name)."""
    owned = _owned_object_types()
    problems = []
    for name, body in _variables(variables_tf).items():
        kind = _type(body)
        if "object(" not in kind:
            continue
        for key in (f"name:{name}", f"type:{kind}", f"attributes:{sorted(_object_attributes(kind))}"):
            if key in owned:
                problems.append(f"{name}: re-declares the object type of {owned[key]} (pass it through typed any)")
                break
    return problems


@pytest.mark.parametrize("path", ["modules/platform/variables.tf", "envs/dev/variables.tf", "envs/prod/variables.tf"])
def test_no_object_type_is_declared_twice(path: str) -> None:
    assert redeclared_object_types(REPO / path) == []


def test_the_redeclaration_check_catches_a_copied_or_renamed_type(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(
        """
variable "compute_environments" {
  type = map(object({
    type      = string
    max_vcpus = number
  }))
  default = null
}
variable "ecr_repositories" {
  type = map(object({
    keep_images           = optional(number, 10)
    expiring_tag_prefixes = optional(list(string), ["dev-"])
    untagged_days         = optional(number, 7)
  }))
}
variable "platform_owned" {
  type = object({ colour = string })
}
"""
    )
    assert redeclared_object_types(tmp_path / "variables.tf") == [
        "compute_environments: re-declares the object type of modules/batch variable compute_environments "
        "(pass it through typed any)",
        "ecr_repositories: re-declares the object type of modules/registry variable repositories "
        "(pass it through typed any)",
    ]


def test_platform_pass_through_variables_name_their_owner() -> None:
    """Every `any` variable of modules/platform says which module owns (and checks) it."""
    variables = _variables(REPO / "modules" / "platform" / "variables.tf")
    passed = {name: body for name, body in variables.items() if _type(body) == "any"}
    assert {"compute_environments", "job_queues", "job_definitions", "head_job_definition", "fair_share"} <= set(passed)
    assert {"buckets", "ecr_repositories"} <= set(passed)
    for name, body in passed.items():
        assert re.search(r"`modules/[a-z-]+` variable `\w+`", str(body.get("description", ""))), name


# --------------------------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------------------------


def _checkov() -> str:
    explicit = os.environ.get("CHECKOV")
    candidate = Path(explicit) if explicit else REPO / ".venv" / "checkov" / "bin" / "checkov"
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        pytest.fail(f"checkov not found at {candidate}: run `make setup` (it installs .venv/checkov) or set CHECKOV")
    return str(candidate)


@pytest.mark.parametrize("folder", ["modules", "envs"])
def test_checkov_finds_no_failed_check(folder: str) -> None:
    proc = subprocess.run(
        [_checkov(), "-d", folder, "--framework", "terraform", "--compact", "--quiet", "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    reports: Any = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for report in reports
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    summary = reports[0]["summary"]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 100


def test_every_checkov_skip_gives_its_reason_inline() -> None:
    skips = []
    for path in sorted([*REPO.glob("modules/**/*.tf"), *REPO.glob("envs/**/*.tf")]):
        if ".terraform" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                skips.append((f"{path.relative_to(REPO)}:{number}", line))
    assert skips, "expected the deliberate skips to be found"
    for where, line in skips:
        match = re.search(r"#checkov:skip=(CKV2?_AWS_\d+):(.*)$", line)
        assert match, f"{where}: malformed skip: {line.strip()}"
        assert len(match.group(2).strip()) >= 20, f"{where}: {match.group(1)} skipped without a reason"


# --------------------------------------------------------------------------------------------------------------
# Idle cost of dev
# --------------------------------------------------------------------------------------------------------------

# The plan of the real envs/dev root (its terraform.tfvars, variables and module wiring), not of a look-alike:
# a plan needs an AWS API for the data sources (zones, the AMI parameter, caller identity), which the emulator
# answers for any region. Override files, which terraform merges over the root, swap only what ties the plan to
# a real account: the S3 backend becomes local state and the provider skips credential checks; the runner's
# emulator variables (AWS_ENDPOINT_URL, dummy keys) do the rest. Nothing is applied.
DEV_OVERRIDE = """\
# Written by the idle-cost test in a scratch copy: plan envs/dev against the embedded AWS.
terraform {
  backend "local" {}
}

provider "aws" {
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
"""


@pytest.fixture(scope="module")
def dev_plan(project: Project, emulator: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_tool("terraform")
    root = copy_project(tmp_path_factory.mktemp("devplan"))
    (root / "envs" / "dev" / "test_override.tf").write_text(DEV_OVERRIDE)
    (root / "envs" / "dev" / "backend.hcl").unlink(missing_ok=True)
    tf = _terraform(
        root,
        "dev",
        AWS_ENDPOINT_URL=project.endpoint,
        **project.credentials(),
    )
    result = tf.plan(root / ".runner" / "dev.tfplan")
    return result.plan


def _changes(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [rc for rc in plan["resource_changes"] if rc["type"] == rtype and rc["mode"] == "managed"]


def test_dev_idles_at_zero_cost(dev_plan: dict[str, Any]) -> None:
    types = {rc["type"] for rc in dev_plan["resource_changes"] if rc["mode"] == "managed"}
    assert "aws_batch_job_queue" in types and "aws_launch_template" in types  # the plan is the whole platform
    for costly in ("aws_nat_gateway", "aws_eip", "aws_instance", "aws_spot_instance_request", "aws_autoscaling_group"):
        assert costly not in types, f"dev would pay for {costly} while idle"
    environments = _changes(dev_plan, "aws_batch_compute_environment")
    assert len(environments) == 2
    for rc in environments:
        resources = rc["change"]["after"]["compute_resources"][0]
        assert resources["min_vcpus"] == 0, f"{rc['address']} keeps instances running"
        assert resources.get("desired_vcpus") in (None, 0)
    endpoints = _changes(dev_plan, "aws_vpc_endpoint")
    assert [rc["change"]["after"]["vpc_endpoint_type"] for rc in endpoints] == ["Gateway"]  # interface ones bill


# --------------------------------------------------------------------------------------------------------------
# aws provider 6.25.0 schema
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aws6_schema() -> dict[str, Any]:
    try:
        return provider_schema.load_schema(SCHEMA_CACHE)
    except provider_schema.SchemaUnavailable as exc:
        pytest.fail(f"aws {provider_schema.PROVIDER_VERSION} schema unavailable: {exc}")


@pytest.mark.parametrize("folder", ["modules", "envs"])
def test_every_type_and_argument_exists_in_aws_6(aws6_schema: dict[str, Any], folder: str) -> None:
    used = provider_schema.used_arguments(REPO / folder)
    assert used, f"no aws resources found under {folder}"
    assert provider_schema.unknown_arguments(aws6_schema, REPO / folder) == []


def test_the_schema_check_catches_what_6_removed(aws6_schema: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "old.tf").write_text(
        """
resource "aws_batch_job_queue" "q" {
  name                 = "q"
  compute_environments = ["arn"]
}
resource "aws_batch_compute_environment" "ce" {
  compute_environment_name = "ce"
  compute_resources {
    launch_template {
      launch_template_name = "lt"
      not_an_argument      = 1
    }
  }
}
resource "aws_no_such_thing" "x" {}
data "aws_region" "r" {}
provider "aws" {
  region              = "eu-west-1"
  s3_force_path_style = true
}
"""
    )
    assert provider_schema.unknown_arguments(aws6_schema, tmp_path) == [
        "provider.aws.s3_force_path_style: not an argument in aws 6.25.0",
        "aws_batch_compute_environment.compute_environment_name: not an argument in aws 6.25.0",
        "aws_batch_compute_environment.compute_resources.launch_template.not_an_argument: "
        "not an argument in aws 6.25.0",
        "aws_batch_job_queue.compute_environments: not an argument in aws 6.25.0",
        "aws_no_such_thing: no such resource type in aws 6.25.0",
    ]


def test_prod_refuses_an_unreviewed_apply_before_touching_aws(project: Project) -> None:
    proc = project.run("infra", "apply", "--env", "prod", "--auto-approve", check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert "protected" in line and "runner infra plan --env prod" in line
    assert not (project.root / "envs" / "prod" / ".terraform").exists()  # not even terraform init ran
