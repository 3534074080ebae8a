"""The embedded AWS process: moto's server with one correction, so envs/local keeps every real setting.

moto enforces S3 bucket policies but cannot evaluate their conditions: a statement with a condition is applied
as if the condition always matched. The platform's TLS-only policy (Deny s3:* when aws:SecureTransport is
false) would then refuse every object request. Real AWS only applies a conditional statement when its
condition holds; since the emulator cannot tell, it leaves such statements out of its decision instead of
applying them unconditionally. Unconditional statements are enforced exactly as moto does.

It also keeps a job queue's ``jobStateTimeLimitActions`` (moto drops them), and, when ``RUNNER_LOCAL_BATCH``
is ``docker`` (set by `runner local up`, see ``runner.local.server.batch_mode``), hands Batch jobs to the local
executor (``runner.local.executor``) so they run as containers; otherwise moto's batch_simple marks them
SUCCEEDED at submission (mode ``instant``).

Run as ``python -m runner.local.emulator -H 127.0.0.1 -p PORT`` (what `runner local up` does).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _patch_bucket_policy_conditions() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        statements = document.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        document["Statement"] = [s for s in statements if "Condition" not in s]
        if not document["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _patch_queue_time_limit_actions() -> None:
    """Keep ``jobStateTimeLimitActions`` on the queue (create, update, describe), as Batch does."""
    from moto.batch.models import JobQueue
    from moto.batch.responses import BatchResponse

    def keeping(original: Any) -> Any:
        def handler(self: Any) -> str:
            body = original(self)
            actions = self._get_param("jobStateTimeLimitActions")
            name = self._get_param("jobQueueName") or self._get_param("jobQueue")
            queue = self.batch_backend.get_job_queue(name) if name else None
            if actions is not None and queue is not None:
                queue.job_state_time_limit_actions = actions
            return str(body)

        return handler

    describe = JobQueue.describe

    def describe_with_actions(self: Any) -> dict[str, Any]:
        result = dict(describe(self))
        actions = getattr(self, "job_state_time_limit_actions", None)
        if actions:
            result["jobStateTimeLimitActions"] = actions
        return result

    BatchResponse.createjobqueue = keeping(BatchResponse.createjobqueue)  # type: ignore[method-assign]
    BatchResponse.updatejobqueue = keeping(BatchResponse.updatejobqueue)  # type: ignore[method-assign]
    JobQueue.describe = describe_with_actions  # type: ignore[method-assign]


def _port(argv: list[str]) -> int:
    for flag in ("-p", "--port"):
        if flag in argv[:-1]:
            return int(argv[argv.index(flag) + 1])
    return 5000


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    _patch_bucket_policy_conditions()
    _patch_queue_time_limit_actions()
    running = None
    if os.environ.get("RUNNER_LOCAL_BATCH") == "docker":
        from runner.local import executor

        running = executor.install(_port(args))
    from moto.server import main as moto_main

    try:
        moto_main(args)  # returns (SystemExit) on SIGTERM or SIGINT: moto's own handlers
    finally:
        if running is not None:
            running.shutdown()  # remove this emulator's containers


if __name__ == "__main__":
    main()
