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

Every request passes the front door (``runner.local.frontdoor``: same host only, SigV4 with the env's credentials,
moto's own routes for the user only, no CORS) before moto's application, which the emulator serves itself on
127.0.0.1 and, in docker mode, on the jobs' network gateway. Job definitions are confined
(``runner.local.confine``) in both modes.

Run as ``python -m runner.local.emulator -H 127.0.0.1 -p PORT`` (what `runner local up` does, with the
credentials file and the checked settings in its environment).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from runner.local import moto_contract

HOST = "127.0.0.1"


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


def _patch_job_definition_checks(rules: Any) -> None:
    """RegisterJobDefinition and SubmitJob refuse what the local Batch never gives a job of the host (host
    folders the user did not allow, privileged without the user's opt-in, a malformed ``user``): Batch's
    ClientException naming the field (``runner.local.confine``). Both Batch modes, so a job definition valid in
    one is valid in the other."""
    from runner.local import confine

    moto = moto_contract.current()
    ClientException = moto.ClientException

    def checked(container: Any, nodes: Any) -> None:
        try:
            confine.check_definition(container, rules, nodes)
        except confine.Refused as exc:
            raise ClientException(f"containerProperties.{exc}") from None

    register, submit = moto.handler("RegisterJobDefinition"), moto.handler("SubmitJob")

    def register_job_definition(self: Any) -> str:
        checked(self._get_param("containerProperties"), self._get_param("nodeProperties"))
        return str(register(self))

    def submit_job(self: Any) -> str:
        definition = self.batch_backend.get_job_definition(self._get_param("jobDefinition"))
        if definition is not None:
            checked(definition.container_properties, getattr(definition, "node_properties", None))
        return str(submit(self))

    moto.replace_handler("RegisterJobDefinition", register_job_definition)
    moto.replace_handler("SubmitJob", submit_job)


def _arguments(argv: list[str]) -> tuple[str, int]:
    parser = argparse.ArgumentParser(prog="python -m runner.local.emulator")
    parser.add_argument("-H", "--host", default=HOST)
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    return str(args.host), int(args.port)


def _stop(signum: int, frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    host, port = _arguments(argv if argv is not None else sys.argv[1:])
    # moto's settings are read when moto is first imported: no CORS for any origin (the front door strips it too).
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
    os.environ.setdefault("MOTO_PORT", str(port))
    try:
        moto_contract.current()
    except moto_contract.MotoUnsupported as exc:  # one line for `runner local up` to show (see server.up)
        print(f"{moto_contract.UNSUPPORTED_MARK}{exc}", file=sys.stderr, flush=True)
        sys.exit(moto_contract.UNSUPPORTED_EXIT)
    from werkzeug.serving import make_server

    from runner.local import confine, credentials, frontdoor
    from runner.local.containers import HOME_ID_VAR
    from runner.local.server import BATCH_VAR, CREDENTIALS_VAR  # what `runner local up` resolved and handed down

    env_credentials = credentials.load(Path(os.environ[CREDENTIALS_VAR]))
    rules = confine.rules_from_environment()
    _patch_bucket_policy_conditions()
    _patch_batch_infrastructure_updates()
    _patch_queue_time_limit_actions()
    running = None
    addresses = [host]
    if os.environ.get(BATCH_VAR) == "docker":
        from runner.local import batch_api

        running = batch_api.install(port, env_credentials.job, rules, os.environ.get(HOME_ID_VAR, ""))
        addresses.append(running.gateway)  # the jobs' way in: their network's gateway
    _patch_job_definition_checks(rules)
    moto = moto_contract.current()
    app = frontdoor.FrontDoor(
        moto.DomainDispatcherApplication(moto.create_backend_app),
        env_credentials,
        addresses,
        preserved_key=moto.PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        health={"job_endpoint": running.endpoint} if running is not None else None,
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    servers: list[Any] = []
    try:
        for address in addresses:
            servers.append(make_server(address, port, app, threaded=True, request_handler=moto.MotoRequestHandler))
        for server in servers[1:]:
            threading.Thread(target=server.serve_forever, name=f"listen-{server.host}", daemon=True).start()
        servers[0].serve_forever()  # until SIGTERM or SIGINT (SystemExit)
    finally:
        for server in servers[1:]:
            server.shutdown()
        if running is not None:
            running.shutdown()  # remove this emulator's containers


if __name__ == "__main__":
    main()
