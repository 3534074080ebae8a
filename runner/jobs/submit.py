"""Submission: one job, or one array job per up to 10,000 sample-sheet rows, idempotent by run name.

Order of work (nothing changes in AWS until everything is validated):

1. local checks: memory/duration/env-var syntax, the sheet (columns, ids, local files), the queue name;
2. read-only AWS checks: the request fits a compute environment behind the queue, ``--job-definition``
   exists, ``s3://`` inputs exist, ``--after`` names a run or job, the run record (already submitted?);
3. changes: stage local files, register the ``runner-<hash>`` job definition, write the rows and the run
   record (``runs/<run>/run.json``, state ``submitting``), submit each part, record its job id.

Rows reach the container through a ``/bin/sh`` prologue, so any image with ``/bin/sh`` works. Each sample is one
line of ``NAME=VALUE`` pairs with every unsafe byte octal-escaped (``runner.jobs.rows``); the prologue picks line
``AWS_BATCH_JOB_ARRAY_INDEX``, decodes it without ``eval`` and exports it, then runs the analyst's command. The
lines travel

* inline, in the ``RUNNER_ROWS`` variable, when the whole SubmitJob request stays under the 30 KiB limit
  (no extra moving parts, nothing to fetch; every child carries the full table, which is harmless at that size);
* otherwise as a manifest object in the work bucket (``runs/<run>/rows/<job>.sh``). A container fetches it
  with the AWS CLI when the image has one (job role credentials), else with ``curl`` or ``wget`` from a
  presigned URL (``RUNNER_MANIFEST_URL``, valid 7 days, or as long as the submitter's session credentials:
  a job that waits longer than that in RUNNABLE in an image without the AWS CLI fails with exit code 97 and
  is picked up by ``runner retry RUN --failed``, which presigns again). The host's ``/opt/aws-cli`` is not
  mounted into the container: mounting it over the image hides files (nextflow #2322), and the AL2023 CLI
  needs glibc, which minimal images (alpine) lack.

Idempotency: a killed submit leaves a record in state ``submitting`` with its planned parts; running it again
looks each part up by its deterministic job name (``list_jobs`` with a JOB_NAME filter) before submitting it.
SubmitJob itself is never retried blindly: throttling is retried with backoff (nothing was created), and an
ambiguous failure (timeout, 5xx) is followed by a lookup by name before the next attempt.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from runner.core.errors import RunFailed, UsageError
from runner.jobs import jobdefs, resources, sheets, staging, validate
from runner.jobs.rows import encode_line
from runner.jobs.runs import JobRef, RunRecord, RunStore, validate_run_name

ARRAY_LIMIT = 10_000
REQUEST_LIMIT = 30 * 1024  # SubmitJob payload limit
INLINE_LIMIT = REQUEST_LIMIT - 2048  # headroom for the SDK's own encoding
MANIFEST_URL_SECONDS = 7 * 24 * 3600
MAX_DEPENDENCIES = 20
THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
}
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:\d+)?$")

# The prologue every job runs under /bin/sh: pick this child's line, export its variables (runner.jobs.rows: split
# with parameter expansions, decoded with printf %b, set with export; never eval), then run the command.
PROLOGUE = r"""# shellcheck disable=SC2153
runner_pick() {
  runner_i=0
  while IFS= read -r runner_line; do
    if [ "$runner_i" -eq "$runner_want" ]; then return 0; fi
    runner_i=$((runner_i + 1))
  done
  return 1
}
runner_load() {
  runner_rest=$1
  while [ -n "$runner_rest" ]; do
    runner_pair=${runner_rest%% *}
    case $runner_rest in *" "*) runner_rest=${runner_rest#* } ;; *) runner_rest= ;; esac
    runner_name=${runner_pair%%=*}
    runner_value=${runner_pair#*=}
    case $runner_name in
      "" | [0-9]* | *[!A-Za-z0-9_]*) echo "runner: malformed row (variable name '$runner_name')" >&2; exit 97 ;;
    esac
    case $runner_value in
      *\\*) runner_value=$(printf '%bx' "$runner_value"); runner_value=${runner_value%x} ;;
    esac
    export "$runner_name=$runner_value"
  done
}
runner_want=${AWS_BATCH_JOB_ARRAY_INDEX:-0}
if [ -n "${RUNNER_MANIFEST_URI:-}" ]; then
  runner_rows=${TMPDIR:-/tmp}/runner-rows.$$
  if command -v aws >/dev/null 2>&1 && aws s3 cp --quiet "$RUNNER_MANIFEST_URI" "$runner_rows"; then :
  elif command -v curl >/dev/null 2>&1 && curl -fsSL -o "$runner_rows" "$RUNNER_MANIFEST_URL"; then :
  elif command -v wget >/dev/null 2>&1 && wget -q -O "$runner_rows" "$RUNNER_MANIFEST_URL"; then :
  else echo "runner: cannot fetch $RUNNER_MANIFEST_URI (no aws cli, curl or wget, or the URL expired)" >&2; exit 97
  fi
  runner_pick < "$runner_rows" || { echo "runner: no row $runner_want in $RUNNER_MANIFEST_URI" >&2; exit 97; }
  rm -f "$runner_rows"
  runner_load "$runner_line"
elif [ -n "${RUNNER_ROWS:-}" ]; then
  runner_pick <<RUNNER_ROWS_END || { echo "runner: no row $runner_want in RUNNER_ROWS" >&2; exit 97; }
$RUNNER_ROWS
RUNNER_ROWS_END
  runner_load "$runner_line"
fi
unset RUNNER_ROWS runner_i runner_line runner_want runner_rows runner_rest runner_pair runner_name runner_value
"""


# ---------------------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SubmitOptions:
    command: str | None = None
    image: str | None = None
    vcpus: int | None = None
    memory: str | None = None
    gpus: int | None = None
    samples: str | None = None
    name: str | None = None
    queue: str = "default"
    job_definition: str | None = None
    retries: int | None = None
    timeout: str | None = None
    after: str | None = None
    env_vars: list[str] = field(default_factory=list)
    group_by: str | None = None  # the sample id column (rows sharing it are one sample's lanes)
    allow_files_outside: list[str] = field(default_factory=list)  # roots besides the sheet's folder


def parse_env_vars(items: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_KEY.match(key):
            raise UsageError(f"--env-var: '{item}' must be KEY=VALUE with KEY letters, digits and '_'")
        if key.startswith(sheets.RESERVED_PREFIXES) or key in sheets.RESERVED_NAMES:
            raise UsageError(f"--env-var: '{key}' is reserved by the runner or AWS Batch")
        env[key] = value
    return env


@dataclass
class Prepared:
    """Everything checked locally; no AWS call has happened yet."""

    options: SubmitOptions
    queue_key: str
    queue_name: str
    env_vars: dict[str, str]
    memory_mib: int | None
    timeout_s: int | None
    sheet: sheets.Sheet | None
    refs: sheets.FileRefs
    run: str
    spec_hash: str
    explicit_name: bool


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def queue_names(outputs: dict[str, Any]) -> dict[str, str]:
    names = outputs.get("job_queue_names") or {}
    if not names:
        raise UsageError("--env: this env has no job queues (job_queue_names output); apply the platform first")
    return dict(names)


def resolve_queue(outputs: dict[str, Any], queue: str) -> tuple[str, str]:
    names = queue_names(outputs)
    if queue in names:
        return queue, names[queue]
    for key, name in names.items():
        arn = (outputs.get("job_queue_arns") or {}).get(key)
        if queue in (name, arn):
            return key, name
    raise UsageError(f"--queue: unknown queue '{queue}' (this env has: {', '.join(sorted(names))})")


def prepare(options: SubmitOptions, outputs: dict[str, Any], cwd: Path | None = None) -> Prepared:
    """Validate every input that needs no AWS call; raise UsageError naming the field."""
    if not options.image and not options.job_definition:
        raise UsageError("--image: required (or name an existing definition with --job-definition)")
    if options.command is not None and not options.command.strip():
        raise UsageError("--command: empty command")
    if options.command is None and not options.job_definition:
        raise UsageError("--command: required (or use --job-definition with a command of its own)")
    resources.parse_count(options.vcpus, "--vcpus")
    resources.parse_count(options.gpus, "--gpus", minimum=0)
    resources.parse_count(options.retries, "--retries", minimum=0)
    if options.retries is not None and options.retries > 9:
        raise UsageError(f"--retries: {options.retries} is above the 9 AWS Batch allows")
    memory_mib = resources.parse_memory(options.memory) if options.memory is not None else None
    timeout_s = resources.parse_duration(options.timeout) if options.timeout is not None else None
    env_vars = parse_env_vars(options.env_vars)
    if options.name is not None:
        validate_run_name(options.name)
    queue_key, queue_name = resolve_queue(outputs, options.queue)
    for key in ("work",):
        if not (outputs.get("bucket_names") or {}).get(key):
            raise UsageError(f"--env: this env has no {key} bucket (bucket_names output); apply it first")
    if options.image:
        validate.image_reference(options.image)
    if options.group_by and not options.samples:
        raise UsageError("--group-by: only with --samples")
    sheet = sheets.read_sheet(options.samples, group_by=options.group_by) if options.samples else None
    refs = sheets.file_refs(sheet, options.allow_files_outside) if sheet else sheets.FileRefs()
    if refs.local and not (outputs.get("bucket_names") or {}).get("data"):
        raise UsageError("--samples: the sheet names local files but this env has no data bucket to stage them")
    content = sheet.digest if sheet else None
    identity = _hash(content, options.command, options.image or options.job_definition)
    spec_hash = _hash(
        identity,
        queue_name,
        options.vcpus,
        memory_mib,
        options.gpus,
        options.job_definition,
        options.retries,
        timeout_s,
        env_vars,
        options.after,
    )[:24]
    if options.name:
        run, explicit = options.name, True
    else:
        stem = re.sub(r"[^A-Za-z0-9_-]", "-", sheet.path.stem if sheet else "job").strip("-_")[:60] or "job"
        run, explicit = validate_run_name(f"{stem}-{identity[:10]}"), False
    probe = JobSpec(
        queue=queue_name, job_definition="", command=script(options.command),
        environment={"RUNNER_RUN": run, **env_vars}, vcpus=options.vcpus or 1, memory_mib=memory_mib,
        gpus=options.gpus, retries=options.retries, timeout_s=timeout_s, tags={"runner:run": run},
    )  # fmt: skip
    validate.request_fits(probe, f"{run}-retry999", options.command, env_vars)  # Batch's 30 KiB, before any write
    return Prepared(
        options=options,
        queue_key=queue_key,
        queue_name=queue_name,
        env_vars=env_vars,
        memory_mib=memory_mib,
        timeout_s=timeout_s,
        sheet=sheet,
        refs=refs,
        run=run,
        spec_hash=spec_hash,
        explicit_name=explicit,
    )


# ---------------------------------------------------------------------------------------------------------------
# Payload: rows as shell lines, inline or through a manifest
# ---------------------------------------------------------------------------------------------------------------


def row_line(env: dict[str, str]) -> str:
    return encode_line(env)


def script(command: str | None) -> list[str]:
    """The container command: the prologue, then the analyst's shell command (or the definition's own)."""
    if command is None:
        return ["/bin/sh", "-c", PROLOGUE + 'exec "$@"\n', "runner"]
    return ["/bin/sh", "-c", PROLOGUE + command + "\n"]


def sheet_to_json(sheet: sheets.Sheet) -> dict[str, Any]:
    return {
        "columns": sheet.columns,
        "id_column": sheet.id_column,
        "env_names": sheet.env_names,
        "rows": sheet.rows,
        "source": str(sheet.path),
    }


def sheet_from_json(data: dict[str, Any]) -> sheets.Sheet:
    return sheets.Sheet(
        path=Path(data.get("source", "samples")),
        columns=list(data["columns"]),
        id_column=data["id_column"],
        rows=list(data["rows"]),
        env_names=dict(data["env_names"]),
    )


def request_size(request: dict[str, Any]) -> int:
    return len(json.dumps(request, separators=(",", ":")).encode())


@dataclass
class JobSpec:
    """What every job of a run shares (stored in the record so `retry` can rebuild requests)."""

    queue: str
    job_definition: str
    command: list[str]
    environment: dict[str, str]
    vcpus: int | None
    memory_mib: int | None
    gpus: int | None
    retries: int | None
    timeout_s: int | None
    tags: dict[str, str]

    def request(
        self, name: str, extra_env: dict[str, str], array_size: int | None, depends_on: list[dict[str, str]]
    ) -> dict[str, Any]:
        overrides: dict[str, Any] = {
            "command": self.command,
            "environment": [{"name": k, "value": v} for k, v in {**self.environment, **extra_env}.items()],
        }
        reqs = []
        if self.vcpus is not None:
            reqs.append({"type": "VCPU", "value": str(self.vcpus)})
        if self.memory_mib is not None:
            reqs.append({"type": "MEMORY", "value": str(self.memory_mib)})
        if self.gpus:
            reqs.append({"type": "GPU", "value": str(self.gpus)})
        if reqs:
            overrides["resourceRequirements"] = reqs
        req: dict[str, Any] = {
            "jobName": name,
            "jobQueue": self.queue,
            "jobDefinition": self.job_definition,
            "containerOverrides": overrides,
            "tags": self.tags,
            "propagateTags": True,
        }
        strategy = jobdefs.retry_strategy(self.retries)
        if strategy:
            req["retryStrategy"] = strategy
        if self.timeout_s:
            req["timeout"] = {"attemptDurationSeconds": self.timeout_s}
        if array_size is not None:
            req["arrayProperties"] = {"size": array_size}
        if depends_on:
            req["dependsOn"] = depends_on
        return req

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---------------------------------------------------------------------------------------------------------------
# Submission
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Clients:
    batch: Any  # reads and everything but SubmitJob (adaptive retries)
    submit: Any  # SubmitJob only: no automatic retries, see submit_job_once
    s3: Any
    ec2: Any


@dataclass
class SubmitResult:
    record: RunRecord
    already: bool  # the run existed and was complete: nothing submitted
    submitted: int  # SubmitJob calls that created a job
    job_definition_created: bool = False
    staged: dict[str, str] = field(default_factory=dict)
    payload: str = "inline"


def _error_code(exc: ClientError) -> tuple[str, int]:
    return exc.response.get("Error", {}).get("Code", ""), int(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    )


def find_job_by_name(batch: Any, queue: str, name: str) -> str | None:
    """A parent or single job with exactly this name on the queue (any status), newest first."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"jobQueue": queue, "filters": [{"name": "JOB_NAME", "values": [name]}]}
    while True:
        page = batch.list_jobs(**kwargs)
        found.extend(
            j
            for j in page.get("jobSummaryList", [])
            if j.get("jobName") == name and ":" not in j["jobId"] and "index" not in j.get("arrayProperties", {})
        )
        token = page.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    if not found:
        return None
    return str(max(found, key=lambda j: j.get("createdAt", 0))["jobId"])


def submit_job_once(
    clients: Clients,
    request: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 8,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
) -> str:
    """SubmitJob exactly once: throttling backs off and retries; ambiguous failures look the name up first."""
    ambiguous = False
    for attempt in range(attempts):
        if ambiguous:
            existing = find_job_by_name(clients.batch, request["jobQueue"], request["jobName"])
            if existing:
                return existing
        try:
            return str(clients.submit.submit_job(**request)["jobId"])
        except ClientError as exc:
            code, status = _error_code(exc)
            if code in THROTTLING or status == 429:
                ambiguous = False
            elif status >= 500:
                ambiguous = True
            else:
                message = exc.response.get("Error", {}).get("Message", str(exc))
                raise RunFailed(f"SubmitJob {request['jobName']}: {code}: {message}") from None
            last: Exception = exc
        except (ReadTimeoutError, ConnectionClosedError, EndpointConnectionError) as exc:
            ambiguous = not isinstance(exc, EndpointConnectionError)
            last = exc
        sleep(min(max_delay, base_delay * 2**attempt) * (0.5 + random.random() / 2))
    if ambiguous:
        existing = find_job_by_name(clients.batch, request["jobQueue"], request["jobName"])
        if existing:
            return existing
    raise RunFailed(f"SubmitJob {request['jobName']}: gave up after {attempts} attempts: {last}")


def resolve_after(clients: Clients, store: RunStore, after: str | None) -> list[JobRef] | None:
    if not after:
        return None
    record = store.load(after) if re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", after) else None
    if record is not None:
        if not record.jobs:
            raise UsageError(f"--after: run '{after}' has no submitted jobs")
        return record.jobs
    if _JOB_ID.match(after):
        jobs = clients.batch.describe_jobs(jobs=[after]).get("jobs", [])
        if jobs:
            size = jobs[0].get("arrayProperties", {}).get("size")
            return [JobRef(job_id=after, job_name=jobs[0].get("jobName", after), array_size=size)]
    raise UsageError(f"--after: no run or job '{after}' in this env")


def depends_on(after: list[JobRef] | None, part: int, parts: list[tuple[int, int]]) -> list[dict[str, str]]:
    if not after:
        return []
    sizes = [end - start for start, end in parts]
    after_sizes = [j.array_size for j in after]
    if len(after) == len(parts) and all(a == s and s > 1 for a, s in zip(after_sizes, sizes, strict=True)):
        return [{"jobId": after[part].job_id, "type": "N_TO_N"}]
    if len(after) > MAX_DEPENDENCIES:
        raise UsageError(f"--after: {len(after)} jobs exceed the {MAX_DEPENDENCIES} dependencies a job may have")
    return [{"jobId": j.job_id} for j in after]


def split(count: int) -> list[tuple[int, int]]:
    return [(start, min(start + ARRAY_LIMIT, count)) for start in range(0, count, ARRAY_LIMIT)]


class Submitter:
    def __init__(
        self,
        env_name: str,
        outputs: dict[str, Any],
        clients: Clients,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.env_name = env_name
        self.outputs = outputs
        self.clients = clients
        self.sleep = sleep
        self.log = log
        self.store = RunStore(clients.s3, outputs["bucket_names"]["work"])

    @property
    def work_bucket(self) -> str:
        return str(self.outputs["bucket_names"]["work"])

    # -- the whole flow -------------------------------------------------------------------------------------------

    def submit(self, options: SubmitOptions, cwd: Path | None = None, prepared: Prepared | None = None) -> SubmitResult:
        prep = prepared or prepare(options, self.outputs, cwd)
        validate.tags({"runner:run": prep.run, "runner:env": self.env_name}, "--env")
        existing = self.store.load(prep.run)
        if existing is not None and existing.spec_hash != prep.spec_hash:
            hint = "choose another --name" if prep.explicit_name else "pass --name to submit it as a new run"
            raise UsageError(f"--name: run '{prep.run}' already exists with different settings; {hint}")
        if existing is not None and existing.extra.get("state") == "submitted":
            return SubmitResult(record=existing, already=True, submitted=0, payload=existing.extra.get("payload", ""))

        # Read-only checks.
        jobdef_known = dict(self.outputs.get("job_definition_arns") or {})
        existing_def = (
            jobdefs.find_existing(self.clients.batch, options.job_definition, jobdef_known)
            if options.job_definition
            else None
        )
        request = self._resource_request(prep, existing_def)
        resources.check_fits(
            request,
            resources.queue_capacity(self.clients.batch, self.clients.ec2, prep.queue_name),
            prep.queue_key,
        )
        self._check_s3(prep.refs.s3)
        after = resolve_after(self.clients, self.store, options.after)

        # Changes.
        staged = self._stage(prep)
        created = False
        if existing_def is not None:
            jobdef_arn = str(existing_def["jobDefinitionArn"])
        else:
            spec = jobdefs.JobDefSpec(
                image=str(options.image),
                vcpus=request.vcpus,
                memory_mib=request.memory_mib,
                gpus=request.gpus,
                retries=options.retries,
                timeout_s=prep.timeout_s,
                job_role_arn=self.outputs.get("job_role_arn"),
                log_group=self.outputs.get("log_group_name"),
                region=self.outputs.get("region"),
            )
            jobdef_arn, created = jobdefs.ensure(self.clients.batch, spec)
        spec_env = {"RUNNER_RUN": prep.run, **prep.env_vars}
        job_spec = JobSpec(
            queue=prep.queue_name,
            job_definition=jobdef_arn,
            command=script(options.command),
            environment=spec_env,
            vcpus=request.vcpus if (options.vcpus or existing_def is None) else None,
            memory_mib=request.memory_mib if (prep.memory_mib or existing_def is None) else None,
            gpus=request.gpus or None,
            retries=options.retries,
            timeout_s=prep.timeout_s,
            tags={"runner:run": prep.run, "runner:env": self.env_name},
        )
        if options.job_definition and options.command is None:
            job_spec.command = script(None) + list(existing_def["containerProperties"].get("command", []))  # type: ignore[index]
        count = len(prep.sheet) if prep.sheet else 1
        parts = split(count)
        record = existing or RunRecord(
            run=prep.run,
            env=self.env_name,
            queue=prep.queue_name,
            job_definition=jobdef_arn,
            image=options.image,
            command=options.command,
            resources={"vcpus": request.vcpus, "memory_mib": request.memory_mib, "gpus": request.gpus},
            spec_hash=prep.spec_hash,
            sample_count=len(prep.sheet) if prep.sheet else None,
            tags=job_spec.tags,
        )
        resuming = existing is not None
        record.extra.update(
            {
                "state": "submitting",
                "queue_key": prep.queue_key,
                "spec": job_spec.to_dict(),
                "parts": [
                    {"name": self._part_name(prep.run, i, len(parts)), "start": s, "end": e}
                    for i, (s, e) in enumerate(parts)
                ],
                "after": [j.job_id for j in after or []],
                "staged": staged,
            }
        )
        if prep.sheet is not None:
            record.samples_key = f"runs/{prep.run}/samples.json"
            self.clients.s3.put_object(
                Bucket=self.work_bucket,
                Key=record.samples_key,
                Body=json.dumps(sheet_to_json(prep.sheet)).encode(),
                ContentType="application/json",
            )
        self.store.save(record)

        submitted = 0
        payload = "inline"
        done = {j.job_name for j in record.jobs}
        for index, (start, end) in enumerate(parts):
            name = record.extra["parts"][index]["name"]
            if name in done:
                continue
            rows = list(range(start, end)) if prep.sheet else None
            extra_env, kind = self._rows_env(prep.run, name, prep.sheet, rows, job_spec)
            payload = kind if kind == "manifest" else payload
            size = (end - start) if prep.sheet and end - start > 1 else None
            req = job_spec.request(name, extra_env, size, depends_on(after, index, parts))
            job_id = find_job_by_name(self.clients.batch, prep.queue_name, name) if resuming else None
            if job_id is None:
                job_id = submit_job_once(self.clients, req, sleep=self.sleep)
                submitted += 1
            record.jobs.append(JobRef(job_id=job_id, job_name=name, array_size=size, rows=rows))
            self.store.save(record)
            self.log(f"submitted {name}: {job_id}" + (f" (array of {size})" if size else ""))
        record.extra["state"] = "submitted"
        record.extra["payload"] = payload
        self.store.save(record)
        return SubmitResult(
            record=record,
            already=False,
            submitted=submitted,
            job_definition_created=created,
            staged=staged,
            payload=payload,
        )

    # -- pieces ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _part_name(run: str, index: int, count: int) -> str:
        return run if count == 1 else f"{run}-part{index + 1}"

    def _resource_request(self, prep: Prepared, existing_def: dict[str, Any] | None) -> resources.Request:
        if existing_def is not None:
            d_vcpus, d_mem, d_gpus = jobdefs.definition_resources(existing_def)
        else:
            d_vcpus, d_mem, d_gpus = resources.DEFAULT_VCPUS, resources.DEFAULT_MEMORY_MIB, 0
        return resources.Request(
            vcpus=prep.options.vcpus or d_vcpus,
            memory_mib=prep.memory_mib or d_mem,
            gpus=prep.options.gpus if prep.options.gpus is not None else d_gpus,
        )

    def _check_s3(self, uris: list[str]) -> None:
        if not uris:
            return
        try:
            staging.check_s3_uris(self.clients.s3, uris)
        except UsageError as exc:
            message = str(exc)
            raise UsageError(message if message.startswith("--samples") else f"--samples: {message}") from None

    def _stage(self, prep: Prepared) -> dict[str, str]:
        """Upload the sheet's local files (runner.jobs.staging: concurrent, multipart, content-addressed, skips)."""
        if not prep.refs.local or prep.sheet is None:
            return {}
        by_path = {str(path): value for value, path in prep.refs.local.items()}
        data_bucket = self.outputs["bucket_names"]["data"]
        report = staging.stage(self.clients.s3, data_bucket, list(by_path), prefix=staging.DEFAULT_PREFIX)
        mapping = {by_path[path]: uri for path, uri in report.uris.items() if path in by_path}
        sheets.substitute(prep.sheet, mapping)
        self.log(
            f"staged {len(mapping)} local files to s3://{data_bucket}/{staging.DEFAULT_PREFIX}: "
            f"{len(report.uploaded)} uploaded, {len(report.skipped)} already there"
        )
        return mapping

    def _rows_env(
        self, run: str, name: str, sheet: sheets.Sheet | None, rows: list[int] | None, job_spec: JobSpec
    ) -> tuple[dict[str, str], str]:
        """The variables that carry the rows: inline (RUNNER_ROWS) when small enough, else a manifest."""
        if sheet is None or rows is None:
            return {}, "none"
        table = "\n".join(row_line(sheet.environment(i)) for i in rows)
        inline = {"RUNNER_ROWS": table}
        probe = job_spec.request(name, inline, len(rows), [{"jobId": "0" * 36, "type": "N_TO_N"}])
        if request_size(probe) <= INLINE_LIMIT:
            return inline, "inline"
        key = f"runs/{run}/rows/{name}.sh"
        self.clients.s3.put_object(Bucket=self.work_bucket, Key=key, Body=(table + "\n").encode())
        url = self.clients.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.work_bucket, "Key": key}, ExpiresIn=MANIFEST_URL_SECONDS
        )
        return {"RUNNER_MANIFEST_URI": f"s3://{self.work_bucket}/{key}", "RUNNER_MANIFEST_URL": url}, "manifest"

    # -- retry --failed -------------------------------------------------------------------------------------------

    def resubmit_rows(self, record: RunRecord, rows: list[int] | None, retry_of: list[str]) -> JobRef:
        """A new job for exactly these sheet rows (array index i -> rows[i]), linked in the record."""
        spec_data = record.extra.get("spec")
        if not spec_data:
            raise UsageError(f"RUN: run '{record.run}' was not submitted by `runner submit`; cannot retry it")
        job_spec = JobSpec(**spec_data)
        number = sum(1 for j in record.jobs if j.kind == "retry") + 1
        name = f"{record.run}-retry{number}"
        sheet = None
        if rows is not None and record.samples_key:
            body = self.clients.s3.get_object(Bucket=self.work_bucket, Key=record.samples_key)["Body"].read()
            sheet = sheet_from_json(json.loads(body))
        extra_env, _kind = self._rows_env(record.run, name, sheet, rows, job_spec)
        size = len(rows) if rows is not None and len(rows) > 1 else None
        req = job_spec.request(name, extra_env, size, [])
        job_id = find_job_by_name(self.clients.batch, job_spec.queue, name) or submit_job_once(
            self.clients, req, sleep=self.sleep
        )
        ref = JobRef(
            job_id=job_id, job_name=name, kind="retry", array_size=size, rows=rows, retry_of=",".join(retry_of)
        )
        record.jobs.append(ref)
        self.store.save(record)
        return ref
