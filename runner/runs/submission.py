"""Submission: one job, or one array job per up to 10,000 sample-sheet rows, idempotent by run name.

Plan, check, apply (nothing changes in AWS until everything is validated; no UsageError after the first write):

1. ``Submitter.plan`` (`prepare`), no AWS call: memory/duration/env-var syntax, the sheet (columns, ids, local
   files), the queue name, the run name and its spec hash;
2. ``Submitter.check``, read-only AWS calls: the run record (already submitted? same settings?),
   ``--job-definition`` exists, the request fits a compute environment behind the queue, ``s3://`` inputs exist,
   ``--after`` names a run or job and its dependencies fit every part. The result, a `Checked`, is what
   ``runner submit --dry-run`` prints;
3. ``Submitter.apply``, the writes: stage local files, register the ``runner-<hash>`` job definition, write the
   rows and the run record (``runs/<run>/run.json``, state ``submitting``), submit each part, then write the
   record once more with every job id (twice per submit, whatever the number of parts).

Rows reach the container through a ``/bin/sh`` prologue, so any image with ``/bin/sh`` works. Each sample is one
line of ``NAME=VALUE`` pairs with every unsafe byte octal-escaped (``runner.runs.rows``); the prologue picks line
``AWS_BATCH_JOB_ARRAY_INDEX``, decodes it without ``eval`` and exports it, then runs the analyst's command. The
lines travel

* inline, in the ``RUNNER_ROWS`` variable, when the whole SubmitJob request stays under the 30 KiB limit
  (no extra moving parts, nothing to fetch; every child carries the full table, which is harmless at that size);
* otherwise as a manifest object in the work bucket (``runs/<run>/rows/<job>-<token>.sh``, the token random and
  kept in the run record: the key cannot be guessed). A container reads it with the AWS CLI and the job role
  (``aws s3 cp``), never through a URL carrying the submitter's credentials; an image without the AWS CLI and
  more rows than fit inline fails with exit code 97 and a message saying so. The host's ``/opt/aws-cli`` is not
  mounted into the container: mounting it over the image hides files (nextflow #2322), and the AL2023 CLI
  needs glibc, which minimal images (alpine) lack.

Exactly once: the records and parts are written under the run's lock (`runner.session.runs.RunLock`, an S3
conditional write), so two identical submits at once make one job and the loser stops with one line. A killed
submit leaves a record in state ``submitting`` with its planned parts (INCOMPLETE in ``status``/``list``); running
it again submits each part through the Batch gateway (`runner.aws.batch.Batch.submit`), which looks the part up by
its deterministic job name and submission token before submitting it and never retries SubmitJob blindly.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.aws.batch import ARRAY_LIMIT, Batch
from runner.compute import resources
from runner.core.errors import RunFailed, UsageError
from runner.files import results, sheets, staging
from runner.runs import jobdefs, validate
from runner.runs.rows import encode_line
from runner.session.lock import RunLock
from runner.session.outputs import Outputs
from runner.session.runs import (
    RUN_TAG,
    SAMPLE_TAG,
    JobRef,
    RunRecord,
    RunStore,
    job_ref,
    job_tags,
    lookup,
    new_rows_token,
    tag_value,
    validate_run_name,
)

if TYPE_CHECKING:  # the AWS SDK loads when a session opens
    from runner.session import Session

REQUEST_LIMIT = validate.REQUEST_LIMIT  # SubmitJob payload limit
request_size = validate.request_size
INLINE_LIMIT = REQUEST_LIMIT - 2048  # headroom for the SDK's own encoding
MAX_DEPENDENCIES = 20
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The prologue every job runs under /bin/sh: pick this child's line, export its variables (runner.runs.rows: split
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
  if ! command -v aws >/dev/null 2>&1; then
    echo "runner: the image has no AWS CLI to read its rows from $RUNNER_MANIFEST_URI" >&2; exit 97
  fi
  aws s3 cp --quiet "$RUNNER_MANIFEST_URI" "$runner_rows" || {
    echo "runner: cannot read $RUNNER_MANIFEST_URI with the job role" >&2; exit 97; }
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


def prepare(options: SubmitOptions, outputs: Outputs, cwd: Path | None = None) -> Prepared:
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
    queue = outputs.queue(options.queue)
    queue_key, queue_name = queue.key, queue.name
    if options.image:
        validate.image_reference(options.image)
    if options.group_by and not options.samples:
        raise UsageError("--group-by: only with --samples")
    sheet = sheets.read_sheet(options.samples, group_by=options.group_by) if options.samples else None
    refs = sheets.file_refs(sheet, options.allow_files_outside) if sheet else sheets.FileRefs()
    if refs.local and not outputs.data_bucket:
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
        gpus=options.gpus, retries=options.retries, timeout_s=timeout_s, tags={RUN_TAG: run},
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


def pipeline_name(image: str | None, job_definition: str | None) -> str:
    """What `runner:pipeline` says for a plain job: the image's repository name, else the job definition's name."""
    if image:
        repository = image.split("@", 1)[0].rsplit("/", 1)[-1]
        return tag_value(repository.split(":", 1)[0])
    return tag_value((job_definition or "job").rsplit("/", 1)[-1].split(":", 1)[0])


def sample_tags(sheet: sheets.Sheet | None, rows: list[int] | None) -> dict[str, str]:
    """`runner:sample`: the sample id of a one-row job; an array job (tags are per job) says how many it holds."""
    if sheet is None or rows is None:
        return {}
    if len(rows) == 1:
        return {SAMPLE_TAG: tag_value(sheet.ids()[rows[0]])}
    return {SAMPLE_TAG: f"array of {len(rows)}"}


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
        reqs = jobdefs.resource_requirements(self.vcpus, self.memory_mib, self.gpus)
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
# Check: read-only AWS calls, the plan of every part
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Part:
    """One SubmitJob of a run: a single job, or an array job over sheet rows [start, end)."""

    name: str
    start: int
    end: int
    rows: list[int] | None  # None: no sheet
    depends_on: list[dict[str, str]]

    @property
    def array_size(self) -> int | None:
        return (self.end - self.start) if self.rows is not None and self.end - self.start > 1 else None


@dataclass
class Checked:
    """A submission checked against AWS; `Submitter.apply` only writes what this says."""

    prep: Prepared
    existing: RunRecord | None
    existing_def: dict[str, Any] | None  # --job-definition, described
    request: resources.Request
    jobdef: jobdefs.JobDefSpec | None  # the runner-<hash> definition to register (None: --job-definition)
    after: list[JobRef]
    parts: list[Part]

    @property
    def already(self) -> bool:
        return self.existing is not None and self.existing.extra.get("state") == "submitted"

    @property
    def job_definition(self) -> str:
        if self.existing_def is not None:
            return str(self.existing_def["jobDefinitionArn"])
        assert self.jobdef is not None
        return self.jobdef.name

    def summary(self, env_name: str) -> dict[str, Any]:
        """What `runner submit --dry-run` prints: what would be submitted, and where."""
        prep = self.prep
        return {
            "run": prep.run,
            "env": env_name,
            "dry_run": True,
            "already_submitted": self.already,
            "queue": prep.queue_name,
            "job_definition": self.job_definition,
            "new_job_definition": self.existing_def is None,
            "resources": {
                "vcpus": self.request.vcpus,
                "memory_mib": self.request.memory_mib,
                "gpus": self.request.gpus,
            },
            "samples": len(prep.sheet) if prep.sheet else None,
            "jobs": [
                {
                    "job_name": p.name,
                    "array_size": p.array_size,
                    "rows": [p.start, p.end] if p.rows is not None else None,
                    "depends_on": [d["jobId"] for d in p.depends_on],
                }
                for p in self.parts
            ],
            "files_to_stage": sorted({str(path) for path in prep.refs.local.values()}),
            "s3_inputs_checked": len(prep.refs.s3),
        }


def split(count: int) -> list[tuple[int, int]]:
    return [(start, min(start + ARRAY_LIMIT, count)) for start in range(0, count, ARRAY_LIMIT)]


def part_name(run: str, index: int, count: int) -> str:
    return run if count == 1 else f"{run}-part{index + 1}"


def depends_on(after: list[JobRef], part: int, parts: list[tuple[int, int]]) -> list[dict[str, str]]:
    if not after:
        return []
    sizes = [end - start for start, end in parts]
    after_sizes = [j.array_size for j in after]
    if len(after) == len(parts) and all(a == s and s > 1 for a, s in zip(after_sizes, sizes, strict=True)):
        return [{"jobId": after[part].job_id, "type": "N_TO_N"}]
    if len(after) > MAX_DEPENDENCIES:
        raise UsageError(f"--after: {len(after)} jobs exceed the {MAX_DEPENDENCIES} dependencies a job may have")
    return [{"jobId": j.job_id} for j in after]


def resolve_after(batch: Batch, store: RunStore, after: str | None) -> list[JobRef]:
    """``--after``: the jobs of a run, or one job by id."""
    if not after:
        return []
    found = lookup(store, batch, after, "--after")
    if not isinstance(found, RunRecord):
        return [job_ref(after, found)]
    if not found.jobs:
        raise UsageError(f"--after: run '{after}' has no submitted jobs")
    return found.jobs


def check_s3_inputs(s3: Any, uris: list[str]) -> None:
    """The sheet's ``s3://`` inputs exist (a UsageError naming ``--samples`` and the first missing one)."""
    if not uris:
        return
    try:
        staging.check_s3_uris(s3, uris)
    except UsageError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith("--samples") else f"--samples: {message}") from None


def stage_sheet_files(
    s3: Any, bucket: str, sheet: sheets.Sheet, refs: sheets.FileRefs
) -> tuple[dict[str, str], staging.StageReport]:
    """Upload the sheet's local files (`runner.files.staging.stage`: concurrent, multipart, content-addressed,
    skips what is there) and put their ``s3://`` URIs in the sheet; returns (value as written -> URI, report)."""
    by_path = {str(path): value for value, path in refs.local.items()}
    report = staging.stage(s3, bucket, list(by_path), prefix=staging.DEFAULT_PREFIX)
    mapping = {by_path[path]: uri for path, uri in report.uris.items() if path in by_path}
    sheets.substitute(sheet, mapping)
    return mapping, report


def submission_token(*parts: Any) -> str:
    """The per-submission tag the gateway finds a job by: the same inputs, the same token."""
    return _hash(*parts)[:32]


# ---------------------------------------------------------------------------------------------------------------
# Apply: the writes
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SubmitResult:
    record: RunRecord
    already: bool  # the run existed and was complete: nothing submitted
    submitted: int  # SubmitJob calls that created a job
    job_definition_created: bool = False
    staged: dict[str, str] = field(default_factory=dict)
    payload: str = "inline"


@dataclass
class Submitter:
    """Submission for one env: `plan` (local), `check` (read-only AWS), `apply` (writes); `submit` does all three."""

    env_name: str
    outputs: Outputs
    batch: Batch
    s3: Any
    ec2: Any = None
    log: Callable[[str], None] = lambda _msg: None
    run_store: RunStore | None = None  # the session's (with its local sheet cache); default: one on the work bucket

    @property
    def store(self) -> RunStore:
        if self.run_store is None:
            self.run_store = RunStore(self.s3, self.outputs.work_bucket)
        return self.run_store

    @classmethod
    def for_session(cls, session: Session, log: Callable[[str], None] = lambda _msg: None) -> Submitter:
        return cls(
            session.name, session.outputs, session.batch, session.s3, session.ec2, log=log, run_store=session.store
        )

    def submit(self, options: SubmitOptions, cwd: Path | None = None) -> SubmitResult:
        return self.apply(self.check(self.plan(options, cwd)))

    # -- 1. plan ----------------------------------------------------------------------------------------------

    def plan(self, options: SubmitOptions, cwd: Path | None = None) -> Prepared:
        return prepare(options, self.outputs, cwd)

    # -- 2. check ---------------------------------------------------------------------------------------------

    def check(self, prep: Prepared) -> Checked:
        """Every read-only check; raises UsageError naming the field. Nothing is written."""
        options = prep.options
        validate.tags(job_tags(prep.run, self.env_name, "", None), "--env")
        existing = self.store.load(prep.run)
        if existing is not None and existing.spec_hash != prep.spec_hash:
            hint = "choose another --name" if prep.explicit_name else "pass --name to submit it as a new run"
            raise UsageError(f"--name: run '{prep.run}' already exists with different settings; {hint}")
        existing_def = (
            jobdefs.find_existing(self.batch, options.job_definition, self.outputs.job_definitions)
            if options.job_definition
            else None
        )
        request = self._resource_request(prep, existing_def)
        jobdef = None
        if existing_def is None:
            jobdef = jobdefs.JobDefSpec(
                image=str(options.image),
                resources=request,
                retries=options.retries,
                timeout_s=prep.timeout_s,
                job_role_arn=self.outputs.job_role_arn,
                log_group=self.outputs.log_group,
                region=self.outputs.region_or_none,
            )
        checked = Checked(prep, existing, existing_def, request, jobdef, after=[], parts=[])
        if checked.already:
            return checked
        resources.check_fits(request, resources.queue_capacity(self.batch, self.ec2, prep.queue_name), prep.queue_key)
        check_s3_inputs(self.s3, prep.refs.s3)
        checked.after = resolve_after(self.batch, self.store, options.after)
        spans = split(len(prep.sheet) if prep.sheet else 1)
        checked.parts = [
            Part(
                name=part_name(prep.run, i, len(spans)),
                start=start,
                end=end,
                rows=list(range(start, end)) if prep.sheet else None,
                depends_on=depends_on(checked.after, i, spans),
            )
            for i, (start, end) in enumerate(spans)
        ]
        return checked

    # -- 3. apply ---------------------------------------------------------------------------------------------

    def apply(self, checked: Checked) -> SubmitResult:
        """The writes, in order: stage, register, record, submit. Raises no UsageError."""
        if checked.already:
            assert checked.existing is not None
            record = checked.existing
            return SubmitResult(record=record, already=True, submitted=0, payload=record.extra.get("payload", ""))
        prep = checked.prep
        staged = self._stage(prep)
        created = False
        if checked.jobdef is not None:
            jobdef_arn, created = jobdefs.ensure(self.batch, checked.jobdef)
        else:
            jobdef_arn = checked.job_definition
        job_spec = self._job_spec(checked, jobdef_arn)
        # One submit of a run at a time: the loser of two identical submits stops here with one line (exit 1).
        with self.store.lock(prep.run) as lock:
            current = self.store.load(prep.run)  # what a submit that held the lock before us left
            if current is not None and current.spec_hash != prep.spec_hash:
                raise RunFailed(f"run '{prep.run}' was submitted meanwhile with different settings; nothing sent")
            if current is not None and current.extra.get("state") == "submitted":
                payload = current.extra.get("payload", "")
                return SubmitResult(record=current, already=True, submitted=0, payload=payload)
            return self._submit_parts(checked, current, job_spec, lock, staged, created)

    def _submit_parts(
        self,
        checked: Checked,
        current: RunRecord | None,
        job_spec: JobSpec,
        lock: RunLock,
        staged: dict[str, str],
        created: bool,
    ) -> SubmitResult:
        """Under the run's lock: write the record (state ``submitting``), submit each part not yet recorded."""
        prep, options = checked.prep, checked.prep.options
        record = current or RunRecord(
            run=prep.run,
            env=self.env_name,
            queue=prep.queue_name,
            job_definition=job_spec.job_definition,
            image=options.image,
            command=options.command,
            resources={
                "vcpus": checked.request.vcpus,
                "memory_mib": checked.request.memory_mib,
                "gpus": checked.request.gpus,
            },
            spec_hash=prep.spec_hash,
            sample_count=len(prep.sheet) if prep.sheet else None,
            tags=job_spec.tags,
        )
        record.rows_token = record.rows_token or new_rows_token()
        record.extra.update(
            {
                "state": "submitting",
                "queue_key": prep.queue_key,
                "spec": job_spec.to_dict(),
                "parts": [{"name": p.name, "start": p.start, "end": p.end} for p in checked.parts],
                "after": [j.job_id for j in checked.after],
                "staged": staged,
            }
        )
        if prep.sheet is not None:
            self.store.save_sheet(record, sheet_to_json(prep.sheet))
        self.store.save(record)

        submitted = 0
        payload = "inline"
        done = {j.job_name for j in record.jobs}
        for part in checked.parts:
            if part.name in done:
                continue
            extra_env, kind = self._rows_env(prep.run, part.name, prep.sheet, part.rows, job_spec, record.rows_token)
            payload = kind if kind == "manifest" else payload
            req = job_spec.request(part.name, extra_env, part.array_size, part.depends_on)
            req["tags"] = {**req["tags"], **sample_tags(prep.sheet, part.rows)}
            job_id, created_job = self.batch.submit(req, submission_token(prep.run, prep.spec_hash, part.name))
            submitted += int(created_job)
            record.jobs.append(JobRef(job_id=job_id, job_name=part.name, array_size=part.array_size, rows=part.rows))
            self.store.save(record)
            lock.refresh()
            size = part.array_size
            self.log(f"submitted {part.name}: {job_id}" + (f" (array of {size})" if size else ""))
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

    def _job_spec(self, checked: Checked, jobdef_arn: str) -> JobSpec:
        prep, options, request = checked.prep, checked.prep.options, checked.request
        fresh = checked.existing_def is None
        job_spec = JobSpec(
            queue=prep.queue_name,
            job_definition=jobdef_arn,
            command=script(options.command),
            environment={
                "RUNNER_RUN": prep.run,
                **results.job_env(self.outputs.results_bucket, prep.run),
                **prep.env_vars,
            },
            vcpus=request.vcpus if (options.vcpus or fresh) else None,
            memory_mib=request.memory_mib if (prep.memory_mib or fresh) else None,
            gpus=request.gpus or None,
            retries=options.retries,
            timeout_s=prep.timeout_s,
            tags=self._tags(prep.run, pipeline_name(options.image, options.job_definition)),
        )
        if checked.existing_def is not None and options.command is None:
            job_spec.command = script(None) + list(checked.existing_def["containerProperties"].get("command", []))
        return job_spec

    def _tags(self, run: str, pipeline: str) -> dict[str, str]:
        return job_tags(run, self.env_name, pipeline, self.outputs.name_or_none)

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

    def _stage(self, prep: Prepared) -> dict[str, str]:
        if not prep.refs.local or prep.sheet is None:
            return {}
        data_bucket = str(self.outputs.data_bucket)
        mapping, report = stage_sheet_files(self.s3, data_bucket, prep.sheet, prep.refs)
        self.log(
            f"staged {len(mapping)} local files to s3://{data_bucket}/{staging.DEFAULT_PREFIX}: "
            f"{len(report.uploaded)} uploaded, {len(report.skipped)} already there"
        )
        return mapping

    def _row_env(self, run: str, sheet: sheets.Sheet, index: int) -> dict[str, str]:
        env = sheet.environment(index)
        # RUNNER_RESULTS_URI per sample
        return {**env, **results.job_env(self.outputs.results_bucket, run, env["SAMPLE_ID"])}

    def _rows_env(
        self,
        run: str,
        name: str,
        sheet: sheets.Sheet | None,
        rows: list[int] | None,
        job_spec: JobSpec,
        rows_token: str = "",
    ) -> tuple[dict[str, str], str]:
        """The variables that carry the rows: inline (RUNNER_ROWS) when small enough, else a manifest."""
        if sheet is None or rows is None:
            return {}, "none"
        table = "\n".join(row_line(self._row_env(run, sheet, i)) for i in rows)
        inline = {"RUNNER_ROWS": table}
        probe = job_spec.request(name, inline, len(rows), [{"jobId": "0" * 36, "type": "N_TO_N"}])
        if request_size(probe) <= INLINE_LIMIT:
            return inline, "inline"
        assert rows_token, "a rows manifest needs the run record's rows_token"
        key = self.store.layout(run).rows_key(name, rows_token)
        uri = self.store.put(key, (table + "\n").encode(), "text/plain")
        return {"RUNNER_MANIFEST_URI": uri}, "manifest"

    # -- retry --failed -------------------------------------------------------------------------------------------

    def retry_failed(
        self, record: RunRecord, rows: list[int], retry_of: list[str], queue: str | None = None
    ) -> list[JobRef]:
        """New jobs for a run's failed rows, one array job per up to 10,000 rows (or the failed single job);
        ``queue``: on that queue instead of the run's."""
        moved = f"retry --failed --on-demand to {queue}" if queue else None
        if record.samples_key and rows:
            return [
                self.resubmit_rows(record, rows[start : start + ARRAY_LIMIT], retry_of, queue, moved)
                for start in range(0, len(rows), ARRAY_LIMIT)
            ]
        return [self.resubmit_rows(record, None, retry_of, queue, moved)]

    def resubmit_rows(
        self,
        record: RunRecord,
        rows: list[int] | None,
        retry_of: list[str],
        queue: str | None = None,
        moved: str | None = None,
    ) -> JobRef:
        """A new job for exactly these sheet rows (array index i -> rows[i]), linked in the record; ``queue``
        sends it to another queue than the run's (the spot fallback, saying why in ``moved``)."""
        spec_data = record.extra.get("spec")
        if not spec_data:
            raise UsageError(f"RUN: run '{record.run}' was not submitted by `runner submit`; cannot retry it")
        job_spec = JobSpec(**spec_data)
        if queue:
            job_spec.queue = queue
        number = sum(1 for j in record.jobs if j.kind == "retry") + 1
        name = f"{record.run}-retry{number}"
        data = self.store.load_sheet(record) if rows is not None else None
        sheet = sheet_from_json(data) if data is not None else None
        if not record.rows_token:  # a record from before the tokens
            record.rows_token = new_rows_token()
        extra_env, _kind = self._rows_env(record.run, name, sheet, rows, job_spec, record.rows_token)
        size = len(rows) if rows is not None and len(rows) > 1 else None
        req = job_spec.request(name, extra_env, size, [])
        req["tags"] = {**req["tags"], **sample_tags(sheet, rows)}
        job_id, _created = self.batch.submit(req, submission_token(record.run, name, rows))
        ref = JobRef(
            job_id=job_id,
            job_name=name,
            kind="retry",
            array_size=size,
            rows=rows,
            retry_of=",".join(retry_of),
            queue=queue,
            moved=moved,
        )
        record.jobs.append(ref)
        self.store.save(record)
        return ref
