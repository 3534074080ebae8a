"""AWS Batch's rules that need no container: retry decisions, resource sizes, scheduling choices.

Pure functions over plain values, so the executor's decisions are unit-tested without Docker or moto.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
EXIT_REASON = "Essential container in task exited"
DEPENDENCY_REASON = "Dependent Job failed"
PULL_PREFIX = "CannotPullContainerError: "


def pattern_matches(pattern: str, value: str | None) -> bool:
    """Batch's evaluateOnExit patterns: exact text, or a prefix when the pattern ends in ``*``.

    A value Batch did not record (no exit code, no reason) is matched as the empty string, so ``*`` matches it.
    """
    text = "" if value is None else value
    if pattern.endswith("*"):
        return text.startswith(pattern[:-1])
    return text == pattern


def exit_action(
    rules: Sequence[Mapping[str, Any]] | None, exit_code: int | None, reason: str | None, status_reason: str | None
) -> str:
    """RETRY or EXIT for a failed attempt: the first rule whose every given condition matches; none = RETRY."""
    code = None if exit_code is None else str(exit_code)
    for rule in rules or []:
        checks = (("onExitCode", code), ("onReason", reason), ("onStatusReason", status_reason))
        if all(pattern_matches(str(rule[key]), value) for key, value in checks if key in rule):
            return str(rule.get("action", "RETRY")).upper()
    return "RETRY"


def should_retry(
    strategy: Mapping[str, Any] | None,
    attempt: int,
    exit_code: int | None,
    reason: str | None,
    status_reason: str | None,
) -> bool:
    """Whether attempt number ``attempt`` (1-based) that failed on its own gets another attempt."""
    attempts = int((strategy or {}).get("attempts") or 1)
    if attempt >= attempts:
        return False
    rules = (strategy or {}).get("evaluateOnExit")
    return exit_action(rules, exit_code, reason, status_reason) == "RETRY"


def substitute_parameters(command: Iterable[str], parameters: Mapping[str, str]) -> list[str]:
    """``Ref::name`` placeholders in a command, replaced by the job's parameters (unknown ones stay)."""
    if not parameters:
        return list(command)

    def one(part: str) -> str:
        return re.sub(r"Ref::([A-Za-z0-9_\-]+)", lambda m: parameters.get(m.group(1), m.group(0)), part)

    return [one(part) for part in command]


def cpu_nanos(vcpus: float, host_cpus: int) -> int:
    """Docker's NanoCpus for a job: its vCPUs, clamped to the host's CPUs (a job asking 8 vCPUs still runs)."""
    return int(max(0.01, min(float(vcpus), float(host_cpus))) * 1e9)


def memory_bytes(memory_mib: int | None) -> int | None:
    return None if not memory_mib else int(memory_mib) * 1024 * 1024


@dataclass(frozen=True)
class Slot:
    """One compute environment as the scheduler sees it."""

    name: str
    max_vcpus: float | None  # None: no cap (unmanaged)
    enabled: bool = True


@dataclass(frozen=True)
class QueueView:
    """A job queue as the scheduler sees it: priority, environments in order, RUNNABLE jobs in submission order
    as (key, vCPUs) pairs; ``jobs`` may be a lazy iterable: placement stops reading once nothing more can start."""

    priority: int
    environments: tuple[Slot, ...]
    jobs: Iterable[tuple[str, float]]


def place(queues: Iterable[QueueView], used: Mapping[str, float], free_workers: int) -> list[tuple[str, str]]:
    """Which RUNNABLE jobs start now, and on which compute environment.

    Higher-priority queues first, then submission order; each job takes the first environment of its queue's
    order whose ``maxvCpus`` still has room for it. A job that fits nowhere waits (RUNNABLE); smaller jobs behind
    it may still start. At most ``free_workers`` jobs start.
    """
    load = dict(used)
    chosen: list[tuple[str, str]] = []

    def full(env: Slot) -> bool:
        return not env.enabled or (env.max_vcpus is not None and load.get(env.name, 0.0) >= env.max_vcpus - 1e-9)

    for view in sorted(queues, key=lambda q: -q.priority):
        for key, vcpus in view.jobs:
            if len(chosen) >= free_workers:
                return chosen
            if all(full(env) for env in view.environments):
                break
            for env in view.environments:
                if not env.enabled:
                    continue
                if env.max_vcpus is None or load.get(env.name, 0.0) + vcpus <= env.max_vcpus + 1e-9:
                    load[env.name] = load.get(env.name, 0.0) + vcpus
                    chosen.append((key, env.name))
                    break
    return chosen
