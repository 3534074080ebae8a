"""Run records: what was submitted for a run, kept in the env's work bucket at ``runs/<run>/run.json``.

A run is what an analyst submits in one go (one job, one array job per up to 10,000 sample rows, or a Nextflow
head job). The record makes submission idempotent (the same run is never submitted twice), lets `status`,
`logs`, `cancel` and `retry` find the jobs, and maps array indices back to sample-sheet rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner.core.errors import UsageError

RUNS_PREFIX = "runs/"
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_run_name(name: str, field_name: str = "--name") -> str:
    if not RUN_NAME.match(name):
        raise UsageError(
            f"{field_name}: '{name}' must be 1-100 letters, digits, '-' or '_' and start with a letter or digit"
        )
    return name


@dataclass
class JobRef:
    """One Batch job of a run: a single job or an array parent."""

    job_id: str
    job_name: str
    kind: str = "submit"  # submit | retry | head
    array_size: int | None = None  # None: not an array job
    rows: list[int] | None = None  # array child i runs sheet row rows[i]; None: a single job
    submitted_at: str = field(default_factory=now)
    retry_of: str | None = None  # job id this one retries

    def row_of(self, index: int | None) -> int | None:
        if self.rows is None or index is None:
            return None
        return self.rows[index]


@dataclass
class RunRecord:
    run: str
    env: str
    kind: str = "jobs"  # jobs | nextflow
    created_at: str = field(default_factory=now)
    queue: str = ""
    job_definition: str = ""
    image: str | None = None
    command: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)  # vcpus, memory_mib, gpus
    spec_hash: str = ""  # hash of everything that defines the run (idempotency)
    samples_key: str | None = None  # work-bucket key of the rows (JSON) when a sheet was given
    sample_count: int | None = None
    jobs: list[JobRef] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific (e.g. nextflow pipeline, work dir)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)
        jobs = [JobRef(**j) for j in data.pop("jobs", [])]
        return cls(**data, jobs=jobs)

    def job_ids(self) -> list[str]:
        return [j.job_id for j in self.jobs]


def record_key(run: str) -> str:
    return f"{RUNS_PREFIX}{run}/run.json"


class RunStore:
    """Run records in one bucket (the env's work bucket)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def load(self, run: str) -> RunRecord | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=record_key(run))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        except Exception as exc:  # a 404 without the modelled error (some emulators, HEAD-less paths)
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise
        return RunRecord.from_json(body.decode())

    def save(self, record: RunRecord) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=record_key(record.run),
            Body=record.to_json().encode(),
            ContentType="application/json",
        )

    def names(self) -> list[str]:
        names: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=RUNS_PREFIX, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                names.append(prefix["Prefix"][len(RUNS_PREFIX) :].rstrip("/"))
        return names

    def all(self) -> list[RunRecord]:
        records = [self.load(name) for name in self.names()]
        return sorted((r for r in records if r is not None), key=lambda r: r.created_at, reverse=True)

    def find_job(self, job_id: str) -> RunRecord | None:
        """The run that holds this job id, if any (used when a user names a job instead of a run)."""
        for record in self.all():
            if job_id in record.job_ids():
                return record
        return None
