"""`runner list`: this env's runs with their jobs and counts, newest first (``--status``, ``--since`` filter them).

One listing of ``runs/`` and one DescribeJobs per 100 jobs of every run listed: counts come from the parents'
``arrayProperties.statusSummary`` (no child is listed or described).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runner.aws.batch import Batch
from runner.core.errors import UsageError
from runner.runs.tracking import INCOMPLETE, QUEUED, STATUSES, TERMINAL, JobStatus, RunStatus, job_counts, row_counts
from runner.session.runs import RunRecord, RunStore

if TYPE_CHECKING:
    from runner.session import Session

STATES = (*STATUSES, "QUEUED", INCOMPLETE)  # what --status takes


@dataclass(frozen=True)
class ListRequest:
    """Checked when made: a bad ``--status`` or ``--since`` is one line, before the env is opened."""

    status: str | None = None  # a state (RUNNING, FAILED, SUCCEEDED, QUEUED, INCOMPLETE...), any case
    since: str | None = None  # 30m, 24h, 7d
    cutoff: datetime | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cutoff", parse_since(self.since))
        if self.status is not None:
            object.__setattr__(self, "status", self.status.upper())
            if self.status not in STATES:
                raise UsageError(f"--status: '{self.status}' is not one of {', '.join(STATES)}")


@dataclass
class RunRow:
    record: RunRecord
    status: RunStatus

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {"run": r.run, "created_at": r.created_at, "kind": r.kind, **self.status.to_dict()}


@dataclass
class RunList:
    rows: list[RunRow]
    status: str | None = None  # the --status the rows were filtered by

    def to_dict(self) -> list[dict[str, Any]]:
        """A list (what `runner list --json` prints)."""
        return [row.to_dict() for row in self.rows]


def list_runs(session: Session, request: ListRequest) -> RunList:
    rows = [RunRow(r, s) for r, s in runs_with_status(session.batch, session.store, request.status, request.cutoff)]
    return RunList(rows, request.status)


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``--since 24h`` (s, m, h, d, w; combinations like 1d12h) -> the cutoff time."""
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    parts = re.findall(r"(\d+)([smhdw])", text.strip().lower())
    if text.strip().isdigit():
        seconds = int(text)
    elif parts and "".join(n + u for n, u in parts) == text.strip().lower():
        seconds = sum(int(n) * units[u] for n, u in parts)
    else:
        raise UsageError(f"--since: '{text}' is not a duration (examples: 30m, 24h, 7d)")
    return (now or datetime.now(UTC)) - timedelta(seconds=seconds)


def runs_with_status(
    batch: Batch, store: RunStore, status: str | None = None, cutoff: datetime | None = None
) -> list[tuple[RunRecord, RunStatus]]:
    """The runs created since ``cutoff``, newest first, with their counts; only those in state ``status``."""
    records = store.all()
    if cutoff is not None:
        stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
        records = [r for r in records if r.created_at >= stamp]
    described = batch.describe_jobs([i for r in records for i in r.job_ids()])
    result: list[tuple[RunRecord, RunStatus]] = []
    for record in records:
        jobs = [JobStatus(ref, *job_counts(ref, described.get(ref.job_id))) for ref in record.jobs]
        counts: Counter[str] = row_counts(jobs)[0]
        found = RunStatus(run=record.run, jobs=jobs, counts=counts, unsubmitted=record.unsubmitted())
        if _wanted(found, status):
            result.append((record, found))
    return result


def _wanted(found: RunStatus, status: str | None) -> bool:
    wanted = (status or "").upper()
    if wanted == "QUEUED":
        return found.state in QUEUED
    return not wanted or found.state == wanted or (found.counts[wanted] > 0 and wanted not in TERMINAL)
