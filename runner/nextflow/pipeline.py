"""Nextflow runs with a head job in AWS (the generated configuration they run with: `runner.nextflow.settings`).

`plan_run` checks everything first (exit 2, nothing staged or submitted); `launch` stages the configuration and the
params file under ``s3://<work bucket>/runs/<run>/``, submits one head job on the env's ``head`` queue with the
``nextflow-head`` job definition, and records the run (`runner.session.runs`) so status, logs and cancel work on it.

Resuming: the task cache lives in S3 (``NXF_CLOUDCACHE_PATH``) and the head job saves Nextflow's run history next
to the run record when it ends, so a later head job for the same run (``--resume``) restores the history, reuses
the same work directory and passes ``-resume``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from runner.aws.batch import ACTIVE_STATUSES, Batch
from runner.core.errors import RunFailed, UsageError
from runner.core.project import Env
from runner.nextflow import inputs
from runner.nextflow.settings import DEFAULT_TASK_QUEUE, build_config, config_text, work_dir
from runner.session.outputs import Outputs
from runner.session.runs import (
    TAG_VALUE_MAX,
    JobRef,
    RunLayout,
    RunRecord,
    RunStore,
    job_tags,
    validate_run_name,
)

HEAD_DEFINITION = "nextflow-head"
NXF_RUN_NAME = re.compile(r"^[a-z](?:[a-z\d]|[-_](?=[a-z\d])){0,79}$")
# Options the runner sets itself; given after `--` they would silently fight the generated ones.
RESERVED_ARGS = {
    "-c": "the generated config (runner nextflow config)",
    "-C": "the generated config (runner nextflow config)",
    "-config": "the generated config (runner nextflow config)",
    "-params-file": "--params-file",
    "-r": "--revision",
    "-revision": "--revision",
    "-profile": "--profile",
    "-name": "--name",
    "-resume": "--resume",
    "-w": "the run's work directory",
    "-work-dir": "the run's work directory",
    "-bucket-dir": "the run's work directory",
}
PIPELINE = re.compile(r"^(?:[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?|(?:https?|git|ssh)://\S+|git@\S+)$")
REVISION = re.compile(r"^[\w][\w./-]{0,199}$")
PROFILE = re.compile(r"^[\w-]+(?:,[\w-]+)*$")


# ---------------------------------------------------------------------------------------------------------------
# Runs: validation
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class RunRequest:
    """What `runner nextflow run` was asked to do, before anything is checked."""

    pipeline: str
    name: str | None = None
    revision: str | None = None
    params_file: Path | None = None
    profile: str | None = None
    resume: bool = False
    head_image: str | None = None
    queue: str = DEFAULT_TASK_QUEUE
    extra_args: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Params:
    body: bytes
    suffix: str  # .json or .yaml: Nextflow picks the parser from the extension
    values: dict[str, Any]


def resume_request(record: RunRecord) -> RunRequest:
    """`runner retry RUN` on a Nextflow run: the same pipeline, revision, profile, params, task queue and extra
    args, resumed (``-resume`` in the same work directory: finished tasks are reused)."""
    extra = record.extra
    if record.kind != "nextflow" or not extra.get("pipeline"):
        raise UsageError(f"RUN: run '{record.run}' is not a Nextflow run")
    return RunRequest(
        pipeline=str(extra["pipeline"]),
        name=record.run,
        revision=extra.get("revision"),
        profile=extra.get("profile"),
        resume=True,
        queue=str(extra.get("task_queue") or DEFAULT_TASK_QUEUE),
        extra_args=list(extra.get("extra_args") or []),
    )


def validate_pipeline(pipeline: str) -> str:
    pipeline = pipeline.strip()
    if not pipeline:
        raise UsageError("PIPELINE: empty pipeline name (e.g. nf-core/rnaseq or https://github.com/org/repo)")
    if pipeline.startswith(("/", "./", "../", "~")) or pipeline.endswith(".nf") or not PIPELINE.match(pipeline):
        raise UsageError(
            f"PIPELINE: '{pipeline}' is not a pipeline repository (owner/name or a git URL); "
            "the head job runs in AWS and cannot read local files"
        )
    return pipeline


def read_params(path: Path) -> Params:
    """The params file as staged (its own bytes) and parsed; JSON or YAML holding a map."""
    if not path.is_file():
        raise UsageError(f"--params-file: '{path}' does not exist or is not a file")
    body = path.read_bytes()
    text = body.decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    values: Any
    try:
        if suffix == ".json":
            values = json.loads(text)
            kind = ".json"
        elif suffix in (".yaml", ".yml"):
            values = yaml.safe_load(text)
            kind = ".yaml"
        else:
            try:
                values, kind = json.loads(text), ".json"
            except ValueError:
                values, kind = yaml.safe_load(text), ".yaml"
    except (ValueError, yaml.YAMLError) as exc:
        what = "JSON" if suffix == ".json" else "YAML" if suffix in (".yaml", ".yml") else "JSON or YAML"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--params-file: '{path}' is not valid {what}: {detail}") from None
    if not isinstance(values, dict) or not values:
        raise UsageError(f"--params-file: '{path}' must hold a non-empty map of parameter names to values")
    return Params(body=body, suffix=kind, values=values)


def check_extra_args(args: list[str]) -> list[str]:
    for arg in args:
        option = arg.split("=", 1)[0]
        if option in RESERVED_ARGS:
            raise UsageError(f"extra nextflow args: '{option}' is set by the runner; use {RESERVED_ARGS[option]}")
        if "\n" in arg or "\0" in arg:
            raise UsageError(f"extra nextflow args: {arg!r} contains a newline")
    return list(args)


def default_run_name(pipeline: str, now: datetime | None = None) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", pipeline.rstrip("/").split("/")[-1].removesuffix(".git").lower()).strip("-")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{base[:60] or 'nextflow'}-{stamp}"


def nextflow_run_name(run: str, attempt: int) -> str:
    """Nextflow's `-name` for a head job: its pattern is stricter than run names, and a name is used once."""
    name = re.sub(r"[^a-z0-9_-]", "-", run.lower())
    name = re.sub(r"[-_]{2,}", "-", name)
    if not name[:1].isalpha():
        name = "nf-" + name
    suffix = f"-r{attempt}" if attempt > 1 else ""
    name = name[: 80 - len(suffix)].rstrip("-_") + suffix
    assert NXF_RUN_NAME.match(name), name
    return name


# ---------------------------------------------------------------------------------------------------------------
# Runs: the head job
# ---------------------------------------------------------------------------------------------------------------


def params_file_name(params_uri: str | None) -> str | None:
    """The params file's name in the head job's launch folder (its extension tells Nextflow the format)."""
    return ("params" + Path(params_uri).suffix) if params_uri else None


def head_script(plan: Plan) -> str:
    """The POSIX sh program of the head job: fetch, run nextflow (forwarding SIGTERM), save history and log."""
    q = shlex.quote
    layout, params_uri, params_name = plan.layout, plan.params_uri, params_file_name(plan.params_uri)
    aws_cli_path, nf_name = plan.aws_cli_path, plan.nf_name
    lines = [
        "set -eu",
        'launch_dir="${RUNNER_LAUNCH_DIR:-/tmp/nextflow-launch}"',
        'mkdir -p "$launch_dir" && cd "$launch_dir"',
        "if command -v aws >/dev/null 2>&1; then aws_cli=aws",
        f"elif [ -x {q(aws_cli_path)} ]; then aws_cli={q(aws_cli_path)}",
        "else aws_cli=''; fi",
        "copy() {",
        '  if [ -n "$aws_cli" ]; then "$aws_cli" s3 cp --only-show-errors "$1" "$2"',
        '  else nextflow -q fs cp "$1" "$2"; fi',
        "}",
        f"copy {q(layout.uri(layout.config_key))} nextflow.config",
    ]
    if params_uri and params_name:
        lines.append(f"copy {q(params_uri)} {q(params_name)}")
    if plan.request.resume:
        lines += [
            "mkdir -p .nextflow",
            f"copy {q(layout.uri(layout.history_key))} .nextflow/history"
            " || echo 'runner: no saved history for this run: -resume has nothing to resume' >&2",
        ]
    lines += [
        "nf_pid=''",
        """trap '[ -n "$nf_pid" ] && kill -TERM "$nf_pid" 2>/dev/null || true' TERM INT""",
        " ".join(q(a) for a in plan.nextflow_args) + " &",
        "nf_pid=$!",
        "status=0",
        'wait "$nf_pid" || status=$?',
        'if [ "$status" -gt 128 ] && kill -0 "$nf_pid" 2>/dev/null; then status=0; wait "$nf_pid" || status=$?; fi',
        f"if [ -f .nextflow/history ]; then copy .nextflow/history {q(layout.uri(layout.history_key))} || true; fi",
        f"if [ -f .nextflow.log ]; then copy .nextflow.log {q(layout.uri(layout.log_key(nf_name)))} || true; fi",
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Plan:
    """Everything `launch` will do, resolved and checked before the first write."""

    env: Env
    run: str
    pipeline: str
    attempt: int
    nf_name: str
    layout: RunLayout
    config: str
    params: Params | None
    params_uri: str | None
    head_queue_arn: str
    head_queue_name: str
    head_definition: str
    task_queue: str
    work_dir: str
    nextflow_args: list[str]
    aws_cli_path: str
    environment: dict[str, str]
    tags: dict[str, str]
    existing: RunRecord | None
    request: RunRequest
    head_image: str | None = None  # the image the head job runs (known after `check_against_aws`)
    input: inputs.InputSheet | None = None  # the params' `input:` sheet (checked before anything is submitted)
    data_bucket: str | None = None  # where its local files are staged

    @property
    def script(self) -> str:
        return head_script(self)

    @property
    def job_name(self) -> str:
        return f"{self.run}-head" if self.attempt == 1 else f"{self.run}-head-{self.attempt}"


def plan_run(
    env: Env,
    outputs: Outputs,
    request: RunRequest,
    store: RunStore | None,
    endpoint: str | None = None,
) -> Plan:
    """Check the request against the env (no writes); `store` None skips the run-record checks (unit tests)."""
    pipeline, extra, params = _check_request(request)
    input_sheet = inputs.read_input(params.values, outputs) if params is not None else None
    run = validate_run_name(request.name) if request.name else default_run_name(pipeline)
    if request.resume and not request.name:
        raise UsageError("--resume: name the run to resume with --name RUN")
    bucket = outputs.work_bucket
    head_queue = outputs.head_queue()
    head_definition = outputs.job_definition(HEAD_DEFINITION)
    aws_cli_path = outputs.aws_cli_path
    task_queue = outputs.queue(request.queue).name
    region = outputs.region
    existing, attempt = _existing(env, store, run, request, pipeline)
    layout = RunLayout(bucket=bucket, run=run)
    tree = build_config(env, outputs, run=run, queue=request.queue, endpoint=endpoint, pipeline=pipeline)
    if params is not None:
        params_uri: str | None = layout.uri(layout.params_key(params.suffix))
    else:
        params_uri = existing.extra.get("params_uri") if existing is not None else None
    nf_name = nextflow_run_name(run, attempt)
    return Plan(
        env=env,
        run=run,
        pipeline=pipeline,
        attempt=attempt,
        nf_name=nf_name,
        layout=layout,
        config=config_text(env, tree, run=run),
        params=params,
        params_uri=params_uri,
        head_queue_arn=str(head_queue.arn),
        head_queue_name=head_queue.name,
        head_definition=head_definition,
        task_queue=task_queue,
        work_dir=work_dir(outputs, run),
        nextflow_args=_nextflow_args(pipeline, request, existing, params_file_name(params_uri), nf_name, extra),
        aws_cli_path=aws_cli_path,
        environment=_head_environment(env.name, region, run, work_dir(outputs, run), layout, endpoint),
        tags=job_tags(run, env.name, pipeline[:TAG_VALUE_MAX], outputs.name_or_none, kind="nextflow-head"),
        existing=existing,
        request=request,
        input=input_sheet,
        data_bucket=outputs.data_bucket,
    )


def _check_request(request: RunRequest) -> tuple[str, list[str], Params | None]:
    """What needs neither AWS nor the env: (the pipeline, the extra nextflow args, the params file read)."""
    pipeline = validate_pipeline(request.pipeline)
    if request.revision is not None and not REVISION.match(request.revision):
        raise UsageError(f"--revision: '{request.revision}' is not a branch, tag or commit")
    if request.profile is not None and not PROFILE.match(request.profile):
        raise UsageError(f"--profile: '{request.profile}' is not a comma-separated list of profile names")
    if request.head_image is not None and (not request.head_image.strip() or re.search(r"\s", request.head_image)):
        raise UsageError(f"--head-image: '{request.head_image}' is not an image reference")
    extra = check_extra_args(request.extra_args)
    params = read_params(request.params_file) if request.params_file is not None else None
    return pipeline, extra, params


def _existing(
    env: Env, store: RunStore | None, run: str, request: RunRequest, pipeline: str
) -> tuple[RunRecord | None, int]:
    """The run's record, if it exists (only a resumed Nextflow run of the same pipeline may), and the head job's
    attempt (1: a new run)."""
    existing = store.load(run) if store is not None else None
    if existing is not None and not request.resume:
        raise UsageError(
            f"--name: run '{run}' already exists ({existing.kind}, created {existing.created_at}); "
            f"add --resume to continue it, or choose another --name"
        )
    if not request.resume or store is None:
        return existing, 1
    if existing is None:
        raise UsageError(f"--resume: no run '{run}' in env '{env.name}' to resume")
    if existing.kind != "nextflow":
        raise UsageError(f"--resume: run '{run}' is a {existing.kind} run, not a Nextflow run")
    if existing.extra.get("pipeline") != pipeline:
        raise UsageError(
            f"PIPELINE: run '{run}' ran '{existing.extra.get('pipeline')}'; resume it with the same pipeline"
        )
    return existing, sum(1 for j in existing.jobs if j.kind == "head") + 1


def _nextflow_args(
    pipeline: str,
    request: RunRequest,
    existing: RunRecord | None,
    params_name: str | None,
    nf_name: str,
    extra: list[str],
) -> list[str]:
    """The head job's ``nextflow run`` command line (a resumed run keeps its revision and profile)."""
    revision = request.revision or (existing.extra.get("revision") if existing is not None else None)
    profile = request.profile or (existing.extra.get("profile") if existing is not None else None)
    args = ["nextflow", "run", pipeline, "-c", "nextflow.config"]
    if params_name:
        args += ["-params-file", params_name]
    if revision:
        args += ["-r", revision]
    if profile:
        args += ["-profile", profile]
    args += ["-name", nf_name]
    if request.resume:
        args.append("-resume")
    return args + extra


def _head_environment(
    env: str, region: str, run: str, wdir: str, layout: RunLayout, endpoint: str | None
) -> dict[str, str]:
    environment = {
        "NXF_ANSI_LOG": "false",
        "NXF_WORK": wdir,
        "NXF_CLOUDCACHE_PATH": layout.cache_uri,
        "RUNNER_ENV": env,
        "RUNNER_RUN": run,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if endpoint:
        environment["AWS_ENDPOINT_URL"] = endpoint
    return environment


def check_against_aws(plan: Plan, batch: Batch) -> None:
    """Read-only checks: the queues exist and are enabled, and a resumed run's head job is not still running."""
    wanted = {plan.head_queue_arn: "head queue", plan.task_queue: "--queue"}
    found = batch.queues(list(wanted))
    by_key = {q["jobQueueArn"]: q for q in found} | {q["jobQueueName"]: q for q in found}
    for ref, what in wanted.items():
        queue = by_key.get(ref)
        if queue is None:
            raise UsageError(f"{what}: queue '{ref}' does not exist in AWS; is the env applied? (runner infra apply)")
        if queue.get("state") != "ENABLED":
            raise UsageError(f"{what}: queue '{queue['jobQueueName']}' is {queue.get('state')}, not ENABLED")
    found_definitions = batch.job_definitions([plan.head_definition])
    if not found_definitions:
        raise UsageError(
            f"--env: head job definition '{plan.head_definition}' does not exist in AWS; is the env applied?"
        )
    plan.head_image = found_definitions[0]["containerProperties"].get("image")
    if plan.existing is not None:
        heads = [j.job_id for j in plan.existing.jobs if j.kind == "head"]
        if heads:
            job = batch.job(heads[-1])
            if job and job["status"] in ACTIVE_STATUSES:
                raise UsageError(
                    f"--resume: run '{plan.run}' head job {heads[-1]} is still {job['status']}; "
                    f"wait for it or cancel it first (runner cancel {plan.run})"
                )


def check_inputs(plan: Plan, s3: Any) -> None:
    """Read-only: the ``input:`` sheet and every s3:// file it names exist and are readable."""
    if plan.input is not None:
        inputs.check_input(plan.input, s3)


def stage_inputs(plan: Plan, store: RunStore) -> None:
    """A local ``input:`` sheet and its files go to S3; the params staged with the run point at the staged sheet."""
    if plan.input is None or plan.input.kind != "local" or plan.params is None:
        return
    uri = inputs.stage_input(plan.input, store.s3, store, plan.layout, plan.data_bucket)
    if uri is None:
        return
    values = {**plan.params.values, inputs.INPUT_PARAM: uri}
    body = json.dumps(values, indent=2) if plan.params.suffix == ".json" else yaml.safe_dump(values, sort_keys=False)
    plan.params = Params(body=body.encode(), suffix=plan.params.suffix, values=values)


def head_job_definition(plan: Plan, batch: Batch) -> str:
    """The head job definition to submit with: the env's, or one derived from it for `--head-image`."""
    image = plan.request.head_image
    if not image or image == plan.head_image:
        return plan.head_definition
    base = batch.job_definitions([plan.head_definition])
    if not base:
        raise UsageError(f"--env: head job definition '{plan.head_definition}' does not exist; apply the env first")
    definition = base[0]
    name = f"{definition['jobDefinitionName']}-{hashlib.sha256(image.encode()).hexdigest()[:10]}"
    container = dict(definition["containerProperties"], image=image)
    for current in batch.active_definitions(name):
        if current["containerProperties"] == container:
            return str(current["jobDefinitionArn"])
    kwargs: dict[str, Any] = {
        "jobDefinitionName": name,
        "type": "container",
        "containerProperties": container,
        "propagateTags": definition.get("propagateTags", True),
        "tags": {**definition.get("tags", {}), "runner:derived-from": definition["jobDefinitionName"]},
    }
    for key in ("retryStrategy", "timeout", "platformCapabilities", "parameters"):
        if definition.get(key):
            kwargs[key] = definition[key]
    return batch.register_job_definition(**kwargs)


def launch(plan: Plan, store: RunStore, batch: Batch) -> RunRecord:
    """Stage the config and params, submit the head job and record the run (after `check_against_aws`)."""
    definition = head_job_definition(plan, batch)
    stage_inputs(plan, store)
    store.put(plan.layout.config_key, plan.config.encode(), "text/plain")
    if plan.params is not None:
        kind = "application/json" if plan.params.suffix == ".json" else "application/yaml"
        store.put(plan.layout.params_key(plan.params.suffix), plan.params.body, kind)
    previous = [j for j in plan.existing.jobs if j.kind == "head"] if plan.existing else []
    request: dict[str, Any] = {
        "jobName": plan.job_name,
        "jobQueue": plan.head_queue_arn,
        "jobDefinition": definition,
        "containerOverrides": {
            "command": ["sh", "-c", plan.script],
            "environment": [{"name": k, "value": v} for k, v in plan.environment.items()],
        },
        "tags": plan.tags,
        "propagateTags": True,
    }
    job_id, _created = batch.submit(request, token=f"{plan.run}/{plan.attempt}/{plan.nf_name}")
    job = JobRef(
        job_id=job_id,
        job_name=plan.job_name,
        kind="head",
        retry_of=previous[-1].job_id if previous else None,
    )
    record = _record(plan, job, definition)
    try:
        store.save(record)
    except Exception as exc:
        # A head job nobody can find is worse than none: take it back.
        batch.terminate(job.job_id, "runner could not record the run")
        raise RunFailed(f"could not record run '{plan.run}' ({exc}); its head job {job.job_id} was terminated") from exc
    return record


def _record(plan: Plan, job: JobRef, definition: str) -> RunRecord:
    """The run's record with its new head job: what it runs, where, and its history (resumes, logs, names)."""
    asked = plan.request
    extra_base = dict(plan.existing.extra) if plan.existing else {}
    extra = extra_base | {
        "pipeline": plan.pipeline,
        "revision": asked.revision or extra_base.get("revision"),
        "profile": asked.profile or extra_base.get("profile"),
        "work_dir": plan.work_dir,
        "config_uri": plan.layout.uri(plan.layout.config_key),
        "params_uri": plan.params_uri,
        "history_uri": plan.layout.uri(plan.layout.history_key),
        "cache_uri": plan.layout.cache_uri,
        "log_uris": [*extra_base.get("log_uris", []), plan.layout.uri(plan.layout.log_key(plan.nf_name))],
        "nextflow_names": [*extra_base.get("nextflow_names", []), plan.nf_name],
        "task_queue": plan.task_queue,
        "extra_args": list(asked.extra_args),
        "resumes": extra_base.get("resumes", 0) + (1 if asked.resume else 0),
    }
    if plan.existing is not None:
        record = plan.existing
        record.jobs.append(job)
        record.job_definition = definition
        record.command = plan.script
        record.extra = extra
    else:
        record = RunRecord(
            run=plan.run,
            env=plan.env.name,
            kind="nextflow",
            queue=plan.head_queue_name,
            job_definition=definition,
            image=asked.head_image or plan.head_image,
            command=plan.script,
            jobs=[job],
            tags=plan.tags,
            extra=extra,
        )
    record.image = asked.head_image or plan.head_image
    return record


def plan_summary(plan: Plan, record: RunRecord) -> dict[str, Any]:
    head = record.jobs[-1]
    return {
        "run": plan.run,
        "env": plan.env.name,
        "head_job_id": head.job_id,
        "head_job_name": head.job_name,
        "head_queue": plan.head_queue_name,
        "job_definition": record.job_definition,
        "work_dir": plan.work_dir,
        "config_uri": record.extra["config_uri"],
        "params_uri": plan.params_uri,
        "task_queue": plan.task_queue,
        "nextflow_name": plan.nf_name,
        "resume": plan.request.resume,
    }
