"""The local Batch wired into moto's Batch API: SubmitJob, DescribeJobs, ListJobs, CancelJob and TerminateJob of
every account and region go to one `runner.local.executor.Executor`; moto keeps compute environments, queues and
job definitions.
"""

from __future__ import annotations

import json
from typing import Any

from runner.local import confine, docker, moto_contract
from runner.local.containers import ensure_network
from runner.local.credentials import KeyPair
from runner.local.executor import ClientException, Executor

MOTO = moto_contract.current()


class LocalBatchBackend:
    """moto's Batch backend for one account and region, with job handling taken over by the executor."""

    def __init__(self, moto_backend: Any, executor: Executor) -> None:
        self._moto = moto_backend
        self._executor = executor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)

    def submit_job(self, *args: Any, **kwargs: Any) -> tuple[str, str, str]:
        return self._executor.submit(self._moto, *args, **kwargs)

    def describe_jobs(self, jobs: list[str] | None) -> list[dict[str, Any]]:
        return self._executor.describe(self._moto, jobs)

    def list_jobs(self, *args: Any, **kwargs: Any) -> Any:
        with self._executor.lock:
            return self._moto.list_jobs(*args, **kwargs)

    def cancel_job(self, job_id: str, reason: str) -> None:
        _require_id_and_reason(job_id, reason)
        self._executor.cancel(self._moto, job_id, reason)

    def terminate_job(self, job_id: str, reason: str) -> None:
        _require_id_and_reason(job_id, reason)
        self._executor.terminate(self._moto, job_id, reason)


def _require_id_and_reason(job_id: str, reason: str) -> None:
    if not job_id:
        raise ClientException("'jobId' is a required field (cannot be an empty string)")
    if not reason:
        raise ClientException("'reason' is a required field (cannot be an empty string)")


def install(port: int, credentials: KeyPair, rules: confine.Rules, home_id: str) -> Executor:
    """Route the emulator's Batch job calls to a new executor (called once, in the emulator process, before it
    listens: the executor's network gateway is one of its addresses)."""
    batch_backends, BatchResponse = MOTO.batch_backends, MOTO.BatchResponse

    engine = docker.Engine()
    executor = Executor(
        port, engine, network=ensure_network(engine), credentials=credentials, rules=rules, home_id=home_id
    )
    wrappers: dict[tuple[str, str], LocalBatchBackend] = {}

    def batch_backend(self: Any) -> Any:
        key = (self.current_account, self.region)
        if key not in wrappers:
            wrappers[key] = LocalBatchBackend(batch_backends[key[0]][key[1]], executor)
        return wrappers[key]

    def submit_job(self: Any) -> str:
        name, job_id, arn = self.batch_backend.submit_job(
            self._get_param("jobName"),
            self._get_param("jobDefinition"),
            self._get_param("jobQueue"),
            array_properties=self._get_param("arrayProperties", {}),
            depends_on=self._get_param("dependsOn"),
            container_overrides=self._get_param("containerOverrides"),
            timeout=self._get_param("timeout"),
            parameters=self._get_param("parameters"),
            tags=self._get_param("tags"),
            retry_strategy=self._get_param("retryStrategy"),
        )
        return json.dumps({"jobId": job_id, "jobName": name, "jobArn": arn})

    BatchResponse.batch_backend = property(batch_backend)
    MOTO.replace_handler("SubmitJob", submit_job)
    return executor
