"""The one AWS Batch gateway: every Batch call the runner makes goes through `Batch`.

Reads page and chunk the way Batch wants (``describe_jobs`` 100 ids at a time, ``list_jobs`` and
``describe_job_definitions`` followed through ``nextToken``). Submission is idempotent: every request carries a
per-submission token tag (``runner:submission``) and `Batch.submit` first looks for a job with the request's name
and that token. SubmitJob goes through its own one-attempt client; after an error that may have created the
job (a lost response, a timeout, a 5xx), the job is looked up by name and token (more than once, backing off)
before anything is sent again, and throttling is waited out with the policy of `runner.aws.retry` and a lookup.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from runner.aws import retry
from runner.core.errors import RunFailed

ARRAY_LIMIT = 10_000  # Batch's largest array job (children 0..9999)
DESCRIBE_CHUNK = 100
DESCRIBE_WORKERS = 8  # describe_jobs calls in flight when more than 100 ids are asked for
TOKEN_TAG = "runner:submission"
SUBMIT_ATTEMPTS = 8
SETTLE_LOOKUPS = 2  # lookups after an error that may have created the job, before it is sent again
ACTIVE_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
RECLAIM_PREFIX = "Host EC2"  # Batch's status reason when an attempt's instance went away (spot reclamation)


def chunks(items: list[str], size: int = DESCRIBE_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reclaimed_attempts(job: dict[str, Any]) -> int:
    """How many of a job's attempts ended by spot reclamation (Batch's ``Host EC2 ...`` reasons)."""
    return sum(1 for a in job.get("attempts") or [] if str(a.get("statusReason") or "").startswith(RECLAIM_PREFIX))


def is_array_child(summary: dict[str, Any]) -> bool:
    return ":" in summary.get("jobId", "") or "index" in summary.get("arrayProperties", {})


class Batch:
    """AWS Batch for one env. ``client`` keeps botocore's adaptive retries; SubmitJob goes through
    ``submit_client`` (one attempt, no automatic retry), given as a client or a function that makes one on first
    use (a client costs ~0.2 s: commands that never submit do not pay for it)."""

    def __init__(
        self,
        client: Any,
        submit_client: Any | Callable[[], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = SUBMIT_ATTEMPTS,
        settle: int = SETTLE_LOOKUPS,
    ) -> None:
        self.client = client
        self._submit_client = submit_client
        self.sleep = sleep
        self.attempts = attempts
        self.settle = settle
        self._prefetched: tuple[frozenset[str], Future[dict[str, dict[str, Any]]]] | None = None

    @property
    def submit_client(self) -> Any:
        if self._submit_client is None:
            return self.client
        if not hasattr(self._submit_client, "submit_job"):
            self._submit_client = self._submit_client()
        return self._submit_client

    # -- jobs: reads ----------------------------------------------------------------------------------------------

    def prefetch(self, job_ids: list[str]) -> None:
        """Start describing JOB_IDS in the background: the next ``describe_jobs`` asking for no other ids takes
        that answer instead of a request of its own (once). `runner status` overlaps it with reading the run
        record, whose job ids it guessed from this machine's copy: one round trip instead of two."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return
        future: Future[dict[str, dict[str, Any]]] = Future()

        def run() -> None:
            try:
                future.set_result(self._describe(ids))
            except BaseException as exc:  # handed to describe_jobs, which asks again
                future.set_exception(exc)

        threading.Thread(target=run, name="batch-prefetch", daemon=True).start()
        self._prefetched = (frozenset(ids), future)

    def describe_jobs(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Job id -> description, 100 ids per call (concurrent calls beyond 100 ids); unknown ids are absent."""
        pending, self._prefetched = self._prefetched, None
        if pending is not None and set(job_ids) <= pending[0]:
            try:
                found = pending[1].result()
            except Exception:  # the prefetch failed: the call below reports what is wrong
                pass
            else:
                return {job_id: found[job_id] for job_id in job_ids if job_id in found}
        return self._describe(job_ids)

    def _describe(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        parts = list(chunks(list(dict.fromkeys(job_ids))))
        if len(parts) > 1:
            with ThreadPoolExecutor(max_workers=min(DESCRIBE_WORKERS, len(parts))) as pool:
                pages = list(pool.map(lambda chunk: self.client.describe_jobs(jobs=chunk), parts))
        else:
            pages = [self.client.describe_jobs(jobs=chunk) for chunk in parts]
        return {job["jobId"]: job for page in pages for job in page.get("jobs", [])}

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.describe_jobs([job_id]).get(job_id)

    def list_jobs(self, **filters: Any) -> list[dict[str, Any]]:
        """Every job summary matching ``filters`` (a queue with a status or a JOB_NAME filter, or an array id)."""
        found: list[dict[str, Any]] = []
        kwargs = dict(filters)
        while True:
            page = self.client.list_jobs(**kwargs)
            found.extend(page.get("jobSummaryList", []))
            token = page.get("nextToken")
            if not token:
                return found
            kwargs["nextToken"] = token

    def failed_children(self, parent_id: str, describe: int | None = None) -> list[dict[str, Any]]:
        """The FAILED children of an array job, in index order; the first ``describe`` of them (all when None)
        described for their reasons (concurrently, 100 per call), the others as listed (id, index, no reason)."""
        summaries = [
            j for j in self.list_jobs(arrayJobId=parent_id, jobStatus="FAILED") if j.get("status", "FAILED") == "FAILED"
        ]
        summaries.sort(key=lambda j: int(j["jobId"].rsplit(":", 1)[1]) if ":" in j["jobId"] else 0)
        wanted = [j["jobId"] for j in summaries[:describe]] if describe is not None else [j["jobId"] for j in summaries]
        detail = self.describe_jobs(wanted)
        return [detail.get(j["jobId"], j) for j in summaries]

    def jobs_since(self, queue: str, created_after_ms: int) -> list[dict[str, Any]]:
        """Every parent or single job on the queue created after the time (any status: a ``list_jobs`` filter
        lists them all), described (tags included), concurrently 100 per call."""
        since = [{"name": "AFTER_CREATED_AT", "values": [str(created_after_ms)]}]
        ids = [j["jobId"] for j in self.list_jobs(jobQueue=queue, filters=since) if not is_array_child(j)]
        described = self.describe_jobs(ids)
        return [described[i] for i in dict.fromkeys(ids) if i in described]

    def find_job(self, queue: str, name: str, token: str | None = None) -> str | None:
        """The newest parent or single job on the queue with exactly this name (and this submission token)."""
        named = [
            j
            for j in self.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])
            if j.get("jobName") == name and not is_array_child(j)
        ]
        if token is not None and named:
            tagged = self.describe_jobs([j["jobId"] for j in named])
            named = [j for j in named if tagged.get(j["jobId"], {}).get("tags", {}).get(TOKEN_TAG) == token]
        if not named:
            return None
        return str(max(named, key=lambda j: j.get("createdAt", 0))["jobId"])

    # -- jobs: writes ---------------------------------------------------------------------------------------------

    def submit(self, request: dict[str, Any], token: str) -> tuple[str, bool]:
        """(job id, created): the job of this request and token, submitting it only when it does not exist yet.

        Exactly once: each SubmitJob is one attempt (``submit_client``); after any error but a definite refusal
        (a 4xx that is not throttling), the job is looked up by name and token, and sent again only when it is
        not there. After an error that may have reached Batch (a lost response, a 5xx), the lookup is repeated
        ``settle`` times, backing off, so a job that ListJobs shows late is not submitted twice."""
        request = {**request, "tags": {**request.get("tags", {}), TOKEN_TAG: token}}
        queue, name = request["jobQueue"], request["jobName"]
        existing = self._lookup(queue, name, token)
        if existing:
            return existing, False
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                return str(self.submit_client.submit_job(**request)["jobId"]), True
            except ClientError as exc:
                if not retry.is_throttling(exc) and retry.http_status(exc) < 500:
                    message = exc.response.get("Error", {}).get("Message", str(exc))
                    raise RunFailed(f"SubmitJob {name}: {retry.error_code(exc)}: {message}") from None
                ambiguous = not retry.is_throttling(exc)
                last = exc
            except (HTTPClientError, BotoConnectionError) as exc:
                # A connection refused or that timed out connecting sent nothing; a reset or a read timeout may
                # have reached Batch.
                ambiguous = not isinstance(exc, (EndpointConnectionError, ConnectTimeoutError))
                last = exc
            for look in range(self.settle if ambiguous else 1):
                self.sleep(retry.backoff(attempt + look))
                existing = self._lookup(queue, name, token)
                if existing:
                    return existing, True
        raise RunFailed(f"SubmitJob {name}: gave up after {self.attempts} attempts: {last}")

    def _lookup(self, queue: str, name: str, token: str) -> str | None:
        """`find_job`, or a RunFailed: never submit when it is unknown whether the job exists."""
        try:
            return self.find_job(queue, name, token)
        except (ClientError, BotoCoreError) as exc:
            raise RunFailed(
                f"SubmitJob {name}: cannot tell whether it was already submitted ({exc}); "
                "nothing was sent again: run the same command again"
            ) from None

    def cancel(self, job_id: str, reason: str) -> None:
        self.client.cancel_job(jobId=job_id, reason=reason)

    def terminate(self, job_id: str, reason: str) -> None:
        self.client.terminate_job(jobId=job_id, reason=reason)

    # -- queues, compute environments, job definitions ------------------------------------------------------------

    def queues(self, refs: list[str]) -> list[dict[str, Any]]:
        return list(self.client.describe_job_queues(jobQueues=refs).get("jobQueues", []))

    def compute_environments(self, arns: list[str]) -> list[dict[str, Any]]:
        if not arns:
            return []
        return list(self.client.describe_compute_environments(computeEnvironments=arns).get("computeEnvironments", []))

    def job_definitions(self, refs: list[str]) -> list[dict[str, Any]]:
        """Definitions by ARN or ``name:revision``."""
        return list(self.client.describe_job_definitions(jobDefinitions=refs).get("jobDefinitions", []))

    def active_definitions(self, name: str) -> list[dict[str, Any]]:
        """Every ACTIVE revision of a definition name, all pages."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"jobDefinitionName": name, "status": "ACTIVE"}
        while True:
            page = self.client.describe_job_definitions(**kwargs)
            found.extend(d for d in page.get("jobDefinitions", []) if d.get("status", "ACTIVE") == "ACTIVE")
            token = page.get("nextToken")
            if not token:
                return found
            kwargs["nextToken"] = token

    def latest_definition(self, name: str) -> dict[str, Any] | None:
        return max(self.active_definitions(name), key=lambda d: int(d.get("revision", 0)), default=None)

    def register_job_definition(self, **request: Any) -> str:
        return str(self.client.register_job_definition(**request)["jobDefinitionArn"])
