"""The user's own config (``config.toml`` in `runner.core.project.user_config_dir`): the envs an analyst works
with outside a checkout, and their defaults. Written by `runner env add/remove/default`; read by
`runner.core.project.resolve_env`.

    default_env = "dev"
    [envs.dev]
    region = "eu-west-1"
    name = "batch-dev"     # the platform's name prefix: outputs come from SSM /batch-dev/runner/outputs
    profile = "analyst"    # optional: the AWS profile to use for this env
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner.core.errors import UsageError
from runner.core.project import CONFIG_FILE, user_config, user_config_dir

ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
PROFILE = re.compile(r"^[A-Za-z0-9_.+=@,-]{1,128}$")
KEYS = ("region", "name", "profile")


@dataclass(frozen=True)
class UserEnv:
    env: str
    region: str
    name: str
    profile: str | None = None
    default: bool = False

    @property
    def parameter(self) -> str:
        return f"/{self.name}/runner/outputs"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "parameter": self.parameter}


@dataclass(frozen=True)
class EnvList:
    envs: list[UserEnv]
    path: Path  # the user config they are in

    def to_dict(self) -> list[dict[str, Any]]:
        """A list (what `runner env list --json` prints)."""
        return [e.to_dict() for e in self.envs]


def path() -> Path:
    return user_config_dir() / CONFIG_FILE


def listing() -> EnvList:
    return EnvList(envs(), path())


def envs() -> list[UserEnv]:
    data = user_config()
    default = data.get("default_env")
    found = []
    for key, value in sorted((data.get("envs") or {}).items()):
        if isinstance(value, dict):
            found.append(
                UserEnv(
                    env=key,
                    region=str(value.get("region", "")),
                    name=str(value.get("name") or key),
                    profile=value.get("profile"),
                    default=key == default,
                )
            )
    return found


def _check(env: str, region: str, name: str, profile: str | None) -> None:
    """Every field before anything is written: one UsageError naming the first bad one."""
    if not ENV_NAME.match(env):
        raise UsageError(f"ENV: '{env}' must be 1-32 lower-case letters, digits or hyphens, starting with a letter")
    if not REGION.match(region):
        raise UsageError(f"--region: '{region}' is not an AWS region (for example eu-west-1)")
    if not PREFIX.match(name):
        raise UsageError(f"--name: '{name}' is not a platform name prefix (lower-case letters, digits, hyphens)")
    if profile is not None and not PROFILE.match(profile):
        raise UsageError(f"--profile: '{profile}' is not an AWS profile name")


def _toml_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value).lower()


def _write(data: dict[str, Any]) -> None:
    """config.toml written whole, atomically (a temp file renamed over it), mode 0600 like other credentials."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, values in data.items():
        if not isinstance(values, dict):
            continue
        for key, entry in sorted(values.items()):
            lines += ["", f"[{table}.{key}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items() if v is not None]
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config.", suffix=".toml")
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines).lstrip("\n") + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def add(env: str, region: str, name: str | None = None, profile: str | None = None, default: bool = False) -> UserEnv:
    """Add (or replace) one env; the first env added becomes the default."""
    prefix = name or env
    _check(env, region, prefix, profile)
    data = dict(user_config())
    table = dict(data.get("envs") or {})
    table[env] = {"region": region, "name": prefix, **({"profile": profile} if profile else {})}
    data["envs"] = table
    if default or not data.get("default_env"):
        data["default_env"] = env
    _write(data)
    return next(e for e in envs() if e.env == env)


def remove(env: str) -> UserEnv:
    data = dict(user_config())
    table = dict(data.get("envs") or {})
    if env not in table:
        raise UsageError(f"ENV: '{env}' is not in {path()} (runner env list)")
    gone = next(e for e in envs() if e.env == env)
    del table[env]
    data["envs"] = table
    if data.get("default_env") == env:
        data.pop("default_env")
    _write(data)
    return gone


def set_default(env: str) -> UserEnv:
    data = dict(user_config())
    if env not in (data.get("envs") or {}):
        raise UsageError(f"ENV: '{env}' is not in {path()} (runner env add {env} --region R --name PREFIX)")
    data["default_env"] = env
    _write(data)
    return next(e for e in envs() if e.env == env)
