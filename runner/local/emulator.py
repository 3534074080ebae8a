"""The embedded AWS process: moto's server with corrections, so envs/local keeps every real setting.

moto enforces S3 bucket policies but cannot evaluate their conditions: a statement with a condition is applied
as if the condition always matched. The platform's TLS-only policy (Deny s3:* when aws:SecureTransport is
false) would then refuse every object request. Real AWS only applies a conditional statement when its
condition holds; since the emulator cannot tell, it leaves such statements out of its decision instead of
applying them unconditionally. Unconditional statements are enforced exactly as moto does.

Batch compute environments get what infrastructure updates need (see modules/batch): as in AWS, a compute
environment created without a service role uses Batch's service-linked role (created on first use), and
UpdateComputeEnvironment keeps its compute resource changes (a new launch template version, instance types...)
and its update policy, and DescribeComputeEnvironments returns them. moto ignores both, so every plan would show
the update again.

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

from runner.local import moto_contract


def _patch_bucket_policy_conditions() -> None:
    moto = moto_contract.current()
    IAMPolicy, PermissionResult, FakeBucket = moto.IAMPolicy, moto.PermissionResult, moto.FakeBucket

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

    FakeBucket.get_permission = get_permission


BATCH_SERVICE = "batch.amazonaws.com"
BATCH_SERVICE_LINKED_ROLE = "AWSServiceRoleForBatch"


def _patch_batch_infrastructure_updates() -> None:
    moto = moto_contract.current()
    BatchBackend, IAMNotFoundException = moto.BatchBackend, moto.IAMNotFoundException

    create, describe, update = (
        BatchBackend.create_compute_environment,
        BatchBackend.describe_compute_environments,
        BatchBackend.update_compute_environment,
    )

    def service_linked_role(backend: Any) -> str:
        iam = backend.iam_backend
        try:
            return str(iam.get_role(BATCH_SERVICE_LINKED_ROLE).arn)
        except IAMNotFoundException:
            trust = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": BATCH_SERVICE}, "Action": "sts:AssumeRole"}],
            }
            role = iam.create_role(
                BATCH_SERVICE_LINKED_ROLE,
                json.dumps(trust),
                f"/aws-service-role/{BATCH_SERVICE}/",
                permissions_boundary=None,
                description="Service-linked role of AWS Batch",
                tags=[],
                max_session_duration="3600",
                linked_service=BATCH_SERVICE,
            )
            return str(role.arn)

    def create_compute_environment(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("service_role"):
            kwargs["service_role"] = service_linked_role(self)
        return create(self, *args, **kwargs)

    def describe_compute_environments(self: Any, environments: Any = None) -> Any:
        found = describe(self, environments)
        for item in found:
            env = self._compute_environments.get(item["computeEnvironmentArn"])
            policy = getattr(env, "runner_update_policy", None)
            if policy is not None:
                item["updatePolicy"] = policy
        return found

    def update_compute_environment(self: Any, compute_environment_name: str, *args: Any, **kwargs: Any) -> Any:
        result = update(self, compute_environment_name, *args, **kwargs)
        env = self.get_compute_environment(compute_environment_name)
        changes = kwargs.get("compute_resources")
        if env is not None and changes and env.compute_resources is not None:
            env.compute_resources.update({k: v for k, v in changes.items() if v is not None})
        return result

    def update_compute_environment_response(self: Any) -> str:
        out = original_response(self)
        policy = self._get_param("updatePolicy")
        if policy is not None:
            env = self.batch_backend.get_compute_environment(self._get_param("computeEnvironment"))
            if env is not None:
                current = getattr(env, "runner_update_policy", None) or {
                    "terminateJobsOnUpdate": False,
                    "jobExecutionTimeoutMinutes": 30,
                }
                env.runner_update_policy = {**current, **policy}
        return out

    original_response = moto.handler("UpdateComputeEnvironment")
    BatchBackend.create_compute_environment = create_compute_environment
    BatchBackend.describe_compute_environments = describe_compute_environments
    BatchBackend.update_compute_environment = update_compute_environment
    moto.replace_handler("UpdateComputeEnvironment", update_compute_environment_response)


def _patch_queue_time_limit_actions() -> None:
    """Keep ``jobStateTimeLimitActions`` on the queue (create, update, describe), as Batch does."""
    moto = moto_contract.current()
    JobQueue = moto.JobQueue

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

    for operation in ("CreateJobQueue", "UpdateJobQueue"):
        moto.replace_handler(operation, keeping(moto.handler(operation)))
    JobQueue.describe = describe_with_actions


def _port(argv: list[str]) -> int:
    for flag in ("-p", "--port"):
        if flag in argv[:-1]:
            return int(argv[argv.index(flag) + 1])
    return 5000


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    try:
        moto_contract.current()
    except moto_contract.MotoUnsupported as exc:  # one line for `runner local up` to show (see server.up)
        print(f"{moto_contract.UNSUPPORTED_MARK}{exc}", file=sys.stderr, flush=True)
        sys.exit(moto_contract.UNSUPPORTED_EXIT)
    _patch_bucket_policy_conditions()
    _patch_batch_infrastructure_updates()
    _patch_queue_time_limit_actions()
    running = None
    from runner.local.server import BATCH_VAR  # the mode `runner local up` resolved and handed down

    if os.environ.get(BATCH_VAR) == "docker":
        from runner.local import executor

        running = executor.install(_port(args))
    try:
        moto_contract.current().server_main(args)  # returns (SystemExit) on SIGTERM or SIGINT: moto's own handlers
    finally:
        if running is not None:
            running.shutdown()  # remove this emulator's containers


if __name__ == "__main__":
    main()
