"""`runner nextflow`: the generated Nextflow configuration and pipeline runs with a head job in AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.aws.context import AwsContext
from runner.cli import preflight
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.core.project import resolve_env
from runner.jobs.runs import RunStore, validate_run_name
from runner.nextflow import pipeline as nf
from runner.nextflow.config import Closure, flatten

app = typer.Typer(help="Nextflow pipelines on the env's AWS Batch queues.", no_args_is_help=True)

QueueOpt = Annotated[
    str,
    typer.Option("--queue", "-q", help="Queue the pipeline's tasks go to: a key of the env's queues (or a name)."),
]


@app.command("config")
def nextflow_config(
    env: EnvOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the config to this file (default: stdout).")
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Run name: work dir nextflow/RUN and the cost label.")
    ] = None,
    queue: QueueOpt = nf.DEFAULT_TASK_QUEUE,
    as_json: JsonOpt = False,
) -> None:
    """Write the awsbatch configuration of an env (queue, S3 work dir, CLI path, roles, spot retries, labels)."""
    environment = resolve_env(env)
    if run is not None:
        validate_run_name(run, "--run")
    values = preflight.load_outputs(environment)
    tree = nf.build_config(environment, values, run=run, queue=queue, endpoint=nf.emulator_endpoint(environment))
    text = nf.config_text(environment, tree, run=run)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    if as_json:
        settings = {k: (v.text if isinstance(v, Closure) else v) for k, v in flatten(tree).items()}
        console.print_json({"env": environment.name, "output": str(output) if output else None, "settings": settings})
    elif output is None:
        console.out.print(text, end="", markup=False)
    else:
        console.note(f"wrote {output}")


@app.command(
    "run",
    context_settings={"allow_extra_args": True},
)
def nextflow_run(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="Pipeline repository, e.g. nf-core/rnaseq or a git URL.")],
    env: EnvOpt = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Run name (default: pipeline-timestamp).")] = None,
    revision: Annotated[str | None, typer.Option("--revision", "-r", help="Branch, tag or commit.")] = None,
    params_file: Annotated[
        Path | None, typer.Option("--params-file", help="Pipeline parameters, JSON or YAML.")
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Nextflow profile(s), comma-separated.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue run --name in its work directory (nextflow -resume).")
    ] = False,
    head_image: Annotated[
        str | None, typer.Option("--head-image", help="Image of the head job (default: the env's Nextflow image).")
    ] = None,
    queue: QueueOpt = nf.DEFAULT_TASK_QUEUE,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline with its head job on the env's head queue; extra nextflow args go after `--`."""
    environment = resolve_env(env)
    request = nf.RunRequest(
        pipeline=pipeline,
        name=name,
        revision=revision,
        params_file=params_file,
        profile=profile,
        resume=resume,
        head_image=head_image,
        queue=queue,
        extra_args=list(ctx.args),
    )
    values = preflight.load_outputs(environment)
    nf.plan_run(environment, values, request, store=None)  # everything checkable offline, before any AWS call
    aws = AwsContext(environment)
    s3, batch = aws.client("s3"), aws.client("batch")
    store = RunStore(s3, nf._output(values, "bucket_names", "work"))
    plan = nf.plan_run(environment, values, request, store=store, endpoint=nf.emulator_endpoint(environment))
    nf.check_against_aws(plan, batch)
    record = nf.launch(plan, s3, batch, store)
    summary = nf.plan_summary(plan, record)
    if as_json:
        console.print_json(summary)
        return
    verb = "resumed" if resume else "submitted"
    console.out.print(
        f"{verb} run {plan.run}: head job {summary['head_job_id']} on {plan.head_queue_name}\n"
        f"  work dir  {plan.work_dir}\n"
        f"  config    {summary['config_uri']}\n"
        f"  follow it runner status {plan.run} --env {environment.name}   "
        f"(logs: runner logs {plan.run} --env {environment.name})",
        markup=False,
    )
