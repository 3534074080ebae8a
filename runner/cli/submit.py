"""`runner submit`: one job, or one array job per up to 10,000 sample-sheet rows (runner.runs.submit); `--dry-run`
stops after the checks and prints what would be submitted."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import MAX_SPOT_ATTEMPTS, EnvOpt, IntervalOpt, JsonOpt, MaxSpotOpt, SpotPatienceOpt
from runner.cli.render import runs as view

CommandOpt = Annotated[str | None, typer.Option("--command", "-c", help="Shell command run with /bin/sh -c.")]
ImageOpt = Annotated[str | None, typer.Option("--image", "-i", help="Container image.")]
VcpusOpt = Annotated[int | None, typer.Option("--vcpus", help="vCPUs per job (default 1).")]
MemoryOpt = Annotated[
    str | None, typer.Option("--memory", help="Memory per job: 4GiB, 16G (GiB), 512 (MiB); 4GB = 4e9 bytes.")
]
GpusOpt = Annotated[int | None, typer.Option("--gpus", help="GPUs per job.")]
SamplesOpt = Annotated[str | None, typer.Option("--samples", "-s", help="Sample sheet (.csv or .tsv).")]
GroupByOpt = Annotated[
    str | None, typer.Option("--group-by", help="Sample id column: rows sharing it are one sample's lanes.")
]
AllowOutsideOpt = Annotated[
    list[str] | None, typer.Option("--allow-files-outside", metavar="DIR", help="Also stage files under DIR.")
]
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="Run name (default: from sheet+command+image).")]
QueueOpt = Annotated[str, typer.Option("--queue", "-q", help="Queue key (default, priority, ...) or name.")]
JobDefinitionOpt = Annotated[
    str | None, typer.Option("--job-definition", help="Use this existing job definition (name, ARN or env key).")
]
RetriesOpt = Annotated[int | None, typer.Option("--retries", help="Extra attempts on spot reclamation.")]
TimeoutOpt = Annotated[str | None, typer.Option("--timeout", help="Attempt time limit: 45m, 2h, 1d.")]
AfterOpt = Annotated[str | None, typer.Option("--after", help="Start after this run or job succeeded.")]
EnvVarOpt = Annotated[list[str] | None, typer.Option("--env-var", "-E", help="KEY=VALUE for every job.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Check everything, print what would be submitted, change nothing.")
]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Watch the run until it ends; exit 1 if a job failed.")]


def submit(
    command: CommandOpt = None,
    image: ImageOpt = None,
    vcpus: VcpusOpt = None,
    memory: MemoryOpt = None,
    gpus: GpusOpt = None,
    samples: SamplesOpt = None,
    group_by: GroupByOpt = None,
    allow_files_outside: AllowOutsideOpt = None,
    name: NameOpt = None,
    queue: QueueOpt = "default",
    job_definition: JobDefinitionOpt = None,
    retries: RetriesOpt = None,
    timeout: TimeoutOpt = None,
    after: AfterOpt = None,
    env_var: EnvVarOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    max_spot_attempts: MaxSpotOpt = MAX_SPOT_ATTEMPTS,
    spot_patience: SpotPatienceOpt = None,
    interval: IntervalOpt = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit one job, or one array job per up to 10,000 sample-sheet rows (idempotent by run name)."""
    from runner.runs import submit as use_case
    from runner.runs.submission import SubmitOptions

    options = SubmitOptions(
        command=command,
        image=image,
        vcpus=vcpus,
        memory=memory,
        gpus=gpus,
        samples=samples,
        name=name,
        queue=queue,
        job_definition=job_definition,
        retries=retries,
        timeout=timeout,
        after=after,
        env_vars=list(env_var or []),
        group_by=group_by,
        allow_files_outside=list(allow_files_outside or []),
    )
    request = use_case.SubmitRequest(
        options=options,
        dry_run=dry_run,
        wait=wait,
        max_spot_attempts=max_spot_attempts,
        spot_patience=spot_patience,
        interval=interval,
        reasons=None if as_json else view.SHOWN,
    )
    with view.terminal(as_json) as terminal:
        result = use_case.submit(common.session(env), request, terminal)
    view.submitted(result, as_json)
