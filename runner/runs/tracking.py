"""Tracking: a run's status (counts per row, the failed rows with their reasons) and the watch that polls it.

Polling is cheap by design and its cost does not grow with the run: one ``describe_jobs`` per 100 parent jobs
gives every array's counts through ``arrayProperties.statusSummary`` (a watch polls with that call only); children
are listed (``list_jobs`` by array id and FAILED status) only when a status shows failures, and described
(concurrently, 100 per call) only as many as are shown. The sample sheet is read only to name failed samples
(through `RunStore.load_sheet`, cached on this machine).

A Nextflow run's task jobs are found by the labels its generated config gives them (``resourceLabels``, which
Nextflow sets as tags on every task job: ``run`` and ``env``): the jobs on the run's task queue created since the
run began, described, those tagged with this run kept. Batch cannot filter by tag, so this costs one list and one
describe per 100 jobs on that queue; a status shows them, a watch's polls do not fetch them.

Every Batch call goes through the gateway (`runner.aws.batch.Batch`). A retry job supersedes the failed rows it
resubmits: a run's counts are per row, taking each row's latest job.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from runner.aws.batch import Batch, reclaimed_attempts
from runner.aws.retry import is_throttling
from runner.core.errors import RunFailed, UsageError
from runner.session.runs import TASK_ENV_LABEL, TASK_RUN_LABEL, JobRef, RunRecord, RunStore

if TYPE_CHECKING:
    from runner.session import Session

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
QUEUED = ("SUBMITTED", "PENDING", "RUNNABLE")
ACTIVE = ("STARTING", "RUNNING")
TERMINAL = ("SUCCEEDED", "FAILED")
INCOMPLETE = "INCOMPLETE"  # a run whose submit was interrupted: some rows have no job yet
POLL_VAR = "RUNNER_POLL_INTERVAL"


class Listener(Protocol):
    """Who hears what a run's use case does while it works: lines of progress (a part submitted, files staged, rows
    moved to on-demand), the run it starts to follow (and its env), and every poll of it. The CLI prints them;
    `Quiet` hears nothing."""

    def note(self, line: str) -> None: ...

    def watching(self, run: str, env: str) -> None: ...

    def poll(self, status: RunStatus) -> None: ...


class Quiet:
    def note(self, line: str) -> None:
        pass

    def watching(self, run: str, env: str) -> None:
        pass

    def poll(self, status: RunStatus) -> None:
        pass


# ---------------------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Failure:
    job_id: str
    index: int | None
    row: int | None
    sample: str | None
    reason: str | None  # None: not described (only the failures a status shows are)
    exit_code: int | None
    reclaimed: int = 0  # attempts that ended by spot reclamation ("Host EC2 ...")


Samples = list[str] | Callable[[], list[str] | None] | None  # sample ids per row, or how to read them when needed


def sample_loader(store: RunStore, record: RunRecord) -> Callable[[], list[str] | None]:
    """The run's sample ids, read (once) only when a failure is shown."""
    return cache(lambda: store.sample_ids(record))


@dataclass
class JobStatus:
    ref: JobRef
    status: str
    counts: Counter[str]
    failed_indices: list[int] = field(default_factory=list)


@dataclass
class RunStatus:
    run: str
    jobs: list[JobStatus]
    counts: Counter[str]  # per row (or job), latest attempt
    failures: list[Failure] = field(default_factory=list)
    kind: str = "jobs"  # jobs | nextflow
    tasks: list[JobStatus] | None = None  # a Nextflow run's task jobs (None: not a Nextflow run, or not fetched)
    task_failures: list[Failure] = field(default_factory=list)
    unsubmitted: int = 0  # rows (or the single job) an interrupted submit has not submitted yet

    @property
    def task_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for task in self.tasks or []:
            counts[task.status] += 1
        return counts

    @property
    def incomplete(self) -> bool:
        return self.unsubmitted > 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> bool:
        return not self.incomplete and self.total > 0 and all(self.counts[s] == 0 for s in (*QUEUED, *ACTIVE))

    @property
    def failed(self) -> int:
        return self.counts["FAILED"]

    @property
    def state(self) -> str:
        if self.incomplete:
            return INCOMPLETE
        if self.done:
            return "FAILED" if self.failed else "SUCCEEDED"
        if any(self.counts[s] for s in ACTIVE) or self.counts["SUCCEEDED"] or self.failed:
            return "RUNNING"
        for status in ("RUNNABLE", "PENDING", "SUBMITTED"):
            if self.counts[status]:
                return status
        return "SUBMITTED"

    def failed_rows(self) -> list[int]:
        return sorted({f.row for f in self.failures if f.row is not None})

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "state": self.state,
            "done": self.done,
            "counts": {s: self.counts[s] for s in STATUSES},
            "total": self.total,
            "unsubmitted": self.unsubmitted,
            "jobs": [
                {
                    "job_id": j.ref.job_id,
                    "job_name": j.ref.job_name,
                    "kind": j.ref.kind,
                    "array_size": j.ref.array_size,
                    "status": j.status,
                    "queue": j.ref.queue,
                    "moved": j.ref.moved,
                    "counts": {s: j.counts[s] for s in STATUSES if j.counts[s]},
                }
                for j in self.jobs
            ],
            "failures": [f.__dict__ for f in self.failures],
            **({"kind": self.kind} if self.kind != "jobs" else {}),
            **({"tasks": self._tasks_dict()} if self.tasks is not None else {}),
        }

    def _tasks_dict(self) -> dict[str, Any]:
        counts = self.task_counts
        return {
            "counts": {s: counts[s] for s in STATUSES if counts[s]},
            "total": len(self.tasks or []),
            "jobs": [
                {"job_id": t.ref.job_id, "job_name": t.ref.job_name, "status": t.status} for t in self.tasks or []
            ],
            "failures": [f.__dict__ for f in self.task_failures],
        }


def job_counts(ref: JobRef, job: dict[str, Any] | None) -> tuple[str, Counter[str]]:
    if job is None:
        return "UNKNOWN", Counter()
    status = job.get("status", "UNKNOWN")
    summary = job.get("arrayProperties", {}).get("statusSummary")
    if ref.array_size and summary:
        counts = Counter({k: int(v) for k, v in summary.items() if k in STATUSES})
        missing = ref.array_size - sum(counts.values())
        if missing > 0:  # children not created yet: they are SUBMITTED with their parent
            counts["SUBMITTED"] += missing
        return status, counts
    if ref.array_size:
        return status, Counter({status if status in STATUSES else "SUBMITTED": ref.array_size})
    return status, Counter({status: 1})


def _index_of(job: dict[str, Any]) -> int | None:
    index = job.get("arrayProperties", {}).get("index")
    if index is None and ":" in job.get("jobId", ""):
        index = job["jobId"].rsplit(":", 1)[1]
    return int(index) if index is not None else None


def _reason(job: dict[str, Any]) -> tuple[str, int | None]:
    attempts = job.get("attempts") or []
    last = attempts[-1] if attempts else {}
    container = last.get("container") or job.get("container") or {}
    reason = last.get("statusReason") or container.get("reason") or job.get("statusReason") or "unknown"
    exit_code = container.get("exitCode")
    return str(reason), (int(exit_code) if exit_code is not None else None)


def _row_of(ref: JobRef, index: int | None) -> int | None:
    if ref.rows is None:
        return None
    if index is None:
        return ref.rows[0] if len(ref.rows) == 1 else None
    return ref.rows[index] if 0 <= index < len(ref.rows) else None


def run_status(
    batch: Batch,
    record: RunRecord,
    samples: Samples = None,
    with_failures: bool = True,
    reasons: int | None = None,
) -> RunStatus:
    """Counts per row (latest job of each row) and, when asked, the failed rows; the reasons of the first
    ``reasons`` failed children of each job (all when None) are described, the others have reason None."""
    if not record.jobs and not record.unsubmitted():
        raise RunFailed(
            f"run '{record.run}' has no submitted job yet (its submit was interrupted): run the same "
            "`runner submit` again to finish it"
        )
    described = batch.describe_jobs(record.job_ids())
    jobs = [JobStatus(ref, *job_counts(ref, described.get(ref.job_id))) for ref in record.jobs]
    counts, retried_at = row_counts(jobs)
    failures: list[Failure] = []
    if with_failures:
        position = {js.ref.job_id: n for n, js in enumerate(jobs)}
        failures = [
            f for f in _failures(batch, jobs, described, reasons) if retried_at.get(f.row, -1) <= position[f.job_id]
        ]
    tasks, task_failures = nextflow_tasks(batch, record) if with_failures and record.kind == "nextflow" else (None, [])
    _name_samples(failures, samples)
    return RunStatus(
        run=record.run,
        jobs=jobs,
        counts=counts,
        failures=failures,
        kind=record.kind,
        tasks=tasks,
        task_failures=task_failures,
        unsubmitted=record.unsubmitted(),
    )


def row_counts(jobs: list[JobStatus]) -> tuple[Counter[str], dict[int | None, int]]:
    """The run's counts per row, and row -> position of the latest job that ran it: rows resubmitted by a later
    retry job leave their earlier FAILED bucket (the retry counts them now)."""
    counts: Counter[str] = Counter()
    for js in jobs:
        counts.update(js.counts)
    retried_at: dict[int | None, int] = {}
    for n, js in enumerate(jobs):
        if js.ref.kind == "retry":
            counts["FAILED"] = max(0, counts["FAILED"] - (len(js.ref.rows) if js.ref.rows is not None else 1))
            for row in js.ref.rows if js.ref.rows is not None else [None]:
                retried_at[row] = n
    return counts, retried_at


def _failures(
    batch: Batch, jobs: list[JobStatus], described: dict[str, dict[str, Any]], reasons: int | None
) -> list[Failure]:
    """Every failed row of every job (its reason when described), and each job's failed indices noted."""
    failures: list[Failure] = []
    for js in jobs:
        if not js.counts["FAILED"]:
            continue
        job = described.get(js.ref.job_id, {})
        children = batch.failed_children(js.ref.job_id, reasons) if js.ref.array_size else [job]
        for child in children:
            index = _index_of(child) if js.ref.array_size else None
            described_child = "attempts" in child or "statusReason" in child or "container" in child
            reason, code = _reason(child) if described_child else (None, None)
            js.failed_indices.append(index if index is not None else 0)
            row = _row_of(js.ref, index)
            failures.append(Failure(js.ref.job_id, index, row, None, reason, code, reclaimed_attempts(child)))
    return failures


def _name_samples(failures: list[Failure], samples: Samples) -> None:
    """Each failure's sample id (the sheet is read only when something failed)."""
    if not failures:
        return
    ids = samples() if callable(samples) else samples
    if ids is None:
        return
    for f in failures:
        f.sample = ids[f.row] if f.row is not None and f.row < len(ids) else None


def _epoch_ms(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() * 1000)


TASK_SLACK_MS = 5 * 60 * 1000  # clock skew between the analyst's machine and AWS


def nextflow_tasks(batch: Batch, record: RunRecord) -> tuple[list[JobStatus] | None, list[Failure]]:
    """The task jobs Nextflow submitted for this run (tagged ``run`` = the run by the generated config's
    ``resourceLabels``), with the failed ones' reasons; (None, []) when the record names no task queue."""
    queue = record.extra.get("task_queue")
    if not queue:
        return None, []
    head_ids = set(record.job_ids())
    tasks: list[JobStatus] = []
    failures: list[Failure] = []
    for job in batch.jobs_since(queue, _epoch_ms(record.created_at) - TASK_SLACK_MS):
        tags = job.get("tags") or {}
        mine = tags.get(TASK_RUN_LABEL) == record.run and tags.get(TASK_ENV_LABEL, record.env) == record.env
        if not mine or job["jobId"] in head_ids:
            continue
        status = job.get("status", "UNKNOWN")
        ref = JobRef(job_id=job["jobId"], job_name=job.get("jobName", ""), kind="task")
        tasks.append(JobStatus(ref=ref, status=status, counts=Counter({status: 1})))
        if status == "FAILED":
            reason, code = _reason(job)
            failures.append(Failure(job["jobId"], None, None, ref.job_name, reason, code))
    tasks.sort(key=lambda t: t.ref.job_name)
    return tasks, failures


def poll_interval(default: float = 5.0) -> float:
    raw = os.environ.get(POLL_VAR)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{POLL_VAR}: '{raw}' is not a number of seconds") from None
    if value < 0:
        raise UsageError(f"{POLL_VAR}: {value} must not be negative")
    return value


def watch(
    batch: Batch,
    record: RunRecord,
    on_update: Callable[[RunStatus], None],
    interval: float = 5.0,
    max_interval: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    samples: Samples = None,
    step: Callable[[RunStatus], bool] | None = None,
    reasons: int | None = None,
) -> RunStatus:
    """Poll until every row is SUCCEEDED or FAILED (interval grows 1.5x per quiet poll, up to max_interval);
    ``step`` runs on every poll and returns True when it changed the run (the spot fallback): poll again."""
    delay = interval
    previous: dict[str, int] | None = None
    while True:
        try:
            status = run_status(batch, record, samples, with_failures=False)
        except ClientError as exc:
            if not is_throttling(exc):
                raise
            sleep(delay)
            delay = min(max_interval, max(delay, 1.0) * 2)
            continue
        if status.incomplete:  # nothing will submit the missing rows while we watch
            on_update(status)
        if status.done and not status.failed and record.kind != "nextflow":
            on_update(status)  # nothing to explain: the last poll is the final status
            return status
        if status.done:
            # the spot fallback reads every failed child's attempts; otherwise only the shown ones are described
            final = run_status(batch, record, samples, with_failures=True, reasons=None if step else reasons)
            if step is not None and step(final):
                continue
            on_update(final)
            return final
        if step is not None and step(status):
            continue
        on_update(status)
        counts = dict(status.counts)
        delay = interval if counts != previous else min(max_interval, delay * 1.5)
        previous = counts
        sleep(delay)


def follow(
    session: Session,
    record: RunRecord,
    listener: Listener,
    interval: float | None = None,
    step: Callable[[RunStatus], bool] | None = None,
    reasons: int | None = None,
) -> RunStatus:
    """`watch` a run of the session's env until it ends (``interval`` None: $RUNNER_POLL_INTERVAL or 5 s); the
    listener hears of every poll."""
    first = interval if interval is not None else poll_interval()
    samples = sample_loader(session.store, record)
    listener.watching(record.run, session.name)
    return watch(session.batch, record, listener.poll, interval=first, samples=samples, step=step, reasons=reasons)
