"""`runner logs JOB[:INDEX]`: a job's CloudWatch log stream, read from the start (``follow``: until the job ends).

A run name works for a one-job run (`runner.session.runs.job_of`); an array job needs a child's index. Reads
tolerate throttling; a stream that is not there yet (or has expired) is one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runner.aws.batch import Batch
from runner.aws.retry import is_throttling
from runner.core.errors import RunFailed, UsageError
from runner.runs.tracking import TERMINAL
from runner.session.runs import job_of, split_job_ref

if TYPE_CHECKING:
    from runner.session import Session

DEFAULT_LOG_GROUP = "/aws/batch/job"


@dataclass(frozen=True)
class LogsRequest:
    job: str  # JOB[:INDEX], or a one-job run's name
    follow: bool = False


@dataclass
class LogsResult:
    target: LogTarget
    lines: list[str] = field(default_factory=list)  # the lines read, when they were not streamed

    def to_dict(self) -> dict[str, Any]:
        t = self.target
        return {"job_id": t.job_id, "log_group": t.group, "log_stream": t.stream, "lines": self.lines}


def logs(session: Session, request: LogsRequest, emit: Callable[[str], None] | None = None) -> LogsResult:
    """The job's log lines, each handed to ``emit`` as it is read (None: kept in the result)."""
    job_id = job_of(session.store, request.job)
    target = log_target(session.batch, job_id)
    result = LogsResult(target)
    read_logs(session.logs, session.batch, target, emit or result.lines.append, follow=request.follow)
    return result


@dataclass
class LogTarget:
    """Where a job's output lives: its CloudWatch group and stream (None: the job has not run yet)."""

    job_id: str
    status: str
    group: str
    stream: str | None


def log_target(batch: Batch, job: str) -> LogTarget:
    """Where a job's (or an array child's, ``JOB:INDEX``) output lives."""
    base, index = split_job_ref(job)
    job_id = f"{base}:{index}" if index is not None else base
    found = batch.job(job_id)
    if found is None:
        raise UsageError(f"JOB: no job '{job}' in this env")
    if found.get("arrayProperties", {}).get("size") and index is None:
        raise UsageError(f"JOB: '{job}' is an array job; name a child as {job}:INDEX")
    attempts = found.get("attempts") or []
    stream = (attempts[-1].get("container", {}) if attempts else {}).get("logStreamName")
    stream = stream or (found.get("container") or {}).get("logStreamName")
    return LogTarget(job_id=job_id, status=found.get("status", "UNKNOWN"), group=log_group(found), stream=stream)


def log_group(job: dict[str, Any]) -> str:
    """The CloudWatch group a job logs to, as Batch decides it: its container's ``awslogs-group`` (the job
    definition's log configuration, in DescribeJobs), else Batch's default ``/aws/batch/job``. Never the env's
    group: a job whose definition names none (Metaflow's, Snakemake's, the AWS CLI's) logs to the default."""
    options = ((job.get("container") or {}).get("logConfiguration") or {}).get("options") or {}
    return str(options.get("awslogs-group") or DEFAULT_LOG_GROUP)


def read_logs(
    logs: Any,
    batch: Batch,
    target: LogTarget,
    emit: Callable[[str], None],
    follow: bool = False,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the stream's events (``follow``: until the job ends); tolerates throttling. Returns lines printed."""
    if target.stream is None:
        raise RunFailed(f"job {target.job_id} has no log stream yet (status {target.status}); try again once it runs")
    token: str | None = None
    printed = 0
    delay = interval
    while True:
        kwargs: dict[str, Any] = {"logGroupName": target.group, "logStreamName": target.stream, "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        try:
            page = logs.get_log_events(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if is_throttling(exc):
                sleep(delay)
                delay = min(30.0, delay * 2)
                continue
            if code == "ResourceNotFoundException":
                raise RunFailed(
                    f"job {target.job_id}: log stream {target.group}/{target.stream} does not exist "
                    f"(status {target.status}; logs appear once the container starts, and expire per the "
                    "log group's retention)"
                ) from None
            raise
        delay = interval
        for event in page.get("events", []):
            emit(event.get("message", ""))
            printed += 1
        next_token = page.get("nextForwardToken")
        if next_token and next_token != token:
            token = next_token
            if page.get("events"):
                continue
        if not follow:
            return printed
        status = (batch.job(target.job_id) or {}).get("status")
        if status in TERMINAL:
            follow = False  # one last read, then stop
            continue
        sleep(interval)
