"""`runner logs JOB[:INDEX]`: a job's CloudWatch log stream (runner.runs.logs)."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli import common
from runner.cli.common import EnvOpt, JsonOpt
from runner.cli.render import runs as view


def logs(
    job: Annotated[str, typer.Argument(metavar="JOB[:INDEX]", help="Job id, or array job id and child index.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a job's CloudWatch log stream (RUN[:INDEX] works for a one-job run)."""
    from runner.runs import logs as use_case

    request = use_case.LogsRequest(job=job, follow=follow)
    result = use_case.logs(common.session(env), request, None if as_json else view.log_line)
    view.logs(result, as_json)
