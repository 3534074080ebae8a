"""Where the project lives and what an environment is.

An env comes from one of three places, first match wins:

1. **the checkout** (``source = "project"``): the project root holds ``envs/`` and ``modules/``, found from the
   working folder upwards; ``RUNNER_ROOT`` overrides the search (tests point it at a scratch copy);
2. **the user's config** (``source = "user"``): ``runner env add dev --region eu-west-1 --name batch-dev`` writes
   ``[envs.dev]`` into ``config.toml`` in the user's config folder (``RUNNER_CONFIG_DIR``, else
   ``$XDG_CONFIG_HOME/runner``, else ``~/.config/runner``). Analysts need no checkout: the env's outputs come from
   the SSM parameter ``/<name>/runner/outputs`` the platform publishes;
3. **the installed package** (``source = "bundle"``): ``local``, shipped in the wheel with the modules it needs
   (``runner local init DIR`` writes them out as a project of its own).

Runner state (plans, emulator pid, logs, caches) lives in ``RUNNER_HOME``: by default ``<root>/.runner`` in a
checkout, else the user's state folder (``$XDG_STATE_HOME/runner``, else ``~/.local/state/runner``).
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
CONFIG_DIR_VAR = "RUNNER_CONFIG_DIR"
# The project files the wheel carries (pyproject: hatch force-include): envs/local, modules, packer.
BUNDLE = Path(__file__).resolve().parent.parent / "_bundle"
NO_PROJECT = "no project found: run inside the checkout (a folder with envs/ and modules/) or set RUNNER_ROOT"


def find_project_root() -> Path | None:
    """The checkout this command runs in (RUNNER_ROOT, else the working folder or a parent), or None."""
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
    return None


def project_root() -> Path:
    """The checkout; a UsageError when there is none (platform verbs: infra, ami, image, nextflow config)."""
    root = find_project_root()
    if root is None:
        raise UsageError(NO_PROJECT)
    return root


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def user_config_dir() -> Path:
    explicit = os.environ.get(CONFIG_DIR_VAR)
    return Path(explicit) if explicit else _xdg("XDG_CONFIG_HOME", ".config") / "runner"


def user_state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / "runner"


def runner_home(root: Path | None = None) -> Path:
    """RUNNER_HOME; else ``<root>/.runner`` for a checkout; else the user's state folder (outside a checkout, and
    for envs from the user's config or the installed package)."""
    explicit = os.environ.get("RUNNER_HOME")
    if explicit:
        home = Path(explicit)
    else:
        if root is None:
            root = find_project_root()
        checkout = root is not None and (root / "modules").is_dir() and root.resolve() != BUNDLE.resolve()
        home = root / ".runner" if checkout and root is not None else user_state_dir()
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
    source: str = "project"  # project (a checkout), user (the user's config.toml) or bundle (the installed package)

    @property
    def path(self) -> Path:
        return self.root / "envs" / self.name

    def require_checkout(self, verb: str) -> None:
        """Platform verbs (terraform, packer) need the env's folder in a checkout."""
        if self.source == "user":
            raise UsageError(
                f"--env: '{self.name}' comes from your user config ({user_config_dir() / CONFIG_FILE}): "
                f"`runner {verb}` needs the platform checkout (run it there, or set RUNNER_ROOT)"
            )
        if self.source == "bundle":
            raise UsageError(
                f"--env: no checkout here: `runner {verb}` needs a project folder; "
                f"write one with `runner local init DIR` and run it in DIR"
            )

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


CONFIG_FILE = "config.toml"


def user_config() -> dict[str, Any]:
    """The user's config.toml (``default_env``, ``share``, ``[envs.NAME]``), {} when there is none."""
    path = user_config_dir() / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    return data


def user_envs() -> dict[str, dict[str, Any]]:
    envs = user_config().get("envs") or {}
    return {str(k): dict(v) for k, v in envs.items() if isinstance(v, dict)}


def _bundle_envs() -> list[str]:
    return available_envs(BUNDLE) if (BUNDLE / "envs").is_dir() else []


def known_envs(root: Path | None) -> list[str]:
    """Every env name this command can open: the checkout's, the user's, the installed package's."""
    names = set(available_envs(root)) if root is not None else set()
    names |= set(user_envs())
    if root is None:
        names |= set(_bundle_envs())
    return sorted(names)


def _project_env(name: str, root: Path, source: str) -> Env:
    settings_file = root / "envs" / name / "runner.toml"
    settings: dict[str, Any] = {}
    if settings_file.exists():
        try:
            settings = tomllib.loads(settings_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"envs/{name}/runner.toml: {exc}") from exc
    return Env(name=name, root=root, settings=settings, source=source)


def resolve_env(name: str | None, root: Path | None = None) -> Env:
    """The env named by ``--env``, else ``ENV``, else the user config's ``default_env``: from the checkout, the
    user's config or the installed package, in that order (see the module docstring)."""
    if root is None:
        root = find_project_root()
    user = user_envs()
    name = name or os.environ.get(ENV_NAME_VAR) or str(user_config().get("default_env") or "") or None
    known = known_envs(root)
    if not name:
        hint = f"known: {', '.join(known)}" if known else "none known: runner env add NAME --region R --name PREFIX"
        raise UsageError(f"--env: no environment given (use --env NAME or ENV=NAME; {hint})")
    if root is not None and name in available_envs(root):
        return _project_env(name, root, "project")
    if name in user:
        settings = user[name]
        return Env(name=name, root=user_config_dir(), settings=settings, source="user")
    if root is None and name in _bundle_envs():
        return _project_env(name, BUNDLE, "bundle")
    where = "" if root is not None else f" ({NO_PROJECT}; or add it: runner env add {name} --region R --name PREFIX)"
    raise UsageError(f"--env: unknown environment '{name}' (known: {', '.join(known) or 'none'}){where}")
