"""A Batch job of the local executor: moto's ``Job`` model (so moto's list, tag and queue code keep working),
never started as a thread. The executor owns its lifecycle; this class holds its state and describes it as
DescribeJobs and ListJobs do.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from runner.local import moto_contract, policy

Job: Any = moto_contract.current().Job

TERMINAL = ("SUCCEEDED", "FAILED")
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def now_ms() -> int:
    return int(datetime.now().timestamp() * 1000)


def _env_list(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in items or [] if "name" in e}


def _requirements(props: dict[str, Any]) -> dict[str, str]:
    reqs = {r["type"].upper(): str(r["value"]) for r in props.get("resourceRequirements") or [] if "type" in r}
    if "vcpus" in props and "VCPU" not in reqs:
        reqs["VCPU"] = str(props["vcpus"])
    if "memory" in props and "MEMORY" not in reqs:
        reqs["MEMORY"] = str(props["memory"])
    return reqs


class LocalJob(Job):
    def __init__(
        self,
        *args: Any,
        lock: Any,
        seq: int,
        retry_strategy: dict[str, Any] | None,
        parent: LocalJob | None = None,
        index: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._lock = lock
        self.seq = seq
        self.parent = parent
        self.index = index
        self.children: list[LocalJob] = []
        self.retry_strategy = retry_strategy if retry_strategy is not None else self.job_definition.retry_strategy
        self.created_ms = now_ms()
        self.status_reason: str | None = None
        self.started_ms: int | None = None
        self.stopped_ms: int | None = None
        self.exit_code: int | None = None
        self.container_reason: str | None = None
        self.attempts: list[dict[str, Any]] = []
        self.attempt_no = 0
        self.log_group: str | None = None
        self.log_stream: str | None = None
        self.ce_name: str | None = None
        self.pending_deps: set[str] = set()
        self.terminate_reason: str | None = None
        self.timed_out_attempt = 0
        self.container_id: str | None = None
        self.runnable_epoch = 0

        props = copy.deepcopy(self.job_definition.container_properties or {})
        overrides = self.container_overrides or {}
        env = _env_list(props.get("environment"))
        env.update(_env_list(overrides.get("environment")))
        self.environment = env
        reqs = _requirements(props)
        reqs.update(_requirements(overrides))
        self.requirements = reqs
        self.vcpus = float(reqs.get("VCPU", "1"))
        self.memory_mib = int(float(reqs["MEMORY"])) if "MEMORY" in reqs else None
        command = overrides.get("command") or props.get("command") or []
        self.command = policy.substitute_parameters(command, self.parameters)
        self.image = str(props.get("image", ""))
        self.props = props
        timeout = self.timeout or self.job_definition.timeout or {}
        self.timeout_s = int(timeout["attemptDurationSeconds"]) if timeout.get("attemptDurationSeconds") else None

    # moto's Job derives its status from a state manager; this one only changes when the executor says so.
    @property
    def status(self) -> str | None:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value

    @property
    def is_parent(self) -> bool:
        return bool(self.children)

    @property
    def terminal(self) -> bool:
        return self._status in TERMINAL

    def describe_short(self) -> dict[str, Any]:
        with self._lock:
            result: dict[str, Any] = {
                "jobArn": self.arn,
                "jobId": self.job_id,
                "jobName": self.job_name,
                "createdAt": self.created_ms,
                "status": self._status,
                "jobDefinition": self.job_definition.arn,
            }
            if self.status_reason:
                result["statusReason"] = self.status_reason
            if self.started_ms is not None:
                result["startedAt"] = self.started_ms
            if self.stopped_ms is not None:
                result["stoppedAt"] = self.stopped_ms
            if self.exit_code is not None or self.container_reason:
                result["container"] = {
                    k: v for k, v in (("exitCode", self.exit_code), ("reason", self.container_reason)) if v is not None
                }
            if self.children:
                result["arrayProperties"] = {"size": len(self.children)}
            elif self.index is not None:
                result["arrayProperties"] = {"index": self.index}
            return result

    def describe(self) -> dict[str, Any]:
        with self._lock:
            result = self.describe_short()
            result.update(
                {
                    "jobQueue": self.job_queue.arn,
                    "dependsOn": copy.deepcopy(self.depends_on or []),
                    "parameters": dict(self.parameters),
                    "tags": self.backend.list_tags_for_resource(self.arn),
                    "platformCapabilities": list(self.job_definition.platform_capabilities or ["EC2"]),
                    "attempts": copy.deepcopy(self.attempts),
                }
            )
            if self.retry_strategy:
                result["retryStrategy"] = copy.deepcopy(self.retry_strategy)
            if self.timeout_s:
                result["timeout"] = {"attemptDurationSeconds": self.timeout_s}
            container: dict[str, Any] = {
                "image": self.image,
                "command": list(self.command),
                "environment": [{"name": k, "value": v} for k, v in self.environment.items()],
                "resourceRequirements": [{"type": k, "value": v} for k, v in self.requirements.items()],
                "vcpus": int(self.vcpus) if float(self.vcpus).is_integer() else self.vcpus,
            }
            if self.memory_mib is not None:
                container["memory"] = self.memory_mib
            for key in ("jobRoleArn", "executionRoleArn", "volumes", "mountPoints", "ulimits", "logConfiguration"):
                if key in self.props:
                    container[key] = copy.deepcopy(self.props[key])
            if self.log_stream:
                container["logStreamName"] = self.log_stream
            if self.exit_code is not None:
                container["exitCode"] = self.exit_code
            if self.container_reason:
                container["reason"] = self.container_reason
            result["container"] = container
            if self.children:
                summary = dict.fromkeys(STATUSES, 0)
                for child in self.children:
                    summary[str(child._status)] += 1
                result["arrayProperties"] = {"statusSummary": summary, "size": len(self.children)}
            return result
