"""Spot reclamation on the local Batch (docker mode): a running job loses its "instance" the way spot does.

Two ways in, both only for jobs running on a SPOT (or FARGATE_SPOT) compute environment, as only spot capacity
is reclaimed:

* `runner local reclaim JOB_ID`: the CLI sends TerminateJob with the reason ``RECLAIM_REQUEST``; the executor
  hands such a request here instead of terminating the job;
* ``RUNNER_LOCAL_RECLAIM_FRACTION`` (0-1) in the emulator's environment: that fraction of attempts starting on a
  spot environment is reclaimed ``RUNNER_LOCAL_RECLAIM_AFTER`` seconds (default 1) after it starts running
  (``RUNNER_LOCAL_RECLAIM_SEED`` makes the draw repeatable).

The container is killed and the attempt ends as Batch ends it: no exit code, status reason
``Host EC2 (instance i-...) terminated.``. The job's retry strategy then decides as on AWS (``evaluateOnExit``
with ``onStatusReason: "Host EC2*"``), since the executor treats it as a failure of the attempt, not a
TerminateJob.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
from typing import Any

from runner.core.errors import UsageError

RECLAIM_REQUEST = "runner-local-reclaim"
FRACTION_VAR = "RUNNER_LOCAL_RECLAIM_FRACTION"
AFTER_VAR = "RUNNER_LOCAL_RECLAIM_AFTER"
SEED_VAR = "RUNNER_LOCAL_RECLAIM_SEED"
SPOT_TYPES = ("SPOT", "FARGATE_SPOT")
_ATTRIBUTE = "reclaim_reason"  # set on a LocalJob whose running attempt is being reclaimed

_draws = random.Random(os.environ.get(SEED_VAR))


class ReclaimRefused(Exception):
    """The job cannot be reclaimed (not running, not on spot, an array parent); the message says why."""


def is_request(reason: str | None) -> bool:
    return reason == RECLAIM_REQUEST


def instance_id(job_id: str, attempt: int) -> str:
    return "i-" + hashlib.sha256(f"{job_id}/{attempt}".encode()).hexdigest()[:17]


def status_reason(job_id: str, attempt: int) -> str:
    """Batch's own reason for an attempt whose instance went away."""
    return f"Host EC2 (instance {instance_id(job_id, attempt)}) terminated."


def _number(var: str, default: float, low: float, high: float) -> float:
    """A number from the environment within [low, high]; anything else is a one-line UsageError naming it
    (`runner local up` asks first, so the emulator never starts with a value it would misread)."""
    raw = os.environ.get(var, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise UsageError(f"{var}: '{raw}' must be a number from {low:g} to {high:g}")
    return value


def fraction() -> float:
    """The share of spot attempts reclaimed on their own (0: none, 1: every one)."""
    return _number(FRACTION_VAR, 0.0, 0.0, 1.0)


def after() -> float:
    """Seconds a spot attempt runs before it is reclaimed, when it is drawn."""
    return _number(AFTER_VAR, 1.0, 0.0, 86_400.0)


def check_settings() -> None:
    """Refuse bad reclaim settings before the emulator starts."""
    fraction()
    after()


def _environment_type(backend: Any, name: str | None) -> str:
    ce = backend.get_compute_environment(name) if name else None
    return str(((ce.compute_resources if ce is not None else None) or {}).get("type", "")).upper()


def mark(executor: Any, backend: Any, job_id: str) -> str:
    """Reclaim a running job's instance: mark it and kill its container. Returns the status reason.

    Raises `ReclaimRefused` for a job that is not a RUNNING job on spot capacity."""
    with executor.lock:
        job = backend.get_job_by_id(job_id)
        if job is None or not hasattr(job, "attempt_no"):
            raise ReclaimRefused(f"no job {job_id} on the local Batch")
        if getattr(job, "children", None):
            raise ReclaimRefused(f"job {job_id} is an array parent: reclaim a child, {job_id}:INDEX")
        if job.status != "RUNNING" or not job.container_id:
            raise ReclaimRefused(f"job {job_id} is {job.status}: only a RUNNING job's instance can be reclaimed")
        kind = _environment_type(backend, job.ce_name)
        if kind not in SPOT_TYPES:
            raise ReclaimRefused(
                f"job {job_id} runs on compute environment {job.ce_name} ({kind or 'unknown type'}): "
                "only spot capacity is reclaimed"
            )
        reason = status_reason(job.job_id, job.attempt_no)
        setattr(job, _ATTRIBUTE, reason)
        container = job.container_id
    executor._kill(container)
    return reason


def request(executor: Any, backend: Any, job_id: str) -> str:
    """`mark` for the TerminateJob route: a refusal becomes the ClientException the caller sees."""
    from runner.local import moto_contract

    try:
        return mark(executor, backend, job_id)
    except ReclaimRefused as exc:
        raise moto_contract.current().ClientException(str(exc)) from None


def outcome(
    job: Any, code: int | None, reason: str | None, status: str | None
) -> tuple[int | None, str | None, str | None]:
    """The attempt's (exit code, reason, status reason): Batch's reclamation outcome when it was reclaimed."""
    reclaimed = getattr(job, _ATTRIBUTE, None)
    if not reclaimed:
        return code, reason, status
    setattr(job, _ATTRIBUTE, None)
    return None, None, reclaimed


def started(executor: Any, job: Any) -> None:
    """An attempt is RUNNING: reclaim it later with probability ``RUNNER_LOCAL_RECLAIM_FRACTION`` (spot only)."""
    share = fraction()
    if share <= 0 or _draws.random() >= share:
        return
    if _environment_type(job.backend, job.ce_name) not in SPOT_TYPES:
        return
    delay = after()
    attempt = job.attempt_no

    def fire() -> None:
        if job.attempt_no != attempt:  # that attempt already ended
            return
        with contextlib.suppress(ReclaimRefused):  # it finished (or was stopped) first
            mark(executor, job.backend, job.job_id)

    timer = threading.Timer(delay, fire)
    timer.daemon = True
    timer.start()
