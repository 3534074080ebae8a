"""`runner nextflow`: the generated Nextflow configuration and pipeline runs with a head job in AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console
from runner.nextflow import pipeline as nf
from runner.nextflow.config import Closure, flatten
from runner.session.runs import validate_run_name

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
    session = common.session(env)
    if run is not None:
        validate_run_name(run, "--run")
    endpoint = session.aws.endpoint_for_jobs
    tree = nf.build_config(session.env, session.outputs, run=run, queue=queue, endpoint=endpoint)
    text = nf.config_text(session.env, tree, run=run)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    if as_json:
        settings = {k: (v.text if isinstance(v, Closure) else v) for k, v in flatten(tree).items()}
        console.print_json({"env": session.name, "output": str(output) if output else None, "settings": settings})
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
    session = common.session(env)
    request = nf.RunRequest(**common.matching(nf.RunRequest, ctx.params), extra_args=list(ctx.args))
    nf.plan_run(session.env, session.outputs, request, store=None)  # everything checkable offline, before AWS
    endpoint = session.aws.endpoint_for_jobs
    plan = nf.plan_run(session.env, session.outputs, request, store=session.store, endpoint=endpoint)
    nf.check_against_aws(plan, session.batch)
    record = nf.launch(plan, session.store, session.batch)
    summary = nf.plan_summary(plan, record)
    if as_json:
        console.print_json(summary)
        return
    verb = "resumed" if resume else "submitted"
    console.out.print(
        f"{verb} run {plan.run}: head job {summary['head_job_id']} on {plan.head_queue_name}\n"
        f"  work dir  {plan.work_dir}\n"
        f"  config    {summary['config_uri']}\n"
        f"  follow it runner status {plan.run} --env {session.name}   "
        f"(logs: runner logs {plan.run} --env {session.name})",
        markup=False,
    )
