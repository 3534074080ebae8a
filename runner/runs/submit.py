"""`runner submit`: one job, or one array job per up to 10,000 sample-sheet rows (`runner.runs.submission`: plan,
check, apply); ``dry_run`` stops after the checks, ``wait`` follows the run until it ends, moving the rows spot keeps
failing to the on-demand queue (`runner.runs.fallback`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runner.compute import spot
from runner.runs import fallback, tracking
from runner.runs.submission import SubmitOptions, SubmitResult, Submitter, prepare
from runner.runs.tracking import Listener

if TYPE_CHECKING:
    from runner.session import Session


@dataclass(frozen=True)
class SubmitRequest:
    options: SubmitOptions  # what to submit
    dry_run: bool = False  # check everything, submit nothing
    wait: bool = False  # follow the run until it ends
    max_spot_attempts: int = spot.DEFAULT_MAX_SPOT_ATTEMPTS
    spot_patience: str | None = None  # None: the env's runner.toml, else the default
    interval: float | None = None  # the first polling interval (None: $RUNNER_POLL_INTERVAL or 5 s)
    reasons: int | None = None  # failed rows whose reasons a followed run describes (None: all)


class SubmitListener(Listener, Protocol):
    def submitted(self, result: SubmitResult) -> None:
        """The run is submitted and about to be followed."""


@dataclass
class DryRun:
    """What `runner submit --dry-run` found: what would be submitted, and where."""

    plan: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.plan


def submit(session: Session, request: SubmitRequest, listener: SubmitListener) -> SubmitResult | DryRun:
    """Every local check, then every read-only AWS check, before the first write; then the writes (and the
    watch)."""
    rules = spot.policy(request.max_spot_attempts, request.spot_patience, session.env.settings)
    prepared = prepare(request.options, session.outputs, Path.cwd())
    submitter = Submitter.for_session(session, log=listener.note)
    checked = submitter.check(prepared)
    if request.dry_run:
        return DryRun(checked.summary(session.name))
    result = submitter.apply(checked)
    if not request.wait:
        return result
    listener.submitted(result)
    step = fallback.for_session(session, result.record, rules, listener.note).step
    interval = request.interval if request.interval is not None else tracking.poll_interval()
    samples = tracking.sample_loader(session.store, result.record)
    result.status = tracking.watch(
        session.batch,
        result.record,
        listener.poll,
        interval=interval,
        samples=samples,
        step=step,
        reasons=request.reasons,
    )
    return result
