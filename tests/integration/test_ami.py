"""The compute AMI end to end: real packer against the embedded AWS, the tfvars hand-off to terraform, the
launch template using the image, list and prune, the provisioning scripts under shellcheck, and bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Deployment
from tests.helpers import REPO, Project, copy_project, error_line, free_port, require_tool

pytestmark = pytest.mark.integration

NAME = re.compile(r"^batch-local-(\d{8}-\d{6})-(nogit|[0-9a-f]{7}(-dirty)?)$")
TFVARS = Path("envs") / "local" / "ami.auto.tfvars.json"


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Project]:
    """A project of its own (copy, runner home, emulator port), for tests that change images or settings."""
    proj = Project(root=copy_project(tmp_path / "p"), port=free_port())
    yield proj
    proj.run("local", "down", check=False)


# ---- template and scripts --------------------------------------------------------------------------------------


def test_template_validates_with_the_local_variables_and_with_the_defaults(project: Project) -> None:
    packer = require_tool("packer")
    proc = project.run("ami", "validate", "--env", "local")
    assert proc.stdout.strip() == "packer/batch-ami.pkr.hcl is valid for env local"
    # The variables the runner handed to packer are the local env's.
    var_file = project.home / "packer" / "local.pkrvars.json"
    variables = json.loads(var_file.read_text())
    assert variables["communicator"] == "none"
    assert variables["skip_region_validation"] is variables["skip_credential_validation"] is True
    assert variables["source_ami_name"] == "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"
    assert variables["env_name"] == "local" and variables["ami_name_prefix"] == "batch-local"
    template = project.root / "packer" / "batch-ami.pkr.hcl"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"CHECKPOINT_DISABLE": "1"}
    for extra in ([f"-var-file={var_file}"], []):  # local settings; real-AWS defaults (ssh, provisioners)
        proc = subprocess.run(
            [packer, "validate", *extra, str(template)], capture_output=True, text=True, env=environ, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _scripts() -> list[Path]:
    return sorted((REPO / "packer").rglob("*.sh"))


def test_every_packer_script_passes_shellcheck() -> None:
    shellcheck = require_tool("shellcheck")
    scripts = _scripts()
    assert {p.parent.name for p in scripts} == {"scripts", "files"} and len(scripts) >= 7
    proc = subprocess.run(
        [shellcheck, "--severity=style", "--shell=bash", *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    for script in scripts:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert "\nset -euo pipefail\n" in text, script


# ---- build into the emulator (the session deployment built it before its apply) --------------------------------


def test_build_registers_a_tagged_versioned_ami_and_writes_the_tfvars(deployed: Deployment) -> None:
    build = deployed.ami_build
    ec2 = deployed.client("ec2")
    image = ec2.describe_images(ImageIds=[build["ami_id"]])["Images"][0]
    assert image["State"] == "available"
    match = NAME.match(image["Name"])
    assert match, image["Name"]
    assert image["Name"] == build["name"]
    tags = _tags(image)
    assert tags["Project"] == "batch-platform" and tags["Env"] == "local"
    assert tags["Component"] == "batch-ami" and tags["ManagedBy"] == "packer"
    assert tags["GitSha"] == build["git_sha"] == match.group(2)
    assert tags["CostCenter"] == "local-dev"  # extra_tags from envs/local/runner.toml
    assert tags["Provisioned"] == "false" and build["provisioned"] is False
    built = datetime.strptime(tags["BuildTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - built) < timedelta(hours=2)
    assert built.strftime("%Y%m%d-%H%M%S") == match.group(1)
    # The source is the ECS-optimised AL2023 image that source_ami_filter found.
    source = ec2.describe_images(ImageIds=[tags["SourceAMI"]])["Images"][0]
    assert source["Name"].startswith("al2023-ami-ecs-hvm-") and source["Name"] == tags["SourceAMIName"]
    assert build["source_ami"] == tags["SourceAMI"]
    # Snapshots carry the same tags; the tfvars file holds exactly the id.
    snapshot_ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "SnapshotId" in m.get("Ebs", {})]
    assert snapshot_ids
    for snapshot in ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]:
        assert _tags(snapshot)["Project"] == "batch-platform"
    tfvars = deployed.project.root / TFVARS
    assert Path(build["tfvars"]) == tfvars
    assert json.loads(tfvars.read_text()) == {"ami_id": build["ami_id"]}
    manifest = json.loads(Path(build["manifest"]).read_text())
    assert manifest["builds"][-1]["artifact_id"] == f"us-east-1:{build['ami_id']}"


def test_list_shows_the_built_ami_as_pinned_by_the_tfvars(deployed: Deployment) -> None:
    listed = deployed.project.run_json("ami", "list", "--env", "local", "--json")
    assert listed[0]["ami_id"] == deployed.ami_build["ami_id"]
    assert "envs/local/ami.auto.tfvars.json" in listed[0]["in_use_by"]


def test_launch_template_uses_the_built_ami(deployed: Deployment) -> None:
    ami_id = deployed.ami_build["ami_id"]
    ec2 = deployed.client("ec2")
    lt_id = deployed.output("launch_template_id")
    version = str(deployed.output("launch_template_version"))
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=[version])
    assert data["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == ami_id
    assert deployed.output("ami_id") == ami_id
    # ... and `runner ami list` knows the template uses it.
    listed = deployed.project.run_json("ami", "list", "--env", "local", "--json")
    assert any(lt_id in use for use in listed[0]["in_use_by"])


# ---- prune ---------------------------------------------------------------------------------------------------------


def _snapshot_exists(ec2: Any, snapshot_id: str) -> bool:
    try:
        return bool(ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"])
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
        return False


def _project_images(ec2: Any) -> set[str]:
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:Project", "Values": ["batch-platform"]}])
    return {i["ImageId"] for i in images["Images"]}


def test_prune_keeps_the_newest_and_never_an_image_a_launch_template_uses(scratch: Project) -> None:
    require_tool("packer")
    proc = scratch.run("ami", "build", "--env", "local")
    # stdout is the id alone; packer streams live to stderr, with the emulator's provisioning notice.
    first_id = proc.stdout.strip()
    assert re.fullmatch(r"ami-[0-9a-f]+", first_id), proc.stdout
    assert "communicator = none (emulator build): provisioning is skipped" in proc.stderr
    assert "NOTICE: communicator = none" in proc.stderr and f"us-east-1: {first_id}" in proc.stderr
    first = {"ami_id": first_id}
    second = scratch.run_json("ami", "build", "--env", "local", "--json")
    ec2 = scratch.client("ec2")
    listed = scratch.run_json("ami", "list", "--env", "local", "--json")
    assert [i["ami_id"] for i in listed] == [second["ami_id"], first["ami_id"]]
    first_snapshots, second_snapshots = listed[1]["snapshots"], listed[0]["snapshots"]
    assert first_snapshots and second_snapshots

    # Two builds, keep 1: the older image and its snapshot go.
    pruned = scratch.run_json("ami", "prune", "--env", "local", "--keep", "1", "--json")
    assert [i["ami_id"] for i in pruned["deleted"]] == [first["ami_id"]]
    assert pruned["deleted_snapshots"] == first_snapshots and pruned["failed"] == []
    assert _project_images(ec2) == {second["ami_id"]}
    assert not any(_snapshot_exists(ec2, s) for s in first_snapshots)
    assert all(_snapshot_exists(ec2, s) for s in second_snapshots)

    # A launch template whose first (no longer default) version uses `second`: prune refuses to remove it.
    template = ec2.create_launch_template(
        LaunchTemplateName="batch-local-compute",
        LaunchTemplateData={"ImageId": second["ami_id"], "InstanceType": "m5.large"},
    )["LaunchTemplate"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"],
        SourceVersion="1",
        LaunchTemplateData={"ImageId": second["source_ami"]},
    )
    third = scratch.run_json("ami", "build", "--env", "local", "--json")
    proc = scratch.run("ami", "prune", "--env", "local", "--keep", "1")
    assert f"kept {second['ami_id']}" in proc.stderr and "batch-local-compute" in proc.stderr
    assert "v1" in proc.stderr
    assert "removed 0" in proc.stdout
    assert _project_images(ec2) == {second["ami_id"], third["ami_id"]}
    assert all(_snapshot_exists(ec2, s) for s in second_snapshots)
    listed = scratch.run_json("ami", "list", "--env", "local", "--json")
    assert listed[1]["ami_id"] == second["ami_id"]
    assert listed[1]["in_use_by"] == [f"launch template batch-local-compute ({template['LaunchTemplateId']}) v1"]


# ---- bad input: one line, exit 2, no tfvars ------------------------------------------------------------------------


def _assert_nothing_done(proj: Project) -> None:
    assert not (proj.root / TFVARS).exists()
    assert not (proj.home / "local" / "server.json").exists(), "the emulator was started: validation came too late"


def test_packer_binary_that_does_not_exist(scratch: Project) -> None:
    proc = scratch.run("ami", "build", "--env", "local", check=False, env=scratch.environ(PACKER_BINARY="/nonexistent"))
    assert proc.returncode == 2
    line = error_line(proc)
    assert "PACKER_BINARY" in line and "/nonexistent" in line
    _assert_nothing_done(scratch)


def test_no_packer_on_path(scratch: Project, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = scratch.run("ami", "build", "--env", "local", check=False, env=scratch.environ(PATH=str(empty)))
    assert proc.returncode == 2
    assert "packer: not found on PATH" in error_line(proc)
    _assert_nothing_done(scratch)


def test_template_error(scratch: Project) -> None:
    require_tool("packer")
    template = scratch.root / "packer" / "batch-ami.pkr.hcl"
    template.write_text(template.read_text() + '\nbogus "block" {\n}\n')
    proc = scratch.run("ami", "build", "--env", "local", "--json", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    line = error_line(proc)
    assert "packer/batch-ami.pkr.hcl" in line and "line" in line
    _assert_nothing_done(scratch)


def test_env_without_ami_settings(scratch: Project) -> None:
    settings = scratch.root / "envs" / "local" / "runner.toml"
    settings.write_text(settings.read_text().split("[ami]")[0])
    for command in (("build",), ("list",), ("prune", "--keep", "1"), ("validate",)):
        proc = scratch.run("ami", *command, "--env", "local", check=False)
        assert proc.returncode == 2, command
        assert "envs/local/runner.toml: no [ami] table" in error_line(proc)
    _assert_nothing_done(scratch)


def test_bad_ami_setting_names_the_field(scratch: Project) -> None:
    settings = scratch.root / "envs" / "local" / "runner.toml"
    settings.write_text(settings.read_text().replace("scratch_volume_size = 20", 'scratch_volume_size = "20G"'))
    proc = scratch.run("ami", "build", "--env", "local", check=False)
    assert proc.returncode == 2
    assert "[ami].scratch_volume_size: must be a whole number" in error_line(proc)
    _assert_nothing_done(scratch)


def test_prune_must_keep_at_least_one(scratch: Project) -> None:
    proc = scratch.run("ami", "prune", "--env", "local", "--keep", "0", check=False)
    assert proc.returncode == 2 and "--keep" in error_line(proc)
    _assert_nothing_done(scratch)


def test_failed_build_leaves_the_tfvars_untouched(scratch: Project) -> None:
    require_tool("packer")
    tfvars = scratch.root / TFVARS
    tfvars.write_text('{"ami_id": "ami-0previous000000000"}\n')
    settings = scratch.root / "envs" / "local" / "runner.toml"
    settings.write_text(settings.read_text().replace('"al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"', '"no-such-image-*"'))
    proc = scratch.run("ami", "build", "--env", "local", check=False)
    assert proc.returncode == 1
    assert "packer build failed" in proc.stderr and "unchanged" in proc.stderr
    assert tfvars.read_text() == '{"ami_id": "ami-0previous000000000"}\n'
