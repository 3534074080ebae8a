"""`runner cancel RUN_OR_JOB`: the run's queued jobs cancelled, its running ones terminated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.aws.batch import Batch
from runner.runs.tracking import ACTIVE, QUEUED, job_counts
from runner.session.runs import RunRecord, resolve_target

if TYPE_CHECKING:
    from runner.session import Session

REASON = "cancelled with runner cancel"


@dataclass(frozen=True)
class CancelRequest:
    target: str  # a run name or a job id


@dataclass
class Cancelled:
    run: str
    cancelled: list[str]  # job ids asked to cancel (queued work)
    terminated: list[str]  # job ids asked to terminate (running work)
    finished: list[str]  # job ids that had ended already

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "cancelled": self.cancelled, "terminated": self.terminated, "finished": self.finished}


def cancel(session: Session, request: CancelRequest) -> Cancelled:
    record = resolve_target(session.store, session.batch, request.target)
    return Cancelled(record.run, **cancel_jobs(session.batch, record))


def cancel_jobs(batch: Batch, record: RunRecord, reason: str = REASON) -> dict[str, list[str]]:
    """cancel_job for queued work, terminate_job for running work; array parents get both as needed."""
    described = batch.describe_jobs(record.job_ids())
    done: dict[str, list[str]] = {"cancelled": [], "terminated": [], "finished": []}
    for ref in record.jobs:
        _status, counts = job_counts(ref, described.get(ref.job_id))
        queued = sum(counts[s] for s in QUEUED)
        running = sum(counts[s] for s in ACTIVE)
        if not queued and not running:
            done["finished"].append(ref.job_id)
            continue
        if queued:
            batch.cancel(ref.job_id, reason)
            done["cancelled"].append(ref.job_id)
        if running:
            batch.terminate(ref.job_id, reason)
            done["terminated"].append(ref.job_id)
    return done
