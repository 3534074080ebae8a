"""`runner retry RUN`: the failed rows of a run resubmitted as new jobs (``failed``), or the rows the spot fallback
would move sent to the on-demand queue now (``on_demand`` alone); a Nextflow run is resumed instead
(``nextflow -resume`` in its work directory: finished tasks are reused).

One resubmission of a run at a time: the failed rows are read and resubmitted under the run's lock (the one
`runner submit` takes), so two retries never both resubmit a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.compute import spot
from runner.core.errors import UsageError
from runner.runs import fallback, tracking
from runner.runs.resubmit import Resubmitter
from runner.session.runs import JobRef, RunRecord

if TYPE_CHECKING:
    from runner.nextflow.commands import Launched
    from runner.session import Session

NO_ON_DEMAND = "--on-demand: this env has no queue whose compute environments are all on-demand"


@dataclass(frozen=True)
class RetryRequest:
    run: str
    failed: bool = False  # resubmit the failed rows
    on_demand: bool = False  # to the on-demand queue (alone: the rows the spot fallback would move)
    max_spot_attempts: int = spot.DEFAULT_MAX_SPOT_ATTEMPTS
    spot_patience: str | None = None


@dataclass
class Retried:
    """The failed rows resubmitted (none: nothing had failed)."""

    run: str
    env: str
    rows: list[int] = field(default_factory=list)
    jobs: list[JobRef] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        if not self.jobs:
            return {"run": self.run, "retried": [], "job": None}
        jobs = [{"job_id": r.job_id, "job_name": r.job_name, "array_size": r.array_size} for r in self.jobs]
        return {"run": self.run, "retried_rows": self.rows, "jobs": jobs}


@dataclass
class Moved:
    """The rows the spot fallback moved to the on-demand queue (`retry RUN --on-demand`)."""

    run: str
    moved: list[dict[str, object]]

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "moved": self.moved}


def retry(session: Session, request: RetryRequest, log: Callable[[str], None]) -> Retried | Moved | Launched:
    rules = spot.policy(request.max_spot_attempts, request.spot_patience, session.env.settings)
    record = session.store.load(request.run)
    if record is not None and record.kind == "nextflow":
        return resume(session, record, log)
    if not request.failed and not request.on_demand:
        raise UsageError("--failed: required (runner retry RUN --failed), or --on-demand for the spot fallback")
    if record is None:
        raise UsageError(f"RUN: no run '{request.run}' in this env (runner list --env {session.name})")
    if request.on_demand and not request.failed:
        return Moved(request.run, move_now(session, record, rules, log))
    with session.store.lock(request.run):
        record = session.store.load(request.run) or record
        st = tracking.run_status(session.batch, record, reasons=0)  # failed rows; their reasons are not shown
        if not st.failures:
            return Retried(request.run, session.name)
        rows = st.failed_rows()
        queue = on_demand_queue(session, record, log) if request.on_demand else None
        refs = Resubmitter.for_session(session, log=log).retry_failed(
            record, rows, retry_of=sorted({f.job_id for f in st.failures}), queue=queue
        )
    return Retried(request.run, session.name, rows, refs)


def resume(session: Session, record: RunRecord, log: Callable[[str], None]) -> Launched:
    """A Nextflow run, resumed with what it was launched with (`runner.nextflow.commands.run`)."""
    from runner.nextflow import commands
    from runner.nextflow.pipeline import resume_request

    log(
        f"{record.run} is a Nextflow run: retrying it means resuming it (nextflow -resume in its work directory; "
        "finished tasks are reused)"
    )
    return commands.run(session, resume_request(record))


def on_demand_queue(session: Session, record: RunRecord, log: Callable[[str], None]) -> str:
    """The env's on-demand queue (`retry --failed --on-demand`); a one-line error when it has none."""
    found = fallback.for_session(session, record, spot.Policy(), log).on_demand()
    if found is None:
        raise UsageError(NO_ON_DEMAND)
    return found


def move_now(
    session: Session, record: RunRecord, rules: spot.Policy, log: Callable[[str], None]
) -> list[dict[str, object]]:
    """`retry RUN --on-demand`: the rows the fallback moves, moved now."""
    if not record.extra.get("spec"):
        raise UsageError(f"RUN: run '{record.run}' was not submitted by `runner submit`; cannot move its rows")
    mover = fallback.for_session(session, record, rules, log)
    moves = mover.candidates()
    if moves and mover.on_demand() is None:
        raise UsageError(NO_ON_DEMAND)
    ref = mover.move(moves)
    return [{"job_id": m.job_id, "row": m.row, "reason": m.reason, "to": ref.job_id if ref else None} for m in moves]
