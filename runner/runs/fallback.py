"""Spot fallback: rows that spot capacity keeps failing move to an on-demand queue, linked in the run record.

A row (an array child, or a single job) on a queue that tries spot first moves when

* its attempts were reclaimed (Batch's ``Host EC2 ...`` reasons) at least ``max_spot_attempts`` times and it is
  not running now (waiting in RUNNABLE for yet another spot attempt, or FAILED by the last reclamation), or
* it has waited RUNNABLE longer than ``spot_patience`` (since it was created, or since its last attempt ended).

A row that is still queued is cancelled first; then the moved rows are resubmitted together as one job on the
on-demand queue (``runner retry``'s resubmission, kind ``retry`` with ``moved`` saying why), so `status` counts
each row once, on its latest job. Rows that failed on their own (an application error) never move. This runs
on every poll of ``runner submit --wait`` and ``runner status --watch``, and once for ``runner retry RUN
--on-demand``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.aws.batch import ARRAY_LIMIT, RECLAIM_PREFIX, Batch, reclaimed_attempts
from runner.compute import resources
from runner.compute.resources import Capacity
from runner.compute.spot import Policy, on_demand_queue
from runner.runs.resubmit import Resubmitter
from runner.runs.tracking import RunStatus
from runner.session.runs import JobRef, RunRecord

if TYPE_CHECKING:
    from runner.session import Session

CHILD_STATUSES = ("RUNNABLE", "FAILED")
RECHECK_SECONDS = 60
CANCEL_REASON = "runner: moved to the on-demand queue (spot fallback)"


@dataclass(frozen=True)
class Move:
    job_id: str  # the row's job: an array child or a single job
    row: int | None
    reason: str
    queued: bool  # still RUNNABLE: cancelled before the row is resubmitted


def waiting_since(job: dict[str, Any]) -> datetime | None:
    """When the job last became RUNNABLE: its creation, or the end of its last attempt."""
    stamps = [job.get("createdAt")] + [a.get("stoppedAt") for a in job.get("attempts") or []]
    known = [s for s in stamps if s]
    return datetime.fromtimestamp(max(known) / 1000, UTC) if known else None


def decide(job: dict[str, Any], policy: Policy, now: datetime) -> str | None:
    """Why the row of this job should move to on-demand now (None: it stays)."""
    status = job.get("status")
    count = reclaimed_attempts(job)
    attempts = job.get("attempts") or []
    last_reclaimed = bool(attempts) and str(attempts[-1].get("statusReason") or "").startswith(RECLAIM_PREFIX)
    if status == "FAILED" and not last_reclaimed:
        return None  # failed on its own: an application error, not capacity
    if status in ("RUNNABLE", "FAILED") and count >= policy.max_spot_attempts:
        return f"reclaimed {count} times (--max-spot-attempts {policy.max_spot_attempts})"
    if status == "RUNNABLE" and policy.spot_patience_s is not None:
        since = waiting_since(job)
        waited = (now - since).total_seconds() if since else 0.0
        if waited > policy.spot_patience_s:
            return f"RUNNABLE on spot for {int(waited // 60)} min (--spot-patience {policy.spot_patience_s // 60} min)"
    return None


def _row(ref: JobRef, job: dict[str, Any]) -> int | None:
    if ref.rows is None:
        return None
    index = (job.get("arrayProperties") or {}).get("index")
    if index is None and ":" in str(job.get("jobId", "")):
        index = str(job["jobId"]).rsplit(":", 1)[1]
    if index is None:
        return ref.rows[0] if len(ref.rows) == 1 else None
    return ref.rows[int(index)] if 0 <= int(index) < len(ref.rows) else None


def superseded(record: RunRecord) -> dict[int | None, int]:
    """Row -> position in ``record.jobs`` of the latest job that runs it."""
    latest: dict[int | None, int] = {}
    for n, ref in enumerate(record.jobs):
        for row in ref.rows if ref.rows is not None else [None]:
            latest[row] = n
    return latest


@dataclass
class SpotFallback:
    """Finds the rows of a run to move and moves them (``resubmit(record, rows, retry_of, queue, moved)``)."""

    batch: Batch
    ec2: Any
    record: RunRecord
    queues: Callable[[], dict[str, str]]
    resubmit: Callable[[RunRecord, list[int] | None, list[str], str, str], JobRef]
    policy: Policy
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    log: Callable[[str], None] = lambda _m: None
    _capacities: dict[str, list[Capacity]] = field(default_factory=dict, init=False)
    _seen: dict[str, tuple[tuple[int, int], datetime]] = field(default_factory=dict, init=False)

    def capacities(self, queue: str) -> list[Capacity]:
        if queue not in self._capacities:
            self._capacities[queue] = resources.queue_capacity(self.batch, self.ec2, queue)
        return self._capacities[queue]

    def on_demand(self) -> str | None:
        return on_demand_queue(self.capacities, self.queues())

    def spot_first(self, queue: str) -> bool:
        capacities = self.capacities(queue)
        return bool(capacities) and capacities[0].spot

    def candidates(self) -> list[Move]:
        latest = superseded(self.record)
        parents = self.batch.describe_jobs(self.record.job_ids())
        now = self.now()
        moves: list[Move] = []
        for n, ref in enumerate(self.record.jobs):
            parent = parents.get(ref.job_id)
            if parent is None or parent.get("status") == "SUCCEEDED" or not self.spot_first(parent.get("jobQueue", "")):
                continue
            if ref.array_size:
                summary = (parent.get("arrayProperties") or {}).get("statusSummary") or {}
                if not any(summary.get(s) for s in CHILD_STATUSES):
                    continue
                ids = [
                    j["jobId"] for s in CHILD_STATUSES for j in self.batch.list_jobs(arrayJobId=ref.job_id, jobStatus=s)
                ]
                jobs = list(self.batch.describe_jobs(ids).values())
            else:
                jobs = [parent]
            for job in jobs:
                row = _row(ref, job)
                if latest.get(row, n) != n:  # a later job already runs this row
                    continue
                reason = decide(job, self.policy, now)
                if reason:
                    moves.append(Move(str(job["jobId"]), row, reason, queued=job.get("status") == "RUNNABLE"))
        return moves

    def move(self, moves: list[Move]) -> JobRef | None:
        """Cancel the queued rows, resubmit them all on the on-demand queue; the new job (None: no such queue)."""
        if not moves:
            return None
        target = self.on_demand()
        if target is None:
            self.log(f"{self.record.run}: {len(moves)} row(s) would move to on-demand, but no queue is on-demand only")
            return None
        for m in moves:
            if m.queued:
                self.batch.cancel(m.job_id, CANCEL_REASON)
        rows = sorted(m.row for m in moves if m.row is not None) if self.record.samples_key else None
        why = "; ".join(sorted({m.reason for m in moves}))
        retry_of = sorted({m.job_id for m in moves})
        parts = [rows[i : i + ARRAY_LIMIT] for i in range(0, len(rows), ARRAY_LIMIT)] if rows else [None]
        refs = [self.resubmit(self.record, part, retry_of, target, why) for part in parts]
        self.log(f"{self.record.run}: moved {len(moves)} row(s) to {target} as {refs[-1].job_id} ({why})")
        return refs[-1]

    def due(self, status: RunStatus) -> bool:
        """Whether a poll warrants a look at the children: a job's RUNNABLE or FAILED count changed since the
        last look, or RUNNABLE rows have waited another ``RECHECK_SECONDS`` (most polls cost nothing)."""
        now = self.now()
        due = False
        for js in status.jobs:
            counts = (js.counts["RUNNABLE"], js.counts["FAILED"])
            if not any(counts):
                continue
            seen = self._seen.get(js.ref.job_id)
            stale = (
                seen is None or seen[0] != counts or (counts[0] and (now - seen[1]).total_seconds() >= RECHECK_SECONDS)
            )
            if stale:
                self._seen[js.ref.job_id] = (counts, now)
                due = True
        return due

    def from_failures(self, status: RunStatus) -> list[Move]:
        """The moves a finished run's failures call for (their reasons and reclaim counts are already known)."""
        moves = []
        queue_of = {ref.job_id: ref.queue or self.record.queue for ref in self.record.jobs}
        for f in status.failures:
            if not (f.reason or "").startswith(RECLAIM_PREFIX) or f.reclaimed < self.policy.max_spot_attempts:
                continue
            if not self.spot_first(queue_of.get(f.job_id, self.record.queue)):
                continue
            job_id = f"{f.job_id}:{f.index}" if f.index is not None else f.job_id
            why = f"reclaimed {f.reclaimed} times (--max-spot-attempts {self.policy.max_spot_attempts})"
            moves.append(Move(job_id, f.row, why, queued=False))
        return moves

    def step(self, status: RunStatus) -> bool:
        """One check (a watch poll): True when rows moved (the record changed). A finished run is judged on its
        failures (no extra call); a running one only when `due`."""
        if status.done:
            return self.move(self.from_failures(status)) is not None
        if not self.due(status):
            return False
        return self.move(self.candidates()) is not None


def for_session(
    session: Session, record: RunRecord, policy: Policy, log: Callable[[str], None] = lambda _m: None
) -> SpotFallback:
    """The fallback of a run in a session's env: its queues, and resubmission through `Resubmitter`."""
    resubmitter = Resubmitter.for_session(session, log=log)
    return SpotFallback(
        batch=session.batch,
        ec2=session.ec2,
        record=record,
        queues=lambda: session.outputs.queue_names,
        resubmit=resubmitter.resubmit_rows,
        policy=policy,
        log=log,
    )
