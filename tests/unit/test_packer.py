"""The AMI engine without AWS or Packer: settings, variables, manifest, prune selection, tfvars writing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from runner.ami.images import ImageInfo, image_info, newest_first, plan_prune
from runner.ami.packer import AmiSettings, Packer, find_packer, read_manifest, template_error, write_tfvars
from runner.core.errors import RunFailed, UsageError
from runner.core.project import Env
from tests.helpers import REPO

TEMPLATE = REPO / "packer" / "batch-ami.pkr.hcl"


def _env(tmp_path: Path, name: str = "dev", emulator: bool = False, **ami: Any) -> Env:
    path = tmp_path / "envs" / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "terraform.tfvars").write_text(f'name = "batch-{name}"\nregion = "eu-west-1"\n')
    settings: dict[str, Any] = {"emulator": emulator, "ami": ami}
    return Env(name=name, root=tmp_path, settings=settings)


# ---- settings ------------------------------------------------------------------------------------------------


def test_defaults_come_from_the_env(tmp_path: Path) -> None:
    settings = AmiSettings.from_env(_env(tmp_path))
    assert settings.region == "eu-west-1"
    assert settings.name_prefix == "batch-dev"
    assert settings.communicator == "ssh" and settings.provisioned
    assert settings.source_ami_name == "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"
    assert settings.source_ami_owners == ("amazon",)


def test_env_without_ami_table_is_one_line_naming_the_file(tmp_path: Path) -> None:
    env = Env(name="dev", root=tmp_path, settings={"protected": True})
    with pytest.raises(UsageError, match=r"^envs/dev/runner.toml: no \[ami\] table"):
        AmiSettings.from_env(env)


@pytest.mark.parametrize(
    ("ami", "field"),
    [
        ({"scratch_volume_size": "big"}, r"\[ami\]\.scratch_volume_size: must be a whole number"),
        ({"scratch_volume_size": 0}, r"\[ami\]\.scratch_volume_size: 0 GiB is outside"),
        ({"encrypt_boot": "yes"}, r"\[ami\]\.encrypt_boot: must be true or false"),
        ({"source_ami_owners": "amazon"}, r"\[ami\]\.source_ami_owners: must be a list of strings"),
        ({"extra_tags": {"a": 1}}, r"\[ami\]\.extra_tags: must be a table of strings"),
        ({"extra_tags": {"aws:x": "y"}}, r"\[ami\]\.extra_tags: 'aws:x' is not a valid tag key"),
        ({"instance_typ": "m5.large"}, r"\[ami\]\.instance_typ: unknown setting"),
        ({"communicator": "winrm"}, r"\[ami\]\.communicator: 'winrm' is not one of ssh, none"),
        ({"communicator": "none"}, r"\[ami\]\.communicator: 'none' skips provisioning"),
        ({"name_prefix": "bad name"}, r"\[ami\]\.name_prefix: 'bad name' must be"),
        ({"architecture": "sparc"}, r"\[ami\]\.architecture"),
        ({"aws_cli_version": "latest"}, r"\[ami\]\.aws_cli_version: 'latest' is not a version"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, ami: dict[str, Any], field: str) -> None:
    with pytest.raises(UsageError, match=field):
        AmiSettings.from_env(_env(tmp_path, **ami))


def test_communicator_none_is_allowed_for_the_emulator_env(tmp_path: Path) -> None:
    settings = AmiSettings.from_env(_env(tmp_path, "local", emulator=True, communicator="none"))
    assert not settings.provisioned


def _template_variables() -> set[str]:
    return set(re.findall(r'^variable "([a-z0-9_]+)"', TEMPLATE.read_text(), flags=re.M))


def test_every_variable_the_runner_passes_is_declared_in_the_template(tmp_path: Path) -> None:
    env = _env(tmp_path, "local", emulator=True, communicator="none", extra_tags={"Team": "x"})
    variables = AmiSettings.from_env(env).packer_variables(env, "abc1234", tmp_path / "m.json", "http://e")
    assert set(variables) <= _template_variables()
    assert variables["env_name"] == "local" and variables["git_sha"] == "abc1234"
    assert variables["endpoint"] == "http://e"
    assert variables["skip_region_validation"] is True and variables["skip_credential_validation"] is True
    assert variables["extra_tags"] == {"Team": "x"}
    real = _env(tmp_path, "dev")
    real_vars = AmiSettings.from_env(real).packer_variables(real, "abc1234", tmp_path / "m.json")
    assert real_vars["skip_region_validation"] is False and real_vars["endpoint"] == ""


def test_every_setting_is_a_template_variable() -> None:
    renamed = {"name_prefix": "ami_name_prefix"}
    fields = {renamed.get(f, f) for f in AmiSettings.__dataclass_fields__}
    assert fields <= _template_variables()


def test_template_references_exactly_the_scripts_that_exist() -> None:
    referenced = set(re.findall(r'"\$\{path\.root\}/scripts/([^"]+)"', TEMPLATE.read_text()))
    present = {p.name for p in (REPO / "packer" / "scripts").glob("*.sh")}
    assert referenced == present


# ---- packer binary and template errors -----------------------------------------------------------------------


def test_packer_binary_variable_must_point_at_an_executable() -> None:
    with pytest.raises(UsageError, match=r"^PACKER_BINARY: '/nonexistent' is not an executable packer binary"):
        find_packer({"PACKER_BINARY": "/nonexistent", "PATH": "/usr/bin"})


def test_packer_missing_from_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^packer: not found on PATH"):
        find_packer({"PATH": str(tmp_path)})


def test_template_error_is_one_line_with_the_line_number() -> None:
    output = (
        "Error: Unsupported block type\n\n  on packer/batch-ami.pkr.hcl line 14:\n  (source code not available)\n\n"
        'Blocks of type "bogus" are not expected here.\n'
    )
    assert template_error(output) == "Unsupported block type (line 14)"
    assert template_error("Error: Failed to parse\n\nsomething odd\n") == "Failed to parse: something odd"


# ---- manifest and tfvars -------------------------------------------------------------------------------------


def _manifest(tmp_path: Path, builds: list[dict[str, Any]], last: str) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"builds": builds, "last_run_uuid": last}))
    return path


def test_manifest_gives_the_last_runs_ami_for_the_region(tmp_path: Path) -> None:
    builds = [
        {"packer_run_uuid": "old", "artifact_id": "us-east-1:ami-old", "custom_data": {}},
        {"packer_run_uuid": "new", "artifact_id": "eu-west-1:ami-eu,us-east-1:ami-new", "custom_data": {"x": "1"}},
    ]
    assert read_manifest(_manifest(tmp_path, builds, "new"), "us-east-1") == {
        "ami_id": "ami-new",
        "custom_data": {"x": "1"},
    }
    with pytest.raises(RunFailed, match="no AMI for ap-south-1"):
        read_manifest(_manifest(tmp_path, builds, "new"), "ap-south-1")
    with pytest.raises(RunFailed, match="no manifest"):
        read_manifest(tmp_path / "absent.json", "us-east-1")


def test_tfvars_is_written_whole_and_leaves_no_temp_files(tmp_path: Path) -> None:
    env = _env(tmp_path)
    path = write_tfvars(env, "ami-0123456789abcdef0")
    assert path == env.path / "ami.auto.tfvars.json"
    assert json.loads(path.read_text()) == {"ami_id": "ami-0123456789abcdef0"}
    assert sorted(p.name for p in env.path.iterdir()) == ["ami.auto.tfvars.json", "terraform.tfvars"]


# ---- list order and prune selection ----------------------------------------------------------------------------


def _image(ami_id: str, build_time: str) -> ImageInfo:
    return image_info(
        {
            "ImageId": ami_id,
            "Name": f"batch-dev-{build_time}",
            "State": "available",
            "CreationDate": "2026-01-01T00:00:00.000Z",
            "Tags": [{"Key": "BuildTime", "Value": build_time}, {"Key": "GitSha", "Value": "abc1234"}],
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": f"snap-{ami_id[4:]}"}},
                {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 100}},
            ],
        }
    )


def test_image_info_reads_tags_and_snapshots() -> None:
    info = _image("ami-a", "2026-01-01T00:00:01Z")
    assert info.snapshots == ["snap-a"] and info.git_sha == "abc1234"


def test_prune_keeps_the_newest_and_protects_images_in_use() -> None:
    images = [
        _image("ami-b", "2026-01-02T00:00:00Z"),
        _image("ami-d", "2026-01-04T00:00:00Z"),
        _image("ami-a", "2026-01-01T00:00:00Z"),
        _image("ami-c", "2026-01-03T00:00:00Z"),
    ]
    assert [i.ami_id for i in newest_first(images)] == ["ami-d", "ami-c", "ami-b", "ami-a"]
    kept, protected, delete = plan_prune(images, 2, {"ami-a": ["launch template lt v1"]})
    assert [i.ami_id for i in kept] == ["ami-d", "ami-c"]
    assert [i.ami_id for i in protected] == ["ami-a"]
    assert [i.ami_id for i in delete] == ["ami-b"]


def test_one_build_per_env_at_a_time(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first, second = Packer(env, home=tmp_path / "home"), Packer(env, home=tmp_path / "home")
    busy = r"another `runner ami build --env dev` is running"
    with first._lock(), pytest.raises(UsageError, match=busy), second._lock():
        pass
    with second._lock():  # released
        pass


def test_the_ami_is_the_only_owner_of_the_ecs_stop_timeout() -> None:
    """ECS_CONTAINER_STOP_TIMEOUT is set once, by the AMI; the launch template's user data leaves it alone."""
    script = (REPO / "packer" / "scripts" / "20-ecs-agent.sh").read_text()
    assert re.findall(r'"ECS_CONTAINER_STOP_TIMEOUT=(\w+)"', script) == ["90s"]
    for path in sorted((REPO / "modules").rglob("*.tf")):
        assert not re.search(r"ECS_CONTAINER_STOP_TIMEOUT\s*=", path.read_text()), path
