"""What a run cost: every attempt of every job, priced on the instance it ran on (or the one it would have).

Per attempt: the compute environment, the instance type (container instance -> ECS -> EC2 when Batch reports
one), the runtime (``startedAt`` -> ``stoppedAt``), the attempt's share of the instance (the larger of its vCPU,
memory and GPU shares) and the hourly price (`runner.costs.pricing`: spot history, Price List, dated snapshot).
An attempt without a known instance (the local env, or instances AWS no longer describes, about an hour after
they end) is priced on the cheapest instance type of its compute environment that fits the request: the first
environment of the job's queue that fits it, as Batch would try it. Each row says which of the two it is.

Everything here works on plain data (DescribeJobs job dicts, the run record) plus injected clients, so the
report can be computed from any source of those.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner.aws.batch import RECLAIM_PREFIX, Batch
from runner.compute import resources
from runner.compute.resources import Capacity, InstanceSpec, Request
from runner.core.errors import UsageError
from runner.costs.pricing import Price, Pricer
from runner.session.runs import JobRef, RunRecord

CHILD_STATUSES = ("SUCCEEDED", "FAILED", "RUNNING", "STARTING")
ECS_BATCH = 100
EC2_BATCH = 1000


# ---------------------------------------------------------------------------------------------------------------
# Plain data: jobs, attempts, requests
# ---------------------------------------------------------------------------------------------------------------


def to_datetime(millis: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(millis / 1000, UTC) if millis else None


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def attempts_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's attempts; a job that ran but reports none gets one from its own start and stop times."""
    attempts = list(job.get("attempts") or [])
    if attempts:
        return attempts
    if job.get("startedAt"):
        return [
            {
                "startedAt": job["startedAt"],
                "stoppedAt": job.get("stoppedAt"),
                "statusReason": job.get("statusReason"),
                "container": dict(job.get("container") or {}),
            }
        ]
    return []


def array_index(job: dict[str, Any]) -> int | None:
    """An array child's index (``arrayProperties.index``, else the ``:N`` of its id); None for other jobs."""
    index = (job.get("arrayProperties") or {}).get("index")
    if index is None and ":" in str(job.get("jobId", "")):
        index = str(job["jobId"]).rsplit(":", 1)[1]
    return int(index) if index is not None else None


def job_request(job: dict[str, Any], default: Request) -> Request:
    """vCPUs, MiB and GPUs the job asked for (resourceRequirements, else the legacy fields, else `default`)."""
    container = job.get("container") or {}
    values = {r.get("type"): r.get("value") for r in container.get("resourceRequirements") or []}
    vcpus = float(values.get("VCPU") or container.get("vcpus") or default.vcpus)
    memory = int(float(values.get("MEMORY") or container.get("memory") or default.memory_mib))
    gpus = int(float(values.get("GPU") or default.gpus))
    return Request(vcpus=max(1, round(vcpus)), memory_mib=memory, gpus=gpus)


def outcome_of(job: dict[str, Any], attempt: dict[str, Any], last: bool) -> tuple[str, str | None]:
    """(succeeded | failed | reclaimed | running, reason) of one attempt."""
    reason = attempt.get("statusReason") or ((attempt.get("container") or {}).get("reason"))
    if last and not reason:
        reason = job.get("statusReason")
    if reason and str(reason).startswith(RECLAIM_PREFIX):
        return "reclaimed", str(reason)
    if not attempt.get("stoppedAt"):
        return "running", reason
    if last and job.get("status") == "SUCCEEDED":
        return "succeeded", reason
    return "failed", reason


def share_of(req: Request, spec: InstanceSpec) -> float:
    """The part of the instance the attempt held: the larger of its vCPU, memory and GPU shares (at most 1)."""
    shares = [req.vcpus / spec.vcpus, req.memory_mib / spec.memory_mib]
    if req.gpus and spec.gpus:
        shares.append(req.gpus / spec.gpus)
    return min(1.0, max(shares))


def cluster_of(container_instance_arn: str | None) -> str | None:
    """The cluster name in ``arn:aws:ecs:REGION:ACCOUNT:container-instance/CLUSTER/ID`` (None: not such an ARN)."""
    if not container_instance_arn or not container_instance_arn.startswith("arn:"):
        return None
    resource = container_instance_arn.split(":", 5)[-1]
    parts = resource.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "container-instance" else None


def cluster_name(cluster_arn: str | None) -> str | None:
    return cluster_arn.rsplit("/", 1)[-1] if cluster_arn else None


def fits(req: Request, spec: InstanceSpec) -> bool:
    return req.vcpus <= spec.vcpus and req.memory_mib <= spec.usable_memory_mib and req.gpus <= spec.gpus


def cheapest_fit(
    req: Request, instances: tuple[InstanceSpec, ...], on_demand: Callable[[str], Price | None]
) -> InstanceSpec | None:
    """The cheapest instance type (by on-demand price) that holds the request: within a family, the smallest
    fitting size is the cheapest, so only that one per family is priced."""
    smallest: dict[str, InstanceSpec] = {}
    for spec in instances:
        if not fits(req, spec):
            continue
        family = spec.name.split(".")[0]
        known = smallest.get(family)
        if known is None or (spec.vcpus, spec.memory_mib) < (known.vcpus, known.memory_mib):
            smallest[family] = spec
    priced = [(p.usd_per_hour, s.name, s) for s in smallest.values() if (p := on_demand(s.name)) is not None]
    return min(priced)[2] if priced else None


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class AttemptCost:
    job_id: str
    job_name: str
    index: int | None
    row: int | None
    sample: str
    attempt: int  # 1-based
    outcome: str  # succeeded | failed | reclaimed | running
    reason: str | None
    compute_environment: str | None
    instance_type: str | None
    instance_id: str | None
    instance_known: bool  # False: priced on the cheapest fitting type of the compute environment
    market: str  # spot | on-demand
    zone: str | None
    started_at: str | None
    stopped_at: str | None
    seconds: float
    vcpus: int
    memory_mib: int
    share: float | None
    usd_per_hour: float | None
    price_source: str | None
    cost: float | None

    @property
    def wasted(self) -> bool:
        return self.outcome in ("failed", "reclaimed")


@dataclass
class RunCost:
    run: str
    region: str
    attempts: list[AttemptCost] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(a.cost or 0.0 for a in self.attempts)

    @property
    def wasted(self) -> float:
        return sum(a.cost or 0.0 for a in self.attempts if a.wasted)

    @property
    def wasted_share(self) -> float:
        return self.wasted / self.total if self.total else 0.0

    @property
    def by_outcome(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for a in self.attempts:
            totals[a.outcome] += a.cost or 0.0
        return dict(totals)

    @property
    def per_sample(self) -> dict[str, dict[str, float | int]]:
        rows: dict[str, dict[str, float | int]] = {}
        for a in self.attempts:
            entry = rows.setdefault(a.sample, {"cost": 0.0, "attempts": 0, "wasted": 0.0, "seconds": 0.0})
            entry["cost"] += a.cost or 0.0
            entry["attempts"] += 1
            entry["seconds"] += a.seconds
            if a.wasted:
                entry["wasted"] += a.cost or 0.0
        return rows

    @property
    def sources(self) -> list[str]:
        return sorted({a.price_source for a in self.attempts if a.price_source})

    @property
    def assumed(self) -> int:
        return sum(1 for a in self.attempts if not a.instance_known and a.cost is not None)

    @property
    def unpriced(self) -> int:
        return sum(1 for a in self.attempts if a.cost is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "region": self.region,
            "currency": "USD",
            "total": round(self.total, 6),
            "wasted": round(self.wasted, 6),
            "wasted_share": round(self.wasted_share, 4),
            "by_outcome": {k: round(v, 6) for k, v in sorted(self.by_outcome.items())},
            "per_sample": {
                name: {k: round(float(v), 6) if k != "attempts" else v for k, v in entry.items()}
                for name, entry in sorted(self.per_sample.items())
            },
            "price_sources": self.sources,
            "attempts_priced_on_assumed_instance": self.assumed,
            "attempts_unpriced": self.unpriced,
            "attempts": [asdict(a) for a in self.attempts],
            "notes": self.notes,
        }

    def summary(self) -> str:
        """One line: total, attempts, the failed/reclaimed share and the price sources."""
        parts = [
            f"cost ${self.total:.4f}",
            f"{len(self.attempts)} attempt(s)",
            f"{self.wasted_share:.0%} on failed or reclaimed attempts",
        ]
        if self.assumed:
            parts.append(f"{self.assumed} priced on the cheapest fitting instance type")
        if self.unpriced:
            parts.append(f"{self.unpriced} unpriced")
        sources = "; ".join(self.sources) or "none"
        return ", ".join(parts) + f" (prices: {sources})"


# ---------------------------------------------------------------------------------------------------------------
# Collecting: jobs, instances, compute environments
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class InstanceFacts:
    instance_id: str
    instance_type: str
    zone: str | None
    spot: bool


@dataclass
class CostClients:
    batch: Batch
    ec2: Any
    ecs: Any | None = None


def array_children(batch: Batch, parent: dict[str, Any]) -> list[dict[str, Any]]:
    """Every child of an array job that started (terminal or running), in index order. Batch names the children
    ``<parent id>:<index>``, so they are described straight away: no ListJobs pages per status."""
    size = int((parent.get("arrayProperties") or {}).get("size") or 0)
    described = batch.describe_jobs([f"{parent['jobId']}:{i}" for i in range(size)])
    return [job for job in described.values() if job.get("status") in CHILD_STATUSES]


def instance_facts(ecs: Any, ec2: Any, container_instance_arns: list[str]) -> dict[str, InstanceFacts]:
    """Container instance ARN -> the EC2 instance behind it (empty when AWS no longer describes it)."""
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for arn in sorted(set(container_instance_arns)):
        cluster = cluster_of(arn)
        if cluster:
            by_cluster[cluster].append(arn)
    if ecs is None or not by_cluster:
        return {}
    instance_of: dict[str, str] = {}
    for cluster, arns in by_cluster.items():
        for start in range(0, len(arns), ECS_BATCH):
            try:
                answer = ecs.describe_container_instances(cluster=cluster, containerInstances=arns[start : start + 100])
            except Exception:  # deregistered cluster or no permission: those attempts are priced as assumed
                continue
            for item in answer.get("containerInstances", []):
                if item.get("ec2InstanceId"):
                    instance_of[item["containerInstanceArn"]] = item["ec2InstanceId"]
    facts: dict[str, InstanceFacts] = {}
    ids = sorted(set(instance_of.values()))
    described: dict[str, InstanceFacts] = {}
    for start in range(0, len(ids), EC2_BATCH):
        try:
            answer = ec2.describe_instances(InstanceIds=ids[start : start + EC2_BATCH])
        except Exception:
            continue
        for reservation in answer.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                described[inst["InstanceId"]] = InstanceFacts(
                    instance_id=inst["InstanceId"],
                    instance_type=inst["InstanceType"],
                    zone=(inst.get("Placement") or {}).get("AvailabilityZone"),
                    spot=inst.get("InstanceLifecycle") == "spot",
                )
    for arn, instance_id in instance_of.items():
        if instance_id in described:
            facts[arn] = described[instance_id]
    return facts


def _row_and_sample(ref: JobRef, index: int | None, samples: list[str] | None) -> tuple[int | None, str]:
    row = None
    if ref.rows is not None:
        if index is None and len(ref.rows) == 1:
            row = ref.rows[0]
        elif index is not None and 0 <= index < len(ref.rows):
            row = ref.rows[index]
    if row is not None and samples is not None and row < len(samples):
        return row, samples[row]
    if row is not None:
        return row, f"row {row}"
    return None, ref.job_name if index is None else f"{ref.job_name}:{index}"


class CostCalculator:
    """Prices a run's attempts with injected clients and a `Pricer`."""

    def __init__(self, clients: CostClients, pricer: Pricer, now: datetime | None = None) -> None:
        self.clients = clients
        self.pricer = pricer
        self.now = now or datetime.now(UTC)
        self._capacities: dict[str, list[Capacity]] = {}
        self._specs: dict[str, InstanceSpec | None] = {}

    def capacities(self, queue: str) -> list[Capacity]:
        if queue not in self._capacities:
            try:
                self._capacities[queue] = resources.queue_capacity(self.clients.batch, self.clients.ec2, queue)
            except UsageError:  # the queue is gone: no compute environment to name or price against
                self._capacities[queue] = []
        return self._capacities[queue]

    def spec(self, instance_type: str) -> InstanceSpec | None:
        if instance_type not in self._specs:
            spec = self.pricer.spec(instance_type)
            if spec is None:
                found = resources.resolve_instance_types(self.clients.ec2, [instance_type])
                spec = next((s for s in found if s.name == instance_type), None)
            self._specs[instance_type] = spec
        return self._specs[instance_type]

    def price(self, instance_type: str, spot: bool, zone: str | None, start: datetime, stop: datetime) -> Price | None:
        if spot:
            return self.pricer.spot(instance_type, zone, start, stop)
        return self.pricer.on_demand(instance_type)

    def jobs(self, record: RunRecord) -> list[tuple[JobRef, dict[str, Any]]]:
        """(the record's job, a described job) for every single job and every array child."""
        parents = self.clients.batch.describe_jobs(record.job_ids())
        found: list[tuple[JobRef, dict[str, Any]]] = []
        for ref in record.jobs:
            parent = parents.get(ref.job_id)
            if parent is None:
                continue
            if (parent.get("arrayProperties") or {}).get("size"):
                found.extend((ref, child) for child in array_children(self.clients.batch, parent))
            else:
                found.append((ref, parent))
        return found

    def run_cost(self, record: RunRecord, samples: list[str] | None = None) -> RunCost:
        jobs = self.jobs(record)
        arns = [(a.get("container") or {}).get("containerInstanceArn", "") for _, job in jobs for a in attempts_of(job)]
        facts = instance_facts(self.clients.ecs, self.clients.ec2, [a for a in arns if a])
        return self.report(record, jobs, facts, samples)

    def report(
        self,
        record: RunRecord,
        jobs: list[tuple[JobRef, dict[str, Any]]],
        facts: dict[str, InstanceFacts],
        samples: list[str] | None = None,
    ) -> RunCost:
        """The report for described jobs (plain data) and what is known of their instances."""
        report = RunCost(run=record.run, region=self.pricer.region)
        default = Request(
            vcpus=int(record.resources.get("vcpus") or resources.DEFAULT_VCPUS),
            memory_mib=int(record.resources.get("memory_mib") or resources.DEFAULT_MEMORY_MIB),
            gpus=int(record.resources.get("gpus") or 0),
        )
        for ref, job in jobs:
            index = array_index(job)
            row, sample = _row_and_sample(ref, index, samples)
            req = job_request(job, default)
            attempts = attempts_of(job)
            for n, attempt in enumerate(attempts):
                report.attempts.append(
                    self.attempt_cost(ref, job, attempt, n, n == len(attempts) - 1, req, facts, index, row, sample)
                )
        if not jobs:
            report.notes.append("no job of this run has been described by Batch (none ran yet, or they expired)")
        if self.pricer.offline_reason:
            report.notes.append(self.pricer.offline_reason)
        if report.assumed:
            report.notes.append(
                f"{report.assumed} attempt(s) ran on an instance Batch does not report (or AWS no longer "
                "describes): priced on the cheapest instance type of their compute environment that fits the request"
            )
        if any(a.outcome == "running" for a in report.attempts):
            report.notes.append("the run is not finished: running attempts are counted up to now")
        return report

    def attempt_cost(
        self,
        ref: JobRef,
        job: dict[str, Any],
        attempt: dict[str, Any],
        number: int,
        last: bool,
        req: Request,
        facts: dict[str, InstanceFacts],
        index: int | None,
        row: int | None,
        sample: str,
    ) -> AttemptCost:
        container = attempt.get("container") or {}
        start = to_datetime(attempt.get("startedAt"))
        stop = to_datetime(attempt.get("stoppedAt"))
        outcome, reason = outcome_of(job, attempt, last)
        end = stop or (self.now if outcome == "running" else start)
        seconds = max(0.0, (end - start).total_seconds()) if start and end else 0.0
        arn = container.get("containerInstanceArn")
        known = facts.get(arn or "")
        ce, spec, spot, zone = self.placement(str(job.get("jobQueue", "")), req, known, arn)
        price = self.price(spec.name, spot, zone, start, end) if spec and start and end else None
        share = share_of(req, spec) if spec else None
        cost = price.usd_per_hour * seconds / 3600 * share if price and share is not None else None
        return AttemptCost(
            job_id=str(job.get("jobId", ref.job_id)),
            job_name=str(job.get("jobName", ref.job_name)),
            index=index,
            row=row,
            sample=sample,
            attempt=number + 1,
            outcome=outcome,
            reason=reason,
            compute_environment=ce.name if ce else None,
            instance_type=spec.name if spec else (known.instance_type if known else None),
            instance_id=known.instance_id if known else None,
            instance_known=known is not None,
            market="spot" if spot else "on-demand",
            zone=zone,
            started_at=iso(start),
            stopped_at=iso(stop),
            seconds=round(seconds, 3),
            vcpus=req.vcpus,
            memory_mib=req.memory_mib,
            share=round(share, 6) if share is not None else None,
            usd_per_hour=price.usd_per_hour if price else None,
            price_source=price.source if price else None,
            cost=cost,
        )

    def placement(
        self, queue: str, req: Request, known: InstanceFacts | None, instance_arn: str | None
    ) -> tuple[Capacity | None, InstanceSpec | None, bool, str | None]:
        """Where an attempt ran: (compute environment, instance type, on spot, zone); the instance ECS and EC2
        report when known, else the cheapest type of the first environment of the queue that fits the request."""
        capacities = self.capacities(queue)
        if known is not None:
            cluster = cluster_of(instance_arn)
            ce = next((c for c in capacities if cluster_name(c.cluster_arn) == cluster), None)
            return ce, self.spec(known.instance_type), known.spot, known.zone
        ce = next((c for c in capacities if c.checkable and c.fits(req)), None)
        if ce is None:
            return None, None, False, None
        return ce, cheapest_fit(req, ce.instances, self.pricer.on_demand), ce.spot, None
