"""The env's terraform outputs as the rest of the runner reads them (queues, buckets, roles).

Reading them through terraform costs a few seconds and needs state access, so the values are cached in
``RUNNER_HOME/outputs/NAME.json`` whenever the runner applies or reads outputs, and read from there first.
A platform team can hand that file to analysts who have no access to the state (``RUNNER_OUTPUTS_FILE``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runner.core.errors import UsageError
from runner.core.project import Env, runner_home

OUTPUTS_FILE_VAR = "RUNNER_OUTPUTS_FILE"


def cache_file(env: Env, home: Path | None = None) -> Path:
    return (home or runner_home(env.root)) / "outputs" / f"{env.name}.json"


def save(env: Env, values: dict[str, Any], home: Path | None = None) -> Path:
    path = cache_file(env, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def forget(env: Env, home: Path | None = None) -> None:
    cache_file(env, home).unlink(missing_ok=True)


def load(env: Env, home: Path | None = None, refresh: bool = False) -> dict[str, Any]:
    """Output values (name -> value) of the applied env; raises UsageError when it was never applied."""
    explicit = os.environ.get(OUTPUTS_FILE_VAR)
    if explicit:
        try:
            data: dict[str, Any] = json.loads(Path(explicit).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"{OUTPUTS_FILE_VAR}: cannot read '{explicit}': {exc}") from None
        return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in data.items()}
    path = cache_file(env, home)
    if path.exists() and not refresh:
        cached: dict[str, Any] = json.loads(path.read_text())
        return cached
    from runner.infra.plans import Infra

    values = Infra(env, home=home).output_values()
    if not values:
        raise UsageError(f"--env: '{env.name}' has no outputs; apply it first (runner infra apply --env {env.name})")
    save(env, values, home)
    return values
