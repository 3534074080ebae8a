"""`runner logs JOB[:INDEX]`: a job's CloudWatch log stream."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.core import console

DEFAULT_LOG_GROUP = "/aws/batch/job"


def logs(
    job: Annotated[str, typer.Argument(metavar="JOB[:INDEX]", help="Job id, or array job id and child index.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a job's CloudWatch log stream (RUN[:INDEX] works for a one-job run)."""
    from runner.runs import tracking
    from runner.session.runs import job_of

    session = common.session(env)
    job_id = job_of(session.store, job)
    group = session.outputs.log_group or DEFAULT_LOG_GROUP
    target = tracking.log_target(session.batch, job_id, default_group=group)
    lines: list[str] = []

    def emit(line: str) -> None:
        if as_json:
            lines.append(line)
        else:
            console.out.print(line, markup=False, highlight=False)

    tracking.read_logs(session.logs, session.batch, target, emit, follow=follow)
    if as_json:
        console.print_json(
            {"job_id": target.job_id, "log_group": target.group, "log_stream": target.stream, "lines": lines}
        )
