"""Resource requests: parsing (memory, durations, vCPUs) and the pre-submit fit check.

A job whose request no compute environment behind its queue can ever satisfy sits in RUNNABLE forever without
an error (the most common complaint about AWS Batch). Before anything is submitted the runner resolves the
queue's compute environments, their instance types (exact types, families such as ``c6i``, or ``optimal``)
and refuses a request no single instance type can hold, naming the field and the largest value that fits.

Memory margin: an instance never offers its nominal memory to containers. The kernel and the OS take a few
percent and the ECS agent registers less than the total (plus ``ECS_RESERVED_MEMORY``). A request close to
the nominal size stays RUNNABLE forever, so the usable memory of a type is taken as
``nominal - max(MIN_RESERVE_MIB, RESERVE_FRACTION * nominal)`` (6 %, at least 512 MiB): an m5.large
(8 GiB) offers 7,680 MiB, an r5.24xlarge (768 GiB) about 722 GiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.core.errors import UsageError

if TYPE_CHECKING:  # requests are parsed and checked without the AWS SDK; the gateway comes with a session
    from runner.aws.batch import Batch

MIN_RESERVE_MIB = 512
RESERVE_FRACTION = 0.06
DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MIB = 2048

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
MiB = 1024 * 1024
# Bytes per unit. Binary units (KiB, MiB, GiB, TiB and Docker's K, M, G, T) are powers of 1024; decimal units
# (KB, MB, GB, TB) mean what they say: 4GB is 4 x 10^9 bytes (3,815 MiB once rounded up), never 4 GiB.
_MEMORY_UNITS = {
    "": MiB,  # plain numbers are MiB, as Batch takes them
    "k": 1024,
    "ki": 1024,
    "kib": 1024,
    "kb": 10**3,
    "m": MiB,
    "mi": MiB,
    "mib": MiB,
    "mb": 10**6,
    "g": 1024 * MiB,
    "gi": 1024 * MiB,
    "gib": 1024 * MiB,
    "gb": 10**9,
    "t": 1024 * 1024 * MiB,
    "ti": 1024 * 1024 * MiB,
    "tib": 1024 * 1024 * MiB,
    "tb": 10**12,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_memory(text: str | int, field: str = "--memory") -> int:
    """'4GiB', '16G' (GiB), '4GB' (4 x 10^9 bytes), '512' (MiB), '1.5g' -> MiB, rounded up."""
    raw = str(text)
    match = _MEMORY.match(raw)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _MEMORY_UNITS:
        raise UsageError(f"{field}: '{raw}' is not a memory size (examples: 512, 512MiB, 4GiB, 16G, 4GB = 4e9 bytes)")
    mib = math.ceil(float(match.group(1)) * _MEMORY_UNITS[unit] / MiB)
    if mib < 4:
        raise UsageError(f"{field}: '{raw}' is below the 4 MiB minimum")
    return mib


def parse_duration(text: str, field: str = "--timeout") -> int:
    """'2h', '90m', '1h30m', '3600' (seconds) -> seconds; Batch needs at least 60."""
    raw = text.strip().lower()
    if raw.isdigit():
        seconds = int(raw)
    else:
        parts = _DURATION_PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise UsageError(f"{field}: '{text}' is not a duration (examples: 45m, 2h, 1h30m, 1d, 3600)")
        seconds = math.ceil(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))
    if seconds < 60:
        raise UsageError(f"{field}: '{text}' is below the 60 s minimum AWS Batch accepts")
    return seconds


def parse_count(value: int | None, field: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if value < minimum:
        raise UsageError(f"{field}: {value} must be at least {minimum}")
    return value


def format_mib(mib: int) -> str:
    if mib >= 1024 and mib % 1024 == 0:
        return f"{mib // 1024} GiB"
    if mib >= 1024:
        return f"{mib / 1024:.1f} GiB"
    return f"{mib} MiB"


def usable_memory_mib(nominal_mib: int) -> int:
    """What containers can ask for on an instance with this much memory (see the module doc)."""
    return nominal_mib - max(MIN_RESERVE_MIB, math.ceil(nominal_mib * RESERVE_FRACTION))


@dataclass(frozen=True)
class Request:
    vcpus: int
    memory_mib: int
    gpus: int = 0


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    vcpus: int
    memory_mib: int
    gpus: int = 0

    @property
    def usable_memory_mib(self) -> int:
        return usable_memory_mib(self.memory_mib)


@dataclass(frozen=True)
class Capacity:
    """What one compute environment can ever place: its instance types, capped by its maxvCpus."""

    name: str
    instances: tuple[InstanceSpec, ...]
    max_vcpus: int | None = None
    checkable: bool = True  # False: unmanaged environment, nothing to check against
    spot: bool = False  # SPOT or FARGATE_SPOT capacity
    cluster_arn: str | None = None  # the environment's ECS cluster (what its container instances belong to)

    def fits(self, req: Request) -> bool:
        if not self.checkable:
            return True
        if self.max_vcpus is not None and req.vcpus > self.max_vcpus:
            return False
        return any(
            req.vcpus <= i.vcpus and req.memory_mib <= i.usable_memory_mib and req.gpus <= i.gpus
            for i in self.instances
        )


# ---------------------------------------------------------------------------------------------------------------
# Built-in fallback for `optimal` (and for when ec2:DescribeInstanceTypes is unavailable): Batch's `optimal`
# picks from the C, M and R families; memory per vCPU is 2, 4 and 8 GiB.
# ---------------------------------------------------------------------------------------------------------------

_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64}
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8}
OPTIMAL_FAMILIES = ("c5", "m5", "r5")


def _builtin_family(family: str) -> list[InstanceSpec]:
    per_vcpu = _GIB_PER_VCPU.get(family[:1])
    if per_vcpu is None:
        return []
    sizes = {**_SIZES, "24xlarge": 96}
    return [InstanceSpec(f"{family}.{size}", v, v * per_vcpu * 1024) for size, v in sizes.items()]


def builtin_optimal() -> list[InstanceSpec]:
    return [spec for fam in OPTIMAL_FAMILIES for spec in _builtin_family(fam)]


def _spec_from_ec2(item: dict[str, Any]) -> InstanceSpec:
    gpus = sum(int(g.get("Count", 0)) for g in item.get("GpuInfo", {}).get("Gpus", []))
    return InstanceSpec(
        name=item["InstanceType"],
        vcpus=int(item["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(item["MemoryInfo"]["SizeInMiB"]),
        gpus=gpus,
    )


def resolve_instance_types(ec2: Any, names: Iterable[str]) -> list[InstanceSpec]:
    """Exact types and families (``c6i``) through ec2:DescribeInstanceTypes; ``optimal`` from the table."""
    specs: list[InstanceSpec] = []
    patterns: list[str] = []
    for name in names:
        if name == "optimal":
            specs.extend(builtin_optimal())
        elif "." in name:
            patterns.append(name)
        else:
            patterns.append(f"{name}.*")
    if patterns:
        try:
            paginator = ec2.get_paginator("describe_instance_types")
            for page in paginator.paginate(Filters=[{"Name": "instance-type", "Values": patterns}]):
                specs.extend(_spec_from_ec2(item) for item in page.get("InstanceTypes", []))
        except Exception:  # no ec2:DescribeInstanceTypes permission: fall back to the built-in table
            for pattern in patterns:
                family = pattern.split(".")[0]
                specs.extend(s for s in _builtin_family(family) if pattern.endswith("*") or s.name == pattern)
    return specs


FARGATE = InstanceSpec("fargate", 16, 128 * 1024)  # 16 vCPU; usable about 120 GiB (its real limit); no GPUs


def queue_capacity(batch: Batch, ec2: Any, queue: str) -> list[Capacity]:
    """The compute environments behind a queue and what each can place."""
    queues = batch.queues([queue])
    if not queues:
        raise UsageError(f"--queue: job queue '{queue}' does not exist in this env")
    order = sorted(queues[0].get("computeEnvironmentOrder", []), key=lambda o: o.get("order", 0))
    arns = [o["computeEnvironment"] for o in order]
    if not arns:
        return []
    described = batch.compute_environments(arns)
    rank = {arn: n for n, arn in enumerate(arns)}  # the queue's order: the environment Batch tries first comes first
    described.sort(key=lambda ce: rank.get(ce.get("computeEnvironmentArn", ""), len(rank)))
    capacities: list[Capacity] = []
    for ce in described:
        name = ce.get("computeEnvironmentName", ce.get("computeEnvironmentArn", "?"))
        resources = ce.get("computeResources")
        cluster = ce.get("ecsClusterArn")
        if ce.get("type") == "UNMANAGED" or not resources:
            capacities.append(Capacity(name, (), None, checkable=False, cluster_arn=cluster))
            continue
        max_vcpus = resources.get("maxvCpus")
        if str(resources.get("type", "")).startswith("FARGATE"):
            instances: tuple[InstanceSpec, ...] = (FARGATE,)
        else:
            instances = tuple(resolve_instance_types(ec2, resources.get("instanceTypes") or ["optimal"]))
        spot = str(resources.get("type", "")).endswith("SPOT")
        capacities.append(Capacity(name, instances, max_vcpus, spot=spot, cluster_arn=cluster))
    return capacities


def check_fits(req: Request, capacities: list[Capacity], queue: str) -> None:
    """Refuse (UsageError naming the field) a request that no compute environment can ever run."""
    if not capacities:
        raise UsageError(f"--queue: job queue '{queue}' has no compute environment; jobs would never start")
    if any(c.fits(req) for c in capacities):
        return
    checkable = [c for c in capacities if c.checkable]
    instances = [i for c in checkable for i in c.instances]

    def cap(c: Capacity, value: int) -> int:
        return min(value, c.max_vcpus) if c.max_vcpus is not None else value

    pairs = [(cap(c, i.vcpus), c, i) for c in checkable for i in c.instances]
    if pairs:
        max_vcpus, ce, inst = max(pairs, key=lambda p: (p[0], p[2].vcpus))
    else:
        max_vcpus, ce, inst = 0, None, None
    if req.vcpus > max_vcpus:
        if ce is not None and inst is not None and ce.max_vcpus is not None and ce.max_vcpus < inst.vcpus:
            where = f" (maxvCpus of compute environment {ce.name})"
        else:
            where = f" ({inst.name})" if inst else ""
        raise UsageError(
            f"--vcpus: {req.vcpus} vCPUs fit no compute environment behind queue '{queue}'; "
            f"the largest that fits is {max_vcpus}{where}"
        )
    if req.gpus:
        gpu_types = [i for i in instances if i.gpus > 0]
        if not gpu_types:
            raise UsageError(f"--gpus: queue '{queue}' has no GPU instance types; the largest that fits is 0")
        most = max(gpu_types, key=lambda i: i.gpus)
        if req.gpus > most.gpus:
            raise UsageError(
                f"--gpus: {req.gpus} GPUs fit no instance type behind queue '{queue}'; "
                f"the largest that fits is {most.gpus} ({most.name})"
            )
    candidates = [i for i in instances if i.vcpus >= req.vcpus and i.gpus >= req.gpus]
    biggest = max(candidates or instances, key=lambda i: i.usable_memory_mib)
    raise UsageError(
        f"--memory: {format_mib(req.memory_mib)} fits no instance type behind queue '{queue}' "
        f"with {req.vcpus} vCPUs; the largest that fits is {format_mib(biggest.usable_memory_mib)} "
        f"(--memory {biggest.usable_memory_mib}) "
        f"on {biggest.name}: {format_mib(biggest.memory_mib)} minus the ECS/OS reserve"
    )
