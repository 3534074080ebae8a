"""Job output into the emulator's CloudWatch Logs, in-process, line by line while the container runs."""

from __future__ import annotations

import threading
import time
from typing import Any

DEFAULT_GROUP = "/aws/batch/job"


def stream_target(job_definition_name: str, container_properties: dict[str, Any], task_id: str) -> tuple[str, str]:
    """(log group, stream) as Batch names them: ``awslogs-group`` or /aws/batch/job; ``<prefix>/default/<task>``.

    The prefix is the job definition's name unless its logConfiguration sets ``awslogs-stream-prefix``.
    """
    config = container_properties.get("logConfiguration") or {}
    options = config.get("options") or {}
    group = options.get("awslogs-group") or DEFAULT_GROUP
    prefix = options.get("awslogs-stream-prefix") or job_definition_name
    return group, f"{prefix}/default/{task_id}"


class LogSink:
    """Writes into moto's logs backend of one account and region (created on demand, like the awslogs driver)."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()  # moto's log streams are not thread-safe

    def _backend(self) -> Any:
        from runner.local import moto_contract

        return moto_contract.current().logs_backends[self.account_id][self.region]

    def open(self, group: str, stream: str) -> None:
        with self._lock:
            backend = self._backend()
            if group not in backend.groups:
                backend.create_log_group(group, {})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)

    def write(self, group: str, stream: str, lines: list[str]) -> None:
        if not lines:
            return
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in lines]
        with self._lock:
            backend = self._backend()
            if group not in backend.groups or stream not in backend.groups[group].streams:
                return  # deleted meanwhile (terraform destroy): the output has nowhere to go, as on AWS
            backend.put_log_events(group, stream, events)
