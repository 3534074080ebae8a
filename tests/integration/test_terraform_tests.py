"""Terraform's own tests: `terraform init` and `terraform test` in every module folder, offline.

Each module keeps `tests/*.tftest.hcl` files that run against a mocked aws provider (`mock_provider "aws"`: no
credentials, no API, seconds per module): variable validations (`expect_failures`), lifecycle rules, IAM
statements, the S3 endpoint policy, outputs. The emulator applies (test_platform, test_security) stay for what
needs a real API. This file runs them all in a scratch copy of modules/ (terraform writes `.terraform/` there),
with the runner's CLI config for the provider mirror, and fails with terraform's own report when one fails.

Two policies are also evaluated request by request with tests/iam_eval.py: the S3 endpoint policy as the aws
provider renders it (modules/network/tests/endpoint_policy.tftest.hcl plans with the real provider, offline), and
the analyst and head policies with fair share on (their statements as configured in modules/platform's mocked
apply, tests/fair_share.tftest.hcl; the mocked provider renders no JSON, so `_document` below writes the IAM
JSON from those statements). Only those two files run again with -verbose, which prints every run's plan or
state (over 100 MB for all of modules/platform).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.infra.terraform import Terraform
from tests import iam_eval
from tests.helpers import REPO, copy_project, require_tool

pytestmark = pytest.mark.integration

MODULES = sorted(p.name for p in (REPO / "modules").iterdir() if (p / "main.tf").is_file())
WORKERS = 2  # the machine's CPUs are shared: two modules at a time


@dataclass
class ModuleTests:
    """One module's `terraform test -json -verbose`: exit code, a readable report, plans and states by run."""

    module: str
    code: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    plans: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    states: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    output: str = ""

    def report(self) -> str:
        lines = [f"terraform test in modules/{self.module} exited {self.code}"]
        lines += [f"  failed: {run}" for run in self.failed_runs]
        for message in self.messages:
            diagnostic = message.get("diagnostic")
            if diagnostic is None:
                continue
            where = "/".join(filter(None, [message.get("@testfile"), message.get("@testrun")]))
            rng = diagnostic.get("range") or {}
            at = f" ({rng.get('filename')}:{(rng.get('start') or {}).get('line')})" if rng else ""
            lines.append(f"{diagnostic.get('severity', '?')}: {where}{at}: {diagnostic.get('summary', '')}")
            if diagnostic.get("detail"):
                lines += [f"    {d}" for d in diagnostic["detail"].splitlines()]
        if not self.messages:
            lines.append(self.output[-6000:])
        return "\n".join(lines)


def _engine(root: Path, module: str) -> Terraform:
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "ENV", "TF_CLI_CONFIG_FILE")}
    return Terraform(root / "modules" / module, root / "modules", root / ".runner", environ=environ)


def _terraform_test(root: Path, module: str, *extra: str) -> ModuleTests:
    """`terraform init` (once per folder) and `terraform test -json` there, parsed."""
    tf = _engine(root, module)
    if not (tf.env_dir / ".terraform").is_dir():
        init = tf.run("init", "-input=false", "-no-color", capture=True, check=False)
        if init.code != 0:
            return ModuleTests(module, init.code, output=f"terraform init failed:\n{init.stdout}\n{init.stderr}")
    proc = tf.run("test", "-json", "-no-color", *extra, capture=True, check=False)
    result = ModuleTests(module, proc.code, output=f"{proc.stdout}\n{proc.stderr}")
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        key = (message.get("@testfile", ""), message.get("@testrun", ""))
        if "test_abstract" in message:
            result.files = sorted(message["test_abstract"])
        elif "test_plan" in message:
            result.plans[key] = message["test_plan"]
        elif "test_state" in message:
            result.states[key] = message["test_state"]
        else:
            result.messages.append(message)
            run = message.get("test_run") or {}
            if run.get("progress") == "complete" and run.get("status") != "pass":
                result.failed_runs.append(f"{run['path']}/{run['run']}: {run.get('status')}")
    return result


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("terraform")
    root = copy_project(tmp_path_factory.mktemp("tftest"))
    (root / ".runner").mkdir()
    _engine(root, MODULES[0]).environment()  # the CLI config (provider mirror), written before workers share it
    return root


@pytest.fixture(scope="module")
def terraform_tests(project_copy: Path) -> dict[str, ModuleTests]:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return dict(zip(MODULES, pool.map(lambda m: _terraform_test(project_copy, m), MODULES), strict=True))


def _verbose(root: Path, module: str, test_file: str) -> ModuleTests:
    """One test file again with -verbose: the plan or state of each run (large: only for the policy checks)."""
    result = _terraform_test(root, module, "-verbose", f"-filter={test_file}")
    assert result.code == 0 and not result.failed_runs, result.report()
    return result


def test_every_module_has_terraform_tests() -> None:
    assert len(MODULES) >= 7, MODULES
    missing = [m for m in MODULES if not sorted((REPO / "modules" / m / "tests").glob("*.tftest.hcl"))]
    assert missing == [], f"modules without tests/*.tftest.hcl: {missing}"
    for module in MODULES:
        for path in (REPO / "modules" / module / "tests").glob("*.tftest.hcl"):
            text = path.read_text()
            # Offline: a mocked provider, or the real one with fake credentials that asks AWS nothing.
            assert 'mock_provider "aws"' in text or "skip_credentials_validation = true" in text, path


@pytest.mark.parametrize("module", MODULES)
def test_terraform_test_passes(terraform_tests: dict[str, ModuleTests], module: str) -> None:
    result = terraform_tests[module]
    assert result.code == 0 and not result.failed_runs, result.report()
    folder = REPO / "modules" / module
    expected = sorted(str(p.relative_to(folder)) for p in folder.glob("tests/*.tftest.hcl"))
    assert result.files == expected, f"terraform ran {result.files}, the folder has {expected}"


# --------------------------------------------------------------------------------------------------------------
# Policies evaluated request by request
# --------------------------------------------------------------------------------------------------------------


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """An IAM policy document from aws_iam_policy_document `statement` blocks as configured (as the provider
    writes it: Allow by default, conditions grouped by operator)."""
    out = []
    for s in statements:
        st: dict[str, Any] = {"Sid": s.get("sid") or "", "Effect": s.get("effect") or "Allow"}
        for block, key in (("actions", "Action"), ("not_actions", "NotAction")):
            if s.get(block):
                st[key] = sorted(s[block])
        for block, key in (("resources", "Resource"), ("not_resources", "NotResource")):
            if s.get(block):
                st[key] = sorted(s[block])
        conditions: dict[str, dict[str, list[str]]] = {}
        for c in s.get("condition") or []:
            conditions.setdefault(c["test"], {})[c["variable"]] = list(c["values"])
        if conditions:
            st["Condition"] = conditions
        out.append(st)
    return {"Version": "2012-10-17", "Statement": out}


def _data_source(state: dict[str, Any], address: str) -> dict[str, Any]:
    def walk(module: dict[str, Any]) -> list[dict[str, Any]]:
        found = list(module.get("resources", []))
        for child in module.get("child_modules", []):
            found += walk(child)
        return found

    matches = [r for r in walk(state["values"]["root_module"] if "values" in state else state["root_module"])]
    matches = [r for r in matches if r["address"] == address]
    assert len(matches) == 1, f"{address} not in the run's state"
    values: dict[str, Any] = matches[0]["values"]
    return values


def test_s3_endpoint_policy_reaches_only_the_listed_buckets(project_copy: Path) -> None:
    network = _verbose(project_copy, "network", "tests/endpoint_policy.tftest.hcl")
    plan = network.plans[("tests/endpoint_policy.tftest.hcl", "rendered")]
    policy = [json.loads(plan["output_changes"]["s3_endpoint_policy"]["after"])]
    s3 = "arn:aws:s3:::"

    def allowed(action: str, resource: str) -> bool:
        return iam_eval.allowed(policy, action, resource)

    for bucket in ("acme-dev-data", "acme-dev-work", "acme-dev-results"):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
            assert allowed(action, f"{s3}{bucket}/runs/r1/x"), (action, bucket)
        assert allowed("s3:ListBucket", f"{s3}{bucket}")
    assert allowed("s3:GetObject", f"{s3}ngi-igenomes/Homo_sapiens/genome.fa")
    assert allowed("s3:ListBucket", f"{s3}ngi-igenomes")
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert not allowed(action, f"{s3}ngi-igenomes/x"), action
    # AWS-owned buckets of the env's region: read only
    for key in (
        "prod-eu-west-1-starport-layer-bucket/ab/sha256:0123",
        "al2023-repos-eu-west-1-de612dc2/core/mirrors/latest/x86_64/mirror.list",
        "amazonlinux-2-repos-eu-west-1/2/core/latest/x86_64/mirror.list",
        "amazon-ecs-agent-eu-west-1/ecs-agent-v1.90.0.tar",
        "amazon-ssm-eu-west-1/latest/linux_amd64/amazon-ssm-agent.rpm",
        "aws-ssm-eu-west-1/manifest.json",
    ):
        assert allowed("s3:GetObject", f"{s3}{key}"), key
        assert not allowed("s3:PutObject", f"{s3}{key}"), key
    assert not allowed("s3:GetObject", f"{s3}al2023-repos-us-east-1-de612dc2/core/x")  # another region's
    # nothing else: no copying data out to another account's bucket, no other env's bucket
    for bucket in ("attacker-exfil", "acme-prod-data", "acme-dev-data-copy"):
        for action in ("s3:PutObject", "s3:GetObject", "s3:ListBucket"):
            assert not allowed(action, f"{s3}{bucket}/x" if action != "s3:ListBucket" else f"{s3}{bucket}"), bucket
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutObjectAcl"):
        assert not allowed(action, f"{s3}acme-dev-data"), action


def test_fair_share_policies_allow_only_the_envs_share_identifiers(project_copy: Path) -> None:
    platform = _verbose(project_copy, "platform", "tests/fair_share.tftest.hcl")
    state = platform.states[("tests/fair_share.tftest.hcl", "fair_share_contract_and_analyst_policy")]
    analyst = [_document(_data_source(state, "data.aws_iam_policy_document.analyst")["statement"])]
    head = [_document(_data_source(state, "module.batch.data.aws_iam_policy_document.head")["statement"])]
    batch = "arn:aws:batch:eu-west-1:123456789012"
    default, priority = f"{batch}:job-queue/acme-dev-default", f"{batch}:job-queue/acme-dev-priority"
    definition, job = f"{batch}:job-definition/runner-0123abcd:1", f"{batch}:job/0f0e0d0c"

    def share(identifier: str | None) -> dict[str, str]:
        return {} if identifier is None else {"batch:ShareIdentifier": identifier}

    # the fair-share queue: only under the env's identifiers (lab* is a prefix, as the scheduling policy reads it)
    for identifier in ("genomics", "proteomics", "lab01", "labsmith"):
        for resource in (default, definition, job):
            assert iam_eval.allowed(analyst, "batch:SubmitJob", resource, share(identifier)), (identifier, resource)
    for identifier in ("chemistry", "genomics2", "Genomics", "xlab01"):
        assert iam_eval.decide(analyst, "batch:SubmitJob", default, share(identifier)) == iam_eval.DENY, identifier
        assert iam_eval.decide(analyst, "batch:SubmitJob", priority, share(identifier)) == iam_eval.DENY, identifier
    assert not iam_eval.allowed(analyst, "batch:SubmitJob", default)  # no identifier at all
    # FIFO queues: no identifier needed
    assert iam_eval.allowed(analyst, "batch:SubmitJob", priority)
    assert iam_eval.allowed(analyst, "batch:SubmitJob", f"{batch}:job-queue/acme-dev-head")
    # another env's queue: never
    assert not iam_eval.allowed(analyst, "batch:SubmitJob", f"{batch}:job-queue/acme-prod-default", share("genomics"))

    # the head role (Nextflow): its tagged submissions, under the env's identifiers only
    tagged = {"aws:RequestTag/Platform": "acme-dev"}
    assert iam_eval.allowed(head, "batch:SubmitJob", default, {**tagged, **share("lab07")})
    assert iam_eval.decide(head, "batch:SubmitJob", default, {**tagged, **share("chemistry")}) == iam_eval.DENY
    assert iam_eval.allowed(head, "batch:SubmitJob", f"{batch}:job-queue/acme-dev-head", tagged)


def test_a_failing_terraform_test_is_reported_with_terraforms_message(tmp_path: Path) -> None:
    """The harness is not blind: a failing assertion fails the module, and the report carries terraform's
    diagnostic (file, line, error message)."""
    require_tool("terraform")
    root = copy_project(tmp_path)
    (root / ".runner").mkdir()
    (root / "modules" / "registry" / "tests" / "broken.tftest.hcl").write_text(
        'mock_provider "aws" {}\n'
        'variables {\n  name = "acme-dev"\n}\n'
        'run "wrong" {\n  command = plan\n  assert {\n'
        "    condition     = length(aws_ecr_repository.this) == 5\n"
        '    error_message = "deliberately wrong: one repository by default"\n  }\n}\n'
    )
    result = _terraform_test(root, "registry", "-filter=tests/broken.tftest.hcl")
    assert result.code != 0 and result.failed_runs == ["tests/broken.tftest.hcl/wrong: fail"]
    report = result.report()
    assert "deliberately wrong: one repository by default" in report and "broken.tftest.hcl:8" in report, report
