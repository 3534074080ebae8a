"""The compute AMI: build it with Packer from an env's settings, hand its id to terraform, list and prune images.

Settings live in ``envs/NAME/runner.toml`` under ``[ami]`` (see ``AmiSettings``). ``build`` validates everything
(settings, packer binary, template) before the first AWS call, runs ``packer build`` on
``packer/batch-ami.pkr.hcl`` alone (Packer 1.6.x rejects ``packer/plugins.pkr.hcl``) with its output streaming
live to stderr, reads the AMI id from the ``manifest`` post-processor's file in ``RUNNER_HOME/packer/`` and only
then writes ``envs/NAME/ami.auto.tfvars.json`` = ``{"ami_id": ...}`` (atomically) for the launch template.

Images are this project's when they carry its ``Project`` tag and the env's ``Env`` tag. ``prune`` never removes
an image that any version of any launch template in the env's region uses, nor the one the env's tfvars names.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.aws.context import AwsContext, uses_emulator
from runner.core import git
from runner.core.errors import RunFailed, UsageError
from runner.core.project import Env, runner_home

BINARY_VAR = "PACKER_BINARY"
TEMPLATE = Path("packer") / "batch-ami.pkr.hcl"
TFVARS_NAME = "ami.auto.tfvars.json"
DEFAULT_PROJECT = "batch-platform"
DEFAULT_SOURCE_AMI_NAME = "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"
# Emulator builds: poll every second instead of Packer's default 15 s.
EMULATOR_PACKER_ENV = {"AWS_POLL_DELAY_SECONDS": "1", "AWS_MAX_ATTEMPTS": "120"}

_NAME_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+@-]{1,128}$")


# --------------------------------------------------------------------------------------------------------------
# Settings: the [ami] table of envs/NAME/runner.toml
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AmiSettings:
    """Packer settings of one env; every field maps to a variable of packer/batch-ami.pkr.hcl."""

    region: str
    name_prefix: str
    instance_type: str = "m6i.large"
    subnet_id: str = ""
    ssh_interface: str = ""
    ssh_username: str = "ec2-user"
    communicator: str = "ssh"
    project: str = DEFAULT_PROJECT
    source_ami_name: str = DEFAULT_SOURCE_AMI_NAME
    source_ami_owners: tuple[str, ...] = ("amazon",)
    architecture: str = "x86_64"
    root_volume_size: int = 30
    scratch_volume_size: int = 100
    scratch_device_name: str = "/dev/xvdb"
    encrypt_boot: bool = True
    kms_key_id: str = ""
    aws_cli_version: str = "2.17.0"
    aws_cli_sha256: str = ""
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def provisioned(self) -> bool:
        return self.communicator != "none"

    @classmethod
    def from_env(cls, env: Env) -> AmiSettings:
        where = f"envs/{env.name}/runner.toml"
        table = env.settings.get("ami")
        if table is None:
            raise UsageError(
                f"{where}: no [ami] table: this env has no AMI build settings (see envs/local/runner.toml)"
            )
        if not isinstance(table, dict):
            raise UsageError(f"{where}: ami must be a table ([ami])")
        known = set(cls.__dataclass_fields__)
        values: dict[str, Any] = {
            "region": env.region,
            "name_prefix": str(env.tfvars.get("name") or f"batch-{env.name}"),
        }
        for key, value in table.items():
            if key not in known:
                raise UsageError(f"{where} [ami].{key}: unknown setting (known: {', '.join(sorted(known))})")
            values[key] = _check_type(where, key, value)
        settings = cls(**values)
        settings._validate(where, env)
        return settings

    def _validate(self, where: str, env: Env) -> None:
        def bad(key: str, why: str) -> UsageError:
            return UsageError(f"{where} [ami].{key}: {why}")

        if self.communicator not in ("ssh", "none"):
            raise bad("communicator", f"'{self.communicator}' is not one of ssh, none")
        if self.communicator == "none" and not uses_emulator(env):
            raise bad("communicator", "'none' skips provisioning and is for the emulator env only")
        if not _NAME_PREFIX.match(self.name_prefix):
            raise bad("name_prefix", f"'{self.name_prefix}' must be letters, digits, '.', '_' or '-' (1-80)")
        if self.architecture not in ("x86_64", "arm64"):
            raise bad("architecture", f"'{self.architecture}' is not one of x86_64, arm64")
        if not 8 <= self.root_volume_size <= 16384:
            raise bad("root_volume_size", f"{self.root_volume_size} GiB is outside 8-16384")
        if not 1 <= self.scratch_volume_size <= 16384:
            raise bad("scratch_volume_size", f"{self.scratch_volume_size} GiB is outside 1-16384")
        if not self.scratch_device_name.startswith("/dev/"):
            raise bad("scratch_device_name", f"'{self.scratch_device_name}' is not a /dev/ path")
        if not self.source_ami_owners:
            raise bad("source_ami_owners", "at least one owner is required")
        if not re.match(r"^\d+\.\d+\.\d+$", self.aws_cli_version):
            raise bad("aws_cli_version", f"'{self.aws_cli_version}' is not a version like 2.17.0")
        if self.aws_cli_sha256 and not re.match(r"^[0-9a-f]{64}$", self.aws_cli_sha256):
            raise bad("aws_cli_sha256", "must be 64 lowercase hex digits")
        for key in self.extra_tags:
            if not _TAG_KEY.match(key):
                raise bad("extra_tags", f"'{key}' is not a valid tag key")
        for field_name in ("region", "instance_type", "project", "source_ami_name"):
            if not getattr(self, field_name):
                raise bad(field_name, "must not be empty")

    def packer_variables(self, env: Env, git_sha: str, manifest: Path, endpoint: str = "") -> dict[str, Any]:
        """The -var-file content for packer/batch-ami.pkr.hcl."""
        return {
            "region": self.region,
            "instance_type": self.instance_type,
            "subnet_id": self.subnet_id,
            "ssh_interface": self.ssh_interface,
            "ssh_username": self.ssh_username,
            "communicator": self.communicator,
            "endpoint": endpoint,
            "skip_region_validation": uses_emulator(env),
            "skip_credential_validation": uses_emulator(env),
            "source_ami_name": self.source_ami_name,
            "source_ami_owners": list(self.source_ami_owners),
            "architecture": self.architecture,
            "root_volume_size": self.root_volume_size,
            "scratch_volume_size": self.scratch_volume_size,
            "scratch_device_name": self.scratch_device_name,
            "encrypt_boot": self.encrypt_boot,
            "kms_key_id": self.kms_key_id,
            "ami_name_prefix": self.name_prefix,
            "project": self.project,
            "env_name": env.name,
            "git_sha": git_sha,
            "extra_tags": dict(self.extra_tags),
            "manifest_path": str(manifest),
            "aws_cli_version": self.aws_cli_version,
            "aws_cli_sha256": self.aws_cli_sha256,
        }


_INT_FIELDS = {"root_volume_size", "scratch_volume_size"}
_BOOL_FIELDS = {"encrypt_boot"}
_LIST_FIELDS = {"source_ami_owners"}
_MAP_FIELDS = {"extra_tags"}


def _check_type(where: str, key: str, value: Any) -> Any:
    """One [ami] value in its field's type, or a UsageError naming the field."""
    label = f"{where} [ami].{key}"
    if key in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise UsageError(f"{label}: must be true or false")
        return value
    if key in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{label}: must be a whole number")
        return value
    if key in _LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{label}: must be a list of strings")
        return tuple(value)
    if key in _MAP_FIELDS:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise UsageError(f"{label}: must be a table of strings")
        return dict(value)
    if not isinstance(value, str):
        raise UsageError(f"{label}: must be a string")
    return value


# --------------------------------------------------------------------------------------------------------------
# Packer: binary, template, validation
# --------------------------------------------------------------------------------------------------------------


def find_packer(environ: Mapping[str, str] | None = None) -> str:
    """PACKER_BINARY, else `packer` on PATH; a missing binary is bad input (exit 2)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(BINARY_VAR)
    if explicit:
        resolved = shutil.which(explicit, path=environ.get("PATH"))
        if resolved is None:
            raise UsageError(f"{BINARY_VAR}: '{explicit}' is not an executable packer binary")
        return resolved
    found = shutil.which("packer", path=environ.get("PATH"))
    if found is None:
        raise UsageError(
            "packer: not found on PATH (run `make setup`, install it from https://developer.hashicorp.com/packer/"
            f"install, or set {BINARY_VAR})"
        )
    return found


def template_path(root: Path) -> Path:
    path = root / TEMPLATE
    if not path.is_file():
        raise UsageError(f"{TEMPLATE}: template not found under {root}")
    return path


def template_error(output: str) -> str:
    """The first error of `packer validate` output as one line: 'Unsupported block type (line 14)'."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            message = line.removeprefix("Error:").strip()
            for follow in lines[index + 1 : index + 4]:
                where = re.match(r"on .*? line (\d+)", follow)
                if where:
                    return f"{message} (line {where.group(1)})"
            detail = next((ln for ln in lines[index + 1 : index + 3] if not ln.startswith("Error:")), "")
            return f"{message}: {detail}" if detail else message
    return lines[-1] if lines else "packer validate failed without output"


# --------------------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    env: str
    ami_id: str
    name: str
    region: str
    source_ami: str
    source_ami_name: str
    git_sha: str
    build_time: str
    provisioned: bool
    tfvars: str
    manifest: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_manifest(path: Path, region: str) -> dict[str, Any]:
    """The last run's build from Packer's manifest: {'ami_id', 'custom_data', ...}."""
    if not path.exists():
        raise RunFailed(f"packer wrote no manifest at {path}; see the output above")
    data = json.loads(path.read_text())
    last = data.get("last_run_uuid")
    builds = [b for b in data.get("builds", []) if b.get("packer_run_uuid") == last] or data.get("builds", [])
    if not builds:
        raise RunFailed(f"packer manifest {path} lists no build")
    build = builds[-1]
    artifacts = dict(item.split(":", 1) for item in str(build.get("artifact_id", "")).split(",") if ":" in item)
    ami_id = artifacts.get(region)
    if not ami_id or not ami_id.startswith("ami-"):
        raise RunFailed(f"packer manifest {path} has no AMI for {region}: {build.get('artifact_id')!r}")
    return {"ami_id": ami_id, "custom_data": build.get("custom_data") or {}}


def tfvars_path(env: Env) -> Path:
    return env.path / TFVARS_NAME


def write_tfvars(env: Env, ami_id: str) -> Path:
    """envs/NAME/ami.auto.tfvars.json, written atomically (a reader never sees half a file)."""
    target = tfvars_path(env)
    fd, tmp = tempfile.mkstemp(prefix=".ami.", suffix=".json.tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump({"ami_id": ami_id}, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class Packer:
    """Builds the env's AMI; knows nothing about the CLI."""

    def __init__(self, env: Env, home: Path | None = None, stream: IO[str] | None = None) -> None:
        env.require_checkout("ami")
        self.env = env
        self.home = home or runner_home(env.root)
        self.stream = stream if stream is not None else sys.stderr
        self.aws = AwsContext(env, self.home)

    @property
    def workdir(self) -> Path:
        path = self.home / "packer"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def manifest_file(self) -> Path:
        return self.workdir / f"{self.env.name}-manifest.json"

    @property
    def var_file(self) -> Path:
        return self.workdir / f"{self.env.name}.pkrvars.json"

    def _color(self) -> list[str]:
        isatty = getattr(self.stream, "isatty", None)
        return [] if isatty is not None and isatty() else ["-color=false"]

    def _packer_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        environ = dict(os.environ if base is None else base)
        environ.setdefault("CHECKPOINT_DISABLE", "1")
        if self.aws.uses_emulator:
            environ = self.aws.subprocess_env(environ)
            environ.update(EMULATOR_PACKER_ENV)
        return environ

    def prepare(self) -> tuple[AmiSettings, str, Path]:
        """Everything checked before any AWS call: settings, binary, template; returns them."""
        settings = AmiSettings.from_env(self.env)
        binary = find_packer()
        template = template_path(self.env.root)
        return settings, binary, template

    def validate(self, settings: AmiSettings, binary: str, template: Path, git_sha: str) -> None:
        """`packer validate` with the env's variables; a template error is bad input (exit 2)."""
        self._write_vars(settings, git_sha, endpoint="")
        try:
            proc = subprocess.run(
                [binary, "validate", f"-var-file={self.var_file}", str(template)],
                capture_output=True,
                text=True,
                check=False,
                cwd=self.env.root,
                env={**os.environ, "CHECKPOINT_DISABLE": "1"},
                timeout=120,
            )
        except OSError as exc:
            raise UsageError(f"{BINARY_VAR}: cannot run '{binary}': {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise RunFailed(f"packer validate of {TEMPLATE} did not finish within 120s") from None
        if proc.returncode != 0:
            raise UsageError(f"{TEMPLATE}: {template_error(proc.stdout + proc.stderr)}")

    def _write_vars(self, settings: AmiSettings, git_sha: str, endpoint: str) -> None:
        variables = settings.packer_variables(self.env, git_sha, self.manifest_file, endpoint)
        self.var_file.write_text(json.dumps(variables, indent=2) + "\n")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One build per env at a time: they share the var file, the manifest and the tfvars."""
        with (self.workdir / f"{self.env.name}.lock").open("w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"--env: another `runner ami build --env {self.env.name}` is running") from None
            yield

    def build(self, notice: Callable[[str], None] | None = None) -> BuildResult:
        settings, binary, template = self.prepare()
        with self._lock():
            return self._build(settings, binary, template, notice)

    def _build(
        self, settings: AmiSettings, binary: str, template: Path, notice: Callable[[str], None] | None
    ) -> BuildResult:
        git_sha = git.revision(self.env.root)
        self.validate(settings, binary, template, git_sha)
        if not settings.provisioned and notice is not None:
            notice(
                f"{self.env.name}: communicator = none (emulator build): provisioning is skipped; "
                "the AMI is the source image, renamed and tagged"
            )
        endpoint = self.aws.emulator.endpoint if self.aws.emulator is not None else ""
        self._write_vars(settings, git_sha, endpoint)
        self.manifest_file.unlink(missing_ok=True)
        argv = [binary, "build", f"-var-file={self.var_file}", *self._color(), str(template)]
        try:
            proc = subprocess.run(
                argv, env=self._packer_env(), stdout=self.stream, stderr=self.stream, cwd=self.env.root, check=False
            )
        except OSError as exc:
            raise UsageError(f"{BINARY_VAR}: cannot run '{binary}': {exc.strerror}") from None
        if proc.returncode != 0:
            raise RunFailed(
                f"packer build failed for {self.env.name} (exit {proc.returncode}); see the output above; "
                f"envs/{self.env.name}/{TFVARS_NAME} unchanged"
            )
        built = read_manifest(self.manifest_file, settings.region)
        ami_id = built["ami_id"]
        image = self._describe(ami_id)
        tags = image_tags(image)
        target = write_tfvars(self.env, ami_id)
        custom = built["custom_data"]
        return BuildResult(
            env=self.env.name,
            ami_id=ami_id,
            name=str(image.get("Name") or custom.get("ami_name", "")),
            region=settings.region,
            source_ami=tags.get("SourceAMI", ""),
            source_ami_name=tags.get("SourceAMIName", ""),
            git_sha=git_sha,
            build_time=tags.get("BuildTime") or str(custom.get("build_time", "")),
            provisioned=settings.provisioned,
            tfvars=str(target),
            manifest=str(self.manifest_file),
        )

    def _describe(self, ami_id: str) -> dict[str, Any]:
        images = self.aws.client("ec2").describe_images(ImageIds=[ami_id]).get("Images", [])
        if not images:
            raise RunFailed(f"packer reported {ami_id}, but EC2 does not know it")
        image: dict[str, Any] = images[0]
        return image


def image_tags(image: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in image.get("Tags", []) or []}
