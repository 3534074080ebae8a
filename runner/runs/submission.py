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

The jobs' command, rows and tags: `runner.runs.payload`. A later resubmission of rows: `runner.runs.resubmit`.

Exactly once: the records and parts are written under the run's lock (`runner.session.lock`, an S3 conditional
write), so two identical submits at once make one job and the loser stops with one line. A killed
submit leaves a record in state ``submitting`` with its planned parts (INCOMPLETE in ``status``/``list``); running
it again submits each part through the Batch gateway (`runner.aws.batch.Batch.submit`), which looks the part up by
its deterministic job name and submission token before submitting it and never retries SubmitJob blindly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.aws.batch import ARRAY_LIMIT, Batch
from runner.compute import resources
from runner.core.errors import RunFailed, UsageError
from runner.files import results, sheets, staging
from runner.runs import jobdefs, validate
from runner.runs.payload import (
    JobSpec,
    RunWriter,
    digest,
    pipeline_name,
    sample_tags,
    script,
    sheet_to_json,
    submission_token,
)
from runner.session.lock import RunLock
from runner.session.outputs import Outputs
from runner.session.runs import (
    RUN_TAG,
    JobRef,
    RunRecord,
    RunStore,
    job_ref,
    job_tags,
    lookup,
    new_rows_token,
    validate_run_name,
)

if TYPE_CHECKING:
    from runner.runs.tracking import RunStatus

MAX_DEPENDENCIES = 20
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

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


def prepare(options: SubmitOptions, outputs: Outputs, cwd: Path | None = None) -> Prepared:
    """Validate every input that needs no AWS call; raise UsageError naming the field."""
    _check_options(options)
    memory_mib = resources.parse_memory(options.memory) if options.memory is not None else None
    timeout_s = resources.parse_duration(options.timeout) if options.timeout is not None else None
    env_vars = parse_env_vars(options.env_vars)
    if options.name is not None:
        validate_run_name(options.name)
    queue = outputs.queue(options.queue)
    if options.image:
        validate.image_reference(options.image)
    if options.group_by and not options.samples:
        raise UsageError("--group-by: only with --samples")
    sheet = sheets.read_sheet(options.samples, group_by=options.group_by) if options.samples else None
    refs = sheets.file_refs(sheet, options.allow_files_outside) if sheet else sheets.FileRefs()
    if refs.local and not outputs.data_bucket:
        raise UsageError("--samples: the sheet names local files but this env has no data bucket to stage them")
    content = sheet.digest if sheet else None
    identity = digest(content, options.command, options.image or options.job_definition)
    spec_hash = digest(
        identity,
        queue.name,
        options.vcpus,
        memory_mib,
        options.gpus,
        options.job_definition,
        options.retries,
        timeout_s,
        env_vars,
        options.after,
    )[:24]
    run, explicit = _run_name(options, sheet, identity)
    probe = JobSpec(
        queue=queue.name, job_definition="", command=script(options.command),
        environment={"RUNNER_RUN": run, **env_vars}, vcpus=options.vcpus or 1, memory_mib=memory_mib,
        gpus=options.gpus, retries=options.retries, timeout_s=timeout_s, tags={RUN_TAG: run},
    )  # fmt: skip
    validate.request_fits(probe, f"{run}-retry999", options.command, env_vars)  # Batch's 30 KiB, before any write
    return Prepared(
        options=options,
        queue_key=queue.key,
        queue_name=queue.name,
        env_vars=env_vars,
        memory_mib=memory_mib,
        timeout_s=timeout_s,
        sheet=sheet,
        refs=refs,
        run=run,
        spec_hash=spec_hash,
        explicit_name=explicit,
    )


def _check_options(options: SubmitOptions) -> None:
    """What to run (an image or a job definition, a command unless the definition has one) and the counts."""
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


def _run_name(options: SubmitOptions, sheet: sheets.Sheet | None, identity: str) -> tuple[str, bool]:
    """(the run's name, whether it was given): ``--name``, else the sheet's (or "job") with the identity's hash."""
    if options.name:
        return options.name, True
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", sheet.path.stem if sheet else "job").strip("-_")[:60] or "job"
    return validate_run_name(f"{stem}-{identity[:10]}"), False


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
    env: str = ""
    status: RunStatus | None = None  # how the run ended, when it was followed (`runner submit --wait`)

    def to_dict(self) -> dict[str, Any]:
        record = self.record
        summary = {
            "run": record.run,
            "env": self.env,
            "already_submitted": self.already,
            "submitted": self.submitted,
            "queue": record.queue,
            "job_definition": record.job_definition,
            "payload": self.payload,
            "staged": self.staged,
            "jobs": [
                {"job_id": j.job_id, "job_name": j.job_name, "array_size": j.array_size, "kind": j.kind}
                for j in record.jobs
            ],
        }
        return summary if self.status is None else {**summary, "status": self.status.to_dict()}

    @property
    def exit_code(self) -> int:
        """1 when the run was followed and a row failed."""
        return 1 if self.status is not None and self.status.failed else 0


class Submitter(RunWriter):
    """Submission for one env: `plan` (local), `check` (read-only AWS), `apply` (writes); `submit` does all three."""

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
        sheets.check_s3_inputs(self.s3, prep.refs.s3)
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
            payload = record.extra.get("payload", "")
            return SubmitResult(record=record, already=True, submitted=0, payload=payload, env=self.env_name)
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
                return SubmitResult(record=current, already=True, submitted=0, payload=payload, env=self.env_name)
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
        record = self._planned_record(checked, current, job_spec, staged)
        submitted = 0
        payload = "inline"
        done = {j.job_name for j in record.jobs}
        for part in checked.parts:
            if part.name in done:
                continue
            created_job, kind = self._submit_part(checked.prep, part, record, job_spec, lock)
            submitted += int(created_job)
            payload = kind if kind == "manifest" else payload
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
            env=self.env_name,
        )

    def _planned_record(
        self, checked: Checked, current: RunRecord | None, job_spec: JobSpec, staged: dict[str, str]
    ) -> RunRecord:
        """The run's record with every planned part (a record a killed submit left is completed), and its sheet,
        written before the first part is submitted."""
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
        return record

    def _submit_part(
        self, prep: Prepared, part: Part, record: RunRecord, job_spec: JobSpec, lock: RunLock
    ) -> tuple[bool, str]:
        """Submit one part (found, not sent again, when an earlier submit sent it), record its job at once and hold
        the lock on: (whether SubmitJob created it, how its rows travel)."""
        extra_env, kind = self._rows_env(prep.run, part.name, prep.sheet, part.rows, job_spec, record.rows_token)
        req = job_spec.request(part.name, extra_env, part.array_size, part.depends_on)
        req["tags"] = {**req["tags"], **sample_tags(prep.sheet, part.rows)}
        job_id, created_job = self.batch.submit(req, submission_token(prep.run, prep.spec_hash, part.name))
        record.jobs.append(JobRef(job_id=job_id, job_name=part.name, array_size=part.array_size, rows=part.rows))
        self.store.save(record)
        lock.refresh()
        size = part.array_size
        self.log(f"submitted {part.name}: {job_id}" + (f" (array of {size})" if size else ""))
        return created_job, kind

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
        mapping, report = sheets.stage_sheet_files(self.s3, data_bucket, prep.sheet, prep.refs)
        self.log(
            f"staged {len(mapping)} local files to s3://{data_bucket}/{staging.DEFAULT_PREFIX}: "
            f"{len(report.uploaded)} uploaded, {len(report.skipped)} already there"
        )
        return mapping
