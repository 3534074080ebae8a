"""Job definitions: an existing one by name, or ``runner-<hash>`` registered for an image and its settings.

The hash covers everything the definition holds (image, vCPUs, memory, GPUs, retry strategy, timeout, job
role, log group), so the same request reuses the same ACTIVE definition and a changed one registers a new
name instead of piling revisions onto one. Submissions still pass vCPUs, memory, retry strategy and timeout
as overrides, so a shared definition (``--job-definition``) can be used with other resources.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from runner.aws.batch import RECLAIM_PREFIX, Batch
from runner.compute.resources import Request
from runner.core.errors import UsageError

PREFIX = "runner-"
SPOT_RECLAIM_PATTERN = f"{RECLAIM_PREFIX}*"


def retry_strategy(retries: int | None) -> dict[str, Any] | None:
    """``retries`` extra attempts on spot reclamation / host loss; application errors exit at once."""
    if not retries:
        return None
    return {
        "attempts": retries + 1,
        "evaluateOnExit": [
            {"onStatusReason": SPOT_RECLAIM_PATTERN, "action": "RETRY"},
            {"onReason": "CannotPullContainerError*", "action": "EXIT"},
            {"onExitCode": "*", "action": "EXIT"},
        ],
    }


def resource_requirements(vcpus: int | None, memory_mib: int | None, gpus: int | None = 0) -> list[dict[str, str]]:
    """Batch's resourceRequirements; a value that is None (or no GPUs) is left out."""
    wanted = (("VCPU", vcpus), ("MEMORY", memory_mib), ("GPU", gpus or None))
    return [{"type": kind, "value": str(value)} for kind, value in wanted if value is not None]


@dataclass(frozen=True)
class JobDefSpec:
    image: str
    resources: Request
    retries: int | None = None
    timeout_s: int | None = None
    job_role_arn: str | None = None
    log_group: str | None = None
    region: str | None = None

    def container_properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "image": self.image,
            "command": ["/bin/sh", "-c", "echo 'runner: no command given'; exit 2"],
            "resourceRequirements": resource_requirements(
                self.resources.vcpus, self.resources.memory_mib, self.resources.gpus
            ),
        }
        if self.job_role_arn:
            props["jobRoleArn"] = self.job_role_arn
        if self.log_group:
            options = {"awslogs-group": self.log_group, "awslogs-stream-prefix": "runner"}
            if self.region:
                options["awslogs-region"] = self.region
            props["logConfiguration"] = {"logDriver": "awslogs", "options": options}
        return props

    def register_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "type": "container",
            "containerProperties": self.container_properties(),
            "platformCapabilities": ["EC2"],
            "propagateTags": True,
            "tags": {"ManagedBy": "runner"},
        }
        strategy = retry_strategy(self.retries)
        if strategy:
            args["retryStrategy"] = strategy
        if self.timeout_s:
            args["timeout"] = {"attemptDurationSeconds": self.timeout_s}
        return args

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.register_args(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.content_hash}"


def find_existing(batch: Batch, ref: str, known: dict[str, str] | None = None) -> dict[str, Any]:
    """``--job-definition``: a key of the env's ``job_definition_arns``, a name, ``name:rev`` or an ARN."""
    target = (known or {}).get(ref, ref)
    if target.startswith("arn:") or ":" in target:
        active = [d for d in batch.job_definitions([target]) if d.get("status", "ACTIVE") == "ACTIVE"]
        if active:
            return active[0]
    else:
        latest = batch.latest_definition(target)
        if latest:
            return latest
    keys = f" (env keys: {', '.join(sorted(known))})" if known else ""
    raise UsageError(f"--job-definition: no ACTIVE job definition '{ref}'{keys}")


def definition_resources(jobdef: dict[str, Any]) -> tuple[int, int, int]:
    """(vCPUs, MiB, GPUs) a definition asks for, from resourceRequirements or the legacy fields."""
    props = jobdef.get("containerProperties", {})
    values = {r["type"]: r["value"] for r in props.get("resourceRequirements", [])}
    vcpus = int(float(values.get("VCPU", props.get("vcpus", 1))))
    memory = int(values.get("MEMORY", props.get("memory", 2048)))
    gpus = int(values.get("GPU", 0))
    return vcpus, memory, gpus


def ensure(batch: Batch, spec: JobDefSpec) -> tuple[str, bool]:
    """ARN of the ACTIVE ``runner-<hash>`` definition for the spec, registering it if needed; (arn, created)."""
    existing = batch.latest_definition(spec.name)
    if existing:
        return str(existing["jobDefinitionArn"]), False
    return batch.register_job_definition(jobDefinitionName=spec.name, **spec.register_args()), True
