"""`runner nextflow`: the generated Nextflow configuration and pipeline runs with a head job in AWS
(runner.nextflow.commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import nextflow as view

DEFAULT_TASK_QUEUE = "default"  # runner.nextflow.settings.DEFAULT_TASK_QUEUE (loaded by the commands only)

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
    queue: QueueOpt = DEFAULT_TASK_QUEUE,
    as_json: JsonOpt = False,
) -> None:
    """Write the awsbatch configuration of an env (queue, S3 work dir, CLI path, roles, spot retries, labels)."""
    from runner.nextflow import commands

    result = commands.configure(common.session(env), commands.ConfigRequest(output=output, run=run, queue=queue))
    view.config(result, as_json)


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
    queue: QueueOpt = DEFAULT_TASK_QUEUE,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline with its head job on the env's head queue; extra nextflow args go after `--`."""
    from runner.nextflow import commands
    from runner.nextflow.pipeline import RunRequest

    session = common.session(env)
    request = RunRequest(
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
    view.launched(commands.run(session, request), as_json)
