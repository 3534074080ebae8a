"""`runner status RUN_OR_JOB`: counts by status and the failed rows with their reasons; ``watch`` follows the run
until it ends, moving the rows spot keeps failing to the on-demand queue (`runner.runs.fallback`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.compute import spot
from runner.costs import cost
from runner.runs import fallback, tracking
from runner.runs.tracking import Listener, Quiet, RunStatus
from runner.session.runs import resolve_target

if TYPE_CHECKING:
    from runner.session import Session


@dataclass(frozen=True)
class StatusRequest:
    target: str  # a run name or a job id
    watch: bool = False
    max_spot_attempts: int = spot.DEFAULT_MAX_SPOT_ATTEMPTS
    spot_patience: str | None = None  # None: the env's runner.toml, else the default
    interval: float | None = None  # the first polling interval (None: $RUNNER_POLL_INTERVAL or 5 s)
    reasons: int | None = None  # failed rows whose reasons are described (None: all)
    with_cost: bool = False  # a line saying what a finished run cost


@dataclass
class StatusResult:
    status: RunStatus
    cost_line: str | None = None  # a finished run's cost in one line, when asked

    def to_dict(self) -> dict[str, Any]:
        return self.status.to_dict()

    @property
    def exit_code(self) -> int:
        """1 when a row failed or was never submitted (INCOMPLETE)."""
        return 1 if self.status.failed or self.status.incomplete else 0


def status(session: Session, request: StatusRequest, listener: Listener | None = None) -> StatusResult:
    """The run's status now, or (``watch``) once it ended; ``listener`` hears of every poll while watching."""
    listener = listener or Quiet()
    rules = spot.policy(request.max_spot_attempts, request.spot_patience, session.env.settings)
    record = resolve_target(session.store, session.batch, request.target, prefetch=not request.watch)
    if request.watch:
        step = fallback.for_session(session, record, rules, listener.note).step if record.extra.get("spec") else None
        final = tracking.follow(session, record, listener, request.interval, step, request.reasons)
    else:
        samples = tracking.sample_loader(session.store, record)
        final = tracking.run_status(session.batch, record, samples, reasons=request.reasons)
    line = cost.summary_line(session, record) if request.with_cost and final.done else None
    return StatusResult(final, line)
