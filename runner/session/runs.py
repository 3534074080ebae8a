"""The model of a run: its record and everything under ``runs/<run>/`` in the env's work bucket.

A run is what an analyst submits in one go (one job, one array job per up to 10,000 sample rows, or a Nextflow
head job). The record makes submission idempotent (the same run is never submitted twice), lets `status`,
`logs`, `cancel` and `retry` find the jobs, and maps array indices back to sample-sheet rows. `RunLayout` is the
one place that names the keys of a run::

    runs/<run>/run.json            the record (`RunRecord`)
    runs/<run>/samples.json        the sample sheet as submitted (columns, id column, rows)
    runs/<run>/rows/<job>-<token>.sh  a job's rows manifest, when they do not fit inline (``rows_token``: random,
                                   kept in the record, so a manifest's key cannot be guessed from the run name)
    runs/<run>/lock                who is submitting the run now (`runner.session.lock`: an S3 conditional write)
    runs/<run>/nextflow.config     a Nextflow run: generated config, params, launch history, task cache, logs
    runs/<run>/input/<sheet>       a Nextflow run's local ``input:`` sheet, staged

The record does not grow with the sheet: a job's rows (array index -> sheet row) are stored as ranges
(``{"ranges": [[start, end], ...]}``; a 10,000-row part is one range), and the sheet itself is a separate object,
read only when a sample name is shown and then cached on this machine by its ETag
(``RUNNER_HOME/cache/samples/<bucket>/<etag>.json``): it is fetched at most once per machine.

`is_job_id` is the one rule that tells a job id (``<uuid>`` or ``<uuid>:<index>``) from a run name, and
`lookup` the one place a ``RUN_OR_JOB`` argument is resolved (`resolve_target`: to its run; `job_of`: a log's
job). The tags a run's jobs carry are named here (`job_tags`): its run, env and pipeline, ``Platform`` (the env's
name prefix: the head and analyst roles cancel only jobs of their platform), a head job's kind and a one-row job's
sample; and the labels a Nextflow run's task jobs carry (``TASK_*_LABEL``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.aws.retry import error_code
from runner.core.errors import UsageError
from runner.session.lock import LOCK_SECONDS, RunLock, acquire

if TYPE_CHECKING:  # the gateway loads with a session
    from runner.aws.batch import Batch

RUNS_PREFIX = "runs/"
ROWS_TOKEN_BYTES = 16  # the unguessable part of a rows manifest's key (32 hex characters)
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:\d+)?$")

RUN_TAG = "runner:run"  # every job the runner submits: how a job id finds its run (one record read)
ENV_TAG = "runner:env"
PIPELINE_TAG = "runner:pipeline"  # a plain job: its image's repository name; a head job: the pipeline
KIND_TAG = "runner:kind"  # a Nextflow head job: nextflow-head
SAMPLE_TAG = "runner:sample"  # a one-row job: its sample id; an array job: how many rows it holds
PLATFORM_TAG = "Platform"  # the env's name prefix: the head and analyst roles cancel only jobs of their platform
TAG_VALUE_MAX = 256
# A Nextflow run's task jobs carry the resource labels of its generated config instead (Nextflow makes them tags).
TASK_RUN_LABEL = "run"
TASK_ENV_LABEL = "env"
TASK_PIPELINE_LABEL = "pipeline"
_TAG_UNSAFE = re.compile(r"[^\w\s+\-=.:/@]")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_run_name(name: str, field_name: str = "--name") -> str:
    if not RUN_NAME.match(name):
        raise UsageError(
            f"{field_name}: '{name}' must be 1-100 letters, digits, '-' or '_' and start with a letter or digit"
        )
    return name


def new_rows_token() -> str:
    return secrets.token_hex(ROWS_TOKEN_BYTES)


def is_job_id(text: str) -> bool:
    """A Batch job id (or an array child ``id:index``), as opposed to a run name."""
    return bool(JOB_ID.match(text))


def tag_value(text: str) -> str:
    """A string as an AWS tag value (letters, digits, spaces and + - = . _ : / @; at most 256 characters)."""
    return _TAG_UNSAFE.sub("_", text)[:TAG_VALUE_MAX] or "_"


def job_tags(run: str, env: str, pipeline: str, platform: str | None, kind: str | None = None) -> dict[str, str]:
    """The tags of a run's jobs (``platform``: the env's name prefix, when it has one)."""
    tags = {RUN_TAG: run, ENV_TAG: env}
    if kind:
        tags[KIND_TAG] = kind
    tags[PIPELINE_TAG] = pipeline
    return {**tags, PLATFORM_TAG: platform} if platform else tags


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
    queue: str | None = None  # set when it runs on another queue than the run's (spot fallback)
    moved: str | None = None  # why its rows moved to that queue

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
    samples_etag: str | None = None  # its ETag when written: the local cache key (read it at most once)
    sample_count: int | None = None
    jobs: list[JobRef] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    rows_token: str = ""  # the random part of this run's rows manifest keys (`RunLayout.rows_key`)
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific (e.g. nextflow pipeline, work dir)

    def to_json(self) -> str:
        data = asdict(self)
        for job in data["jobs"]:
            if job["rows"] is not None:
                job["rows"] = {"ranges": to_ranges(job["rows"])}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)
        jobs = []
        for job in data.pop("jobs", []):
            rows = job.get("rows")
            if isinstance(rows, dict):  # ranges (records before ranges hold a plain list)
                job["rows"] = from_ranges(rows["ranges"])
            jobs.append(JobRef(**job))
        return cls(**data, jobs=jobs)

    def job_ids(self) -> list[str]:
        return [j.job_id for j in self.jobs]

    def unsubmitted(self) -> int:
        """Rows (or the single job) of a `runner submit` planned in the record but with no job recorded yet: an
        interrupted submit; running it again submits them. 0 once every planned part has its job."""
        if self.extra.get("state") != "submitting":
            return 0
        done = {j.job_name for j in self.jobs}
        return sum(int(p["end"]) - int(p["start"]) for p in self.extra.get("parts", []) if p["name"] not in done)


def to_ranges(rows: list[int]) -> list[list[int]]:
    """Rows as [start, end) ranges of consecutive values, in order: ``[0..9999]`` -> ``[[0, 10000]]``."""
    ranges: list[list[int]] = []
    for _, group in groupby(enumerate(rows), key=lambda pair: pair[1] - pair[0]):
        values = [v for _, v in group]
        ranges.append([values[0], values[-1] + 1])
    return ranges


def from_ranges(ranges: list[list[int]]) -> list[int]:
    return [row for start, end in ranges for row in range(start, end)]


@dataclass(frozen=True)
class RunLayout:
    """Where a run's objects live in the work bucket."""

    bucket: str
    run: str

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run}/"

    @property
    def record_key(self) -> str:
        return f"{self.prefix}run.json"

    @property
    def samples_key(self) -> str:
        return f"{self.prefix}samples.json"

    @property
    def lock_key(self) -> str:
        return f"{self.prefix}lock"

    def rows_key(self, job_name: str, token: str) -> str:
        """A job's rows manifest; ``token`` (the record's ``rows_token``) makes the key unguessable."""
        return f"{self.prefix}rows/{job_name}-{token}.sh"

    # A Nextflow run
    @property
    def config_key(self) -> str:
        return f"{self.prefix}nextflow.config"

    def params_key(self, suffix: str) -> str:
        return f"{self.prefix}params{suffix}"

    def input_key(self, name: str) -> str:
        """A Nextflow run's ``input:`` sheet, staged (its local files replaced by their s3:// URIs)."""
        return f"{self.prefix}input/{name}"

    @property
    def history_key(self) -> str:
        return f"{self.prefix}launch/history"

    @property
    def cache_uri(self) -> str:
        return self.uri(f"{self.prefix}cache")

    def log_key(self, nf_name: str) -> str:
        return f"{self.prefix}logs/{nf_name}.log"


def _etag(response: dict[str, Any]) -> str | None:
    etag = str(response.get("ETag", "")).strip('"')
    return etag if re.fullmatch(r"[0-9A-Za-z-]+", etag) else None


_NOT_MODIFIED = ("304", "NotModified")


def missing(exc: Exception) -> bool:
    """A 404, with or without the modelled error (some emulators, HEAD-less paths)."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey")


class RunStore:
    """The runs of one env, in its work bucket."""

    def __init__(self, s3: Any, bucket: str, cache_dir: Path | None = None, records_dir: Path | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.cache_dir = cache_dir  # RUNNER_HOME/cache/samples: sheets by ETag (None: no local cache)
        self.records_dir = records_dir  # RUNNER_HOME/cache/records: the last record read per run, with its ETag

    def layout(self, run: str) -> RunLayout:
        return RunLayout(bucket=self.bucket, run=run)

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        """Write one object of a run (a key from its `RunLayout`); returns its s3:// URI."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def lock(self, run: str, seconds: int = LOCK_SECONDS) -> RunLock:
        """Hold the run for one submit, or a one-line RunFailed naming who holds it (`runner.session.lock`)."""
        return acquire(self, run, seconds)

    def load(self, run: str) -> RunRecord | None:
        """The run's record, None when there is none. With a local copy (``records_dir``) the GET is conditional on
        its ETag: an unchanged record costs a 304, no body; S3 stays the truth (a record changed elsewhere is read in
        full)."""
        known = self._known_record(run)
        condition = {"IfNoneMatch": known[0]} if known is not None else {}
        try:
            reply = self.s3.get_object(Bucket=self.bucket, Key=self.layout(run).record_key, **condition)
        except Exception as exc:
            if known is not None and error_code(exc) in _NOT_MODIFIED:
                return RunRecord.from_json(known[1])
            if missing(exc):
                self._forget_record(run)
                return None
            raise
        body: bytes = reply["Body"].read()
        self._remember_record(run, _etag(reply), body)
        return RunRecord.from_json(body.decode())

    def cached(self, run: str) -> RunRecord | None:
        """The record of RUN as this machine last read it (possibly stale: for prefetching only), or None."""
        known = self._known_record(run)
        if known is None:
            return None
        try:
            return RunRecord.from_json(known[1])
        except (ValueError, TypeError, KeyError):
            return None

    def save(self, record: RunRecord) -> None:
        body = record.to_json().encode()
        reply = self.s3.put_object(
            Bucket=self.bucket, Key=self.layout(record.run).record_key, Body=body, ContentType="application/json"
        )
        self._remember_record(record.run, _etag(reply), body)

    def _record_file(self, run: str) -> Path | None:
        if self.records_dir is None or not RUN_NAME.fullmatch(run):
            return None
        return self.records_dir / self.bucket / f"{run}.json"

    def _known_record(self, run: str) -> tuple[str, str] | None:
        path = self._record_file(run)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
            return str(data["etag"]), str(data["body"])
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _remember_record(self, run: str, etag: str | None, body: bytes) -> None:
        path = self._record_file(run)
        if path is None:
            return
        if etag is None:
            self._forget_record(run)
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            partial.write_text(json.dumps({"etag": f'"{etag}"', "body": body.decode()}))
            partial.replace(path)

    def _forget_record(self, run: str) -> None:
        path = self._record_file(run)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def save_sheet(self, record: RunRecord, sheet: dict[str, Any]) -> str:
        """The sample sheet as submitted (JSON: columns, id_column, env_names, rows, source), noted in the record
        (key and ETag) and kept in this machine's cache; returns its key."""
        key = self.layout(record.run).samples_key
        body = json.dumps(sheet).encode()
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        record.samples_key, record.samples_etag = key, _etag(response)
        self._cache_sheet(record.samples_etag, body)
        return key

    def _cached_sheet(self, etag: str | None) -> Path | None:
        if self.cache_dir is None or not etag:
            return None
        return self.cache_dir / self.bucket / f"{etag}.json"

    def _cache_sheet(self, etag: str | None, body: bytes) -> None:
        path = self._cached_sheet(etag)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(body)
        partial.replace(path)

    def load_sheet(self, record: RunRecord) -> dict[str, Any] | None:
        """The run's sheet: from this machine's cache when its ETag is there, else one GET (then cached)."""
        if not record.samples_key:
            return None
        cached = self._cached_sheet(record.samples_etag)
        if cached is not None and cached.is_file():
            body = cached.read_bytes()
        else:
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=record.samples_key)
            except Exception as exc:
                if missing(exc):
                    return None
                raise
            body = response["Body"].read()
            self._cache_sheet(_etag(response), body)
        sheet: dict[str, Any] = json.loads(body)
        return sheet

    def sample_ids(self, record: RunRecord) -> list[str] | None:
        """Each sample's id, in sheet order: one per sample, its lanes (rows sharing the id) grouped; array child
        ``i`` runs sample ``i``. None when the run had no sheet or it is gone."""
        sheet = self.load_sheet(record)
        if sheet is None:
            return None
        return list(dict.fromkeys(row[sheet["id_column"]] for row in sheet["rows"]))

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


# ---------------------------------------------------------------------------------------------------------------
# RUN_OR_JOB: a run name or a job id
# ---------------------------------------------------------------------------------------------------------------


def lookup(
    store: RunStore, batch: Batch, text: str, field_name: str = "RUN_OR_JOB", prefetch: bool = False
) -> RunRecord | dict[str, Any]:
    """What a ``RUN_OR_JOB`` argument names: the run's record, or the job as Batch describes it; a UsageError
    naming the field when neither exists.

    ``prefetch``: the caller describes the run's jobs next (`runner status`); when this machine has read the
    record before, its jobs are described while the record is read (`Batch.prefetch`)."""
    if is_job_id(text):
        job = batch.job(text)
        if job is not None:
            return job
    elif "/" not in text:
        if prefetch:
            seen = store.cached(text)
            if seen is not None:
                batch.prefetch(seen.job_ids())
        record = store.load(text)
        if record is not None:
            return record
    raise UsageError(f"{field_name}: no run or job '{text}' in this env")


def resolve_target(
    store: RunStore, batch: Batch, target: str, field_name: str = "RUN_OR_JOB", prefetch: bool = False
) -> RunRecord:
    """The run record named, or a one-job record for a bare job id (a run's job resolves to its run)."""
    found = lookup(store, batch, target, field_name, prefetch)
    if isinstance(found, RunRecord):
        return found
    # The runner tags every job it submits with its run: one record read, not a scan of every run.
    tagged = found.get("tags", {}).get(RUN_TAG)
    owner = store.load(tagged) if tagged else None
    if owner is None or target not in owner.job_ids():
        owner = store.find_job(target)
    if owner is not None:
        return owner
    return RunRecord(run=target, env="", queue=found.get("jobQueue", ""), jobs=[job_ref(target, found)])


def job_ref(job_id: str, job: dict[str, Any]) -> JobRef:
    """A job the runner did not submit (or not in this run), as a run's job."""
    size = job.get("arrayProperties", {}).get("size")
    return JobRef(job_id=job_id, job_name=job.get("jobName", job_id), array_size=size)


def split_job_ref(text: str) -> tuple[str, int | None]:
    """``JOB:INDEX`` -> (JOB, INDEX); anything else -> (text, None)."""
    base, sep, index = text.rpartition(":")
    if sep and index.isdigit() and base:
        return base, int(index)
    return text, None


def job_of(store: RunStore, text: str) -> str:
    """``JOB[:INDEX]`` as a job id: a job id as given, a run name as its (first) job."""
    base, index = split_job_ref(text)
    if not is_job_id(base):
        record = store.load(base)
        if record is None or not record.jobs:
            raise UsageError(f"JOB: no job or run '{base}' in this env")
        base = record.jobs[0].job_id
    return f"{base}:{index}" if index is not None else base
