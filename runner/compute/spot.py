"""Spot and on-demand capacity: the spot fallback's rules (`Policy`: when a row leaves spot, read from the options
and the env's ``runner.toml``) and which of the env's queues is on-demand only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runner.compute.resources import Capacity, parse_duration
from runner.core.errors import UsageError

DEFAULT_MAX_SPOT_ATTEMPTS = 2
DEFAULT_SPOT_PATIENCE = "1h"
PATIENCE_SETTING = "spot_patience"  # envs/E/runner.toml


@dataclass(frozen=True)
class Policy:
    max_spot_attempts: int = DEFAULT_MAX_SPOT_ATTEMPTS
    spot_patience_s: int | None = 3600  # None: never move for waiting


def policy(max_spot_attempts: int, spot_patience: str | None, settings: dict[str, object]) -> Policy:
    """The policy of `--max-spot-attempts` and `--spot-patience` (else the env's setting, else the default),
    validated: a bad value is a one-line error naming the option."""
    if max_spot_attempts < 1:
        raise UsageError(f"--max-spot-attempts: {max_spot_attempts} must be at least 1")
    raw = spot_patience if spot_patience is not None else settings.get(PATIENCE_SETTING)
    field = "--spot-patience" if spot_patience is not None else f"runner.toml {PATIENCE_SETTING}"
    text = str(raw if raw is not None else DEFAULT_SPOT_PATIENCE).strip()
    patience = None if text.lower() == "never" else parse_duration(text, field)
    return Policy(max_spot_attempts=max_spot_attempts, spot_patience_s=patience)


def on_demand_queue(capacities_of: Callable[[str], list[Capacity]], queues: dict[str, str]) -> str | None:
    """The first of the env's queues (``head`` aside) whose compute environments are all on-demand."""
    for key, name in queues.items():
        if key == "head":
            continue
        capacities = capacities_of(name)
        if capacities and not any(c.spot for c in capacities):
            return name
    return None
