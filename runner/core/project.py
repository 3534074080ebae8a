"""Where the project lives and what an environment is.

The project root holds ``envs/`` and ``modules/``; ``RUNNER_ROOT`` overrides the search (tests point it at
a scratch copy). Runner state (plans, emulator pid, logs) lives in ``RUNNER_HOME``, default ``<root>/.runner``.
Each ``envs/NAME/`` may hold ``runner.toml`` with the runner's settings for that env::

    protected = true          # refuse applies that are not a saved, reviewed plan
    emulator  = true          # env runs against the embedded AWS (only envs/local)
    region    = "eu-west-1"   # default: terraform.tfvars `region`, else us-east-1
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from runner.core.errors import UsageError

ENV_NAME_VAR = "ENV"


def project_root() -> Path:
    explicit = os.environ.get("RUNNER_ROOT")
    if explicit:
        root = Path(explicit).resolve()
        if not (root / "envs").is_dir():
            raise UsageError(f"RUNNER_ROOT={explicit}: no envs/ folder there")
        return root
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "envs").is_dir() and (candidate / "modules").is_dir():
            return candidate
    package_root = Path(__file__).resolve().parent.parent
    if (package_root / "envs").is_dir():
        return package_root
    raise UsageError("no project found: run inside the checkout (a folder with envs/ and modules/) or set RUNNER_ROOT")


def runner_home(root: Path | None = None) -> Path:
    explicit = os.environ.get("RUNNER_HOME")
    home = Path(explicit) if explicit else (root or project_root()) / ".runner"
    home.mkdir(parents=True, exist_ok=True)
    return home


def available_envs(root: Path) -> list[str]:
    envs_dir = root / "envs"
    return sorted(p.name for p in envs_dir.iterdir() if p.is_dir() and any(p.glob("*.tf")))


@dataclass(frozen=True)
class Env:
    name: str
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / "envs" / self.name

    @property
    def protected(self) -> bool:
        return bool(self.settings.get("protected", False))

    @cached_property
    def tfvars(self) -> dict[str, Any]:
        """Values of ``terraform.tfvars`` (HCL) and ``*.auto.tfvars.json`` in the env folder."""
        values: dict[str, Any] = {}
        tfvars = self.path / "terraform.tfvars"
        if tfvars.exists():
            text = tfvars.read_text()
            flat = flat_tfvars(text)  # the usual flat file, without loading the HCL parser (~0.1 s)
            if flat is None:
                import io

                import hcl2

                flat = _unquote(hcl2.load(io.StringIO(text)))
            values.update(flat)
        for auto in sorted(self.path.glob("*.auto.tfvars.json")):
            values.update(json.loads(auto.read_text()))
        return values

    @property
    def region(self) -> str:
        return str(self.settings.get("region") or self.tfvars.get("region") or "us-east-1")


_STRING = r'"[^"\\$%]*"'
_SCALAR = rf"(?:{_STRING}|-?\d+(?:\.\d+)?|true|false)"
_FLAT_LINE = re.compile(
    rf"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*({_SCALAR}|\[\s*(?:{_SCALAR}\s*(?:,\s*{_SCALAR}\s*)*,?)?\s*\])\s*(?:#.*)?$"
)


def flat_tfvars(text: str) -> dict[str, Any] | None:
    """A tfvars file of one-line ``name = value`` assignments (strings without escapes or interpolation, numbers,
    booleans, one-line lists of those) as Python values; None when it holds anything else (HCL parses it then)."""
    values: dict[str, Any] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            continue
        match = _FLAT_LINE.match(line)
        if match is None:
            return None
        values[match[1]] = json.loads(match[2])
    return values


def _unquote(value: Any) -> Any:
    """python-hcl2 >= 5 keeps string literals quoted; give plain Python values back."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {k: _unquote(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def resolve_env(name: str | None, root: Path | None = None) -> Env:
    """The env named by ``--env`` or, failing that, the ``ENV`` variable; ``envs/NAME`` must exist."""
    root = root or project_root()
    name = name or os.environ.get(ENV_NAME_VAR) or None
    known = available_envs(root)
    if not name:
        raise UsageError(f"--env: no environment given (use --env NAME or ENV=NAME; known: {', '.join(known)})")
    if name not in known:
        raise UsageError(f"--env: unknown environment '{name}' (known: {', '.join(known) or 'none'})")
    settings_file = root / "envs" / name / "runner.toml"
    settings: dict[str, Any] = {}
    if settings_file.exists():
        try:
            settings = tomllib.loads(settings_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"envs/{name}/runner.toml: {exc}") from exc
    return Env(name=name, root=root, settings=settings)
