"""The cache of an env's terraform outputs: ``RUNNER_HOME/outputs/NAME.json``.

Reading outputs through terraform costs a few seconds and needs state access, so `runner.infra.plans` saves them
here whenever it applies or reads outputs. Who reads them, and in which order of sources, is
`runner.session.outputs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.core.project import Env, runner_home


def cache_file(env: Env, home: Path | None = None) -> Path:
    return (home or runner_home(env.root)) / "outputs" / f"{env.name}.json"


def save(env: Env, values: dict[str, Any], home: Path | None = None) -> Path:
    path = cache_file(env, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def read(env: Env, home: Path | None = None) -> dict[str, Any] | None:
    path = cache_file(env, home)
    if not path.exists():
        return None
    values: dict[str, Any] = json.loads(path.read_text())
    return values


def forget(env: Env, home: Path | None = None) -> None:
    cache_file(env, home).unlink(missing_ok=True)
